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

import copy
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
        """Everything needed to resume: a deep copy of the instance state (minus the space).

        The copy is made in one ``deepcopy`` call so that objects that refer to each other
        (a policy module and its optimizer) stay linked. ``torch.Generator`` objects are stored
        by their state.
        """
        gens = {k: v.get_state() for k, v in vars(self).items() if isinstance(v, torch.Generator)}
        rest = {k: v for k, v in vars(self).items() if k != "space" and k not in gens}
        return {"attrs": copy.deepcopy(rest), "torch_generators": gens}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        attrs = copy.deepcopy(state["attrs"])
        for k, v in attrs.items():
            setattr(self, k, v)
        for k, st in state["torch_generators"].items():
            g = torch.Generator()
            g.set_state(st)
            setattr(self, k, g)
