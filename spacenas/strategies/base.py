"""Strategy contracts.

Two shapes (see DESIGN.md):

* :class:`QueryStrategy` (ask/tell) for query-based methods: random search, regularized
  evolution, REINFORCE, local search, DSM-NAS. The runner calls ``ask()``, evaluates the arch,
  and calls ``tell(arch, result)``. ``best()`` is the strategy's final answer.
* One-shot strategies own architecture parameters and are defined in
  :mod:`spacenas.strategies.oneshot.base`.

Every stochastic step uses the strategy's own generators (``self.rng`` for numpy, and a
``torch.Generator`` where torch sampling is needed), created from the seed. ``state_dict()``
must capture everything, generator states included, so that a resumed run continues exactly
as the uninterrupted one would have.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch

from spacenas.config import StrictModel, build_config
from spacenas.evaluators.base import Result
from spacenas.spaces.base import Arch, SearchSpace


class QueryStrategy(ABC):
    """Ask/tell search strategy over a discrete space."""

    #: the strategy's typed options; subclasses replace it
    Config: ClassVar[type[StrictModel]] = StrictModel

    def __init__(self, space: SearchSpace, seed: int = 0, config: dict[str, Any] | StrictModel | None = None) -> None:
        self.space = space
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.config = config if isinstance(config, StrictModel) else build_config(
            self.Config, config, where=type(self).__name__)
        self.history: list[tuple[Arch, Result]] = []

    @abstractmethod
    def ask(self) -> Arch:
        """Propose the next architecture to evaluate."""

    def tell(self, arch: Arch, result: Result) -> None:
        """Receive the evaluation of an arch returned by :meth:`ask`. Subclasses call super()."""
        self.history.append((arch, result))

    def best(self) -> tuple[Arch, Result]:
        """The strategy's answer: by default the arch with the highest score seen."""
        if not self.history:
            raise RuntimeError("no architecture evaluated yet")
        return max(self.history, key=lambda ar: ar[1].score)

    # ----- checkpointing -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume, as plain values and tensors (a checkpoint cannot hold
        anything else): the numpy generator's ``bit_generator.state``, the history (choices +
        result) and the subclass's named fields (:meth:`extra_state`)."""
        return {"rng": self.rng.bit_generator.state,
                "history": [[list(a.choices), result_state(r)] for a, r in self.history],
                "extra": self.extra_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.history = [(self.arch_of(c), result_from_state(r)) for c, r in state["history"]]
        self.load_extra_state(state["extra"])

    def extra_state(self) -> dict[str, Any]:
        """Subclass state beyond the generator and the history (plain values and tensors)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def arch_of(self, choices) -> Arch:
        """An :class:`Arch` of this strategy's space from a saved choice list."""
        return Arch(self.space.name, tuple(int(c) for c in choices))


def result_state(r: Result) -> dict[str, Any]:
    return {"score": r.score, "metrics": dict(r.metrics), "cost": r.cost}


def result_from_state(d: dict[str, Any]) -> Result:
    return Result(d["score"], dict(d["metrics"]), d["cost"])


def generator_state(g: torch.Generator) -> torch.Tensor:
    return g.get_state()


def set_generator_state(g: torch.Generator, state: torch.Tensor) -> None:
    g.set_state(state)
