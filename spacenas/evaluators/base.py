"""Evaluators turn an :class:`Arch` into a :class:`Result`."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from spacenas.spaces.base import Arch, SearchSpace


@dataclass(frozen=True)
class Result:
    """What an evaluation returns.

    ``score`` is the search objective (higher is better; e.g. validation accuracy), ``metrics``
    holds everything else worth logging (test accuracy, params, latency, ...), and ``cost`` is
    what this evaluation charged to the budget (queries, or simulated/real seconds).
    """

    score: float
    metrics: dict[str, float] = field(default_factory=dict)
    cost: float = 0.0


class Evaluator(ABC):
    """Evaluates architectures of one space and accounts for what it spent."""

    space: SearchSpace

    @abstractmethod
    def evaluate(self, arch: Arch) -> Result:
        """Evaluate ``arch`` and charge its cost."""

    @property
    @abstractmethod
    def spent(self) -> float:
        """Budget spent so far (in this evaluator's cost unit)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
