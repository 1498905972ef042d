"""Regularized (aging) evolution, Real et al. 2019 (AAAI), as benchmarked in NAS-Bench-201.

Algorithm (Real et al., Algorithm 1), in ask/tell form:

1. *Initial population*: while fewer than ``population_size`` architectures have been told,
   ``ask()`` returns uniformly random architectures (from the space, or from ``subspace``).
2. *Cycles*: ``ask()`` draws ``sample_size`` members of the population uniformly **with
   replacement** (the paper's Algorithm 1: "candidate <- random element from population; the
   element stays in the population"), takes the one with the highest score as the parent
   (ties: the first drawn), and returns ``mutate(parent)``: one decision changed to a
   different choice, uniformly over decisions x other choices (``SearchSpace.mutate``; for
   NB201 that is one edge's operation).
3. ``tell(arch, result)`` appends the arch to the population (as the youngest member); when
   the population exceeds ``population_size`` the **oldest** member is removed (aging), no
   matter how good it is.

Defaults (population 10, tournament sample 3) are the NAS-Bench-201 / NATS-Bench settings of
the benchmark authors' REA runs (``--ea_population 10 --ea_sample_size 3``). The final answer
is the best architecture ever evaluated (``QueryStrategy.best``), as in Real et al.
"""
from __future__ import annotations
from typing import Any

from collections import deque
from collections.abc import Sequence

import numpy as np
from pydantic import Field

from spacenas.config import StrictModel
from spacenas.errors import SpacenasError
from spacenas.evaluators.base import Result
from spacenas.spaces.base import Arch, SearchSpace
from spacenas.strategies.base import QueryStrategy
from spacenas.subspace import Subspace


class EvolutionConfig(StrictModel):
    """Options of regularized evolution (defaults: NAS-Bench-201's REA)."""

    population_size: int = Field(10, ge=2, description="P: members kept alive; the oldest dies when a child is added")
    sample_size: int = Field(3, ge=1, description="S: members drawn (with replacement) for each tournament")


def tournament_select(scores: Sequence[float], draws: Sequence[int]) -> int:
    """Index of the winner of a tournament: the drawn member with the highest score.

    ``draws`` are population indices (repeats allowed); ties go to the first drawn.
    """
    best = draws[0]
    for i in draws[1:]:
        if scores[i] > scores[best]:
            best = i
    return int(best)


def sample_arch(space: SearchSpace, rng: np.random.Generator, subspace: Subspace | None) -> Arch:
    """A uniformly random arch of ``subspace`` if given, else of ``space``."""
    return subspace.sample(rng) if subspace is not None else space.sample(rng)


def neighbors_in(space: SearchSpace, arch: Arch, subspace: Subspace | None) -> list[Arch]:
    """``space.neighbors(arch)`` (in the space's order), restricted to ``subspace`` if given."""
    nbrs = space.neighbors(arch)
    return nbrs if subspace is None else [b for b in nbrs if subspace.contains(b)]


def check_subspace(space: SearchSpace, subspace: Subspace | None) -> Subspace | None:
    if subspace is not None and subspace.space.name != space.name:
        raise SpacenasError(f"subspace belongs to space {subspace.space.name!r}, strategy searches {space.name!r}")
    return subspace


class RegularizedEvolution(QueryStrategy):
    """Aging evolution: tournament selection, one-decision mutation, oldest member removed."""

    Config = EvolutionConfig

    def __init__(self, space: SearchSpace, seed: int = 0, config=None, subspace: Subspace | None = None) -> None:
        super().__init__(space, seed, config)
        cfg = self.config
        if cfg.sample_size > cfg.population_size:
            raise SpacenasError(
                f"{type(self).__name__}: sample_size {cfg.sample_size} is larger than population_size "
                f"{cfg.population_size} (allowed: 1..population_size)")
        self.subspace = check_subspace(space, subspace)
        #: (arch, score), oldest first
        self.population: deque[tuple[Arch, float]] = deque()

    def ask(self) -> Arch:
        if len(self.population) < self.config.population_size:
            return sample_arch(self.space, self.rng, self.subspace)
        parent = self.population[self.select_parent()][0]
        nbrs = neighbors_in(self.space, parent, self.subspace)
        if not nbrs:
            raise SpacenasError(f"architecture {self.space.format(parent)} has no neighbour to mutate to")
        return nbrs[int(self.rng.integers(len(nbrs)))]

    def select_parent(self) -> int:
        """Run one tournament on the current population; return the winner's index."""
        draws = self.rng.integers(len(self.population), size=self.config.sample_size)
        return tournament_select([s for _, s in self.population], [int(d) for d in draws])

    def tell(self, arch: Arch, result: Result) -> None:
        super().tell(arch, result)
        self.population.append((arch, float(result.score)))
        while len(self.population) > self.config.population_size:
            self.population.popleft()  # aging: the oldest dies

    def extra_state(self) -> dict[str, Any]:
        return {"population": [[list(a.choices), float(s)] for a, s in self.population]}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.population = deque((self.arch_of(c), float(s)) for c, s in state["population"])
