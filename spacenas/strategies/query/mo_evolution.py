"""Multi-objective regularized evolution: aging evolution with NSGA-II-style selection.

Same loop as :mod:`spacenas.strategies.query.evolution` (random initial population, tournament,
one-decision mutation, the oldest member dies), but the tournament compares members by
**(front rank, crowding distance)** (Deb et al. 2002, NSGA-II's crowded-comparison operator)
computed over the current population on the objective vectors instead of by one score:

* rank: :func:`~spacenas.evaluators.constraints.non_dominated_sort` of the population's feasible
  members (0 = non-dominated); infeasible members (``metrics['feasible'] == 0``) all get the rank
  after the last feasible front (constraint domination: any feasible arch beats any infeasible one);
* crowding: :func:`~spacenas.evaluators.constraints.crowding_distance` within each front (larger
  wins; boundary members get +inf); ties: the first drawn.

Choices: aging (not NSGA-II's elitist (mu + lambda) truncation) keeps the strategy an ask/tell
variant of regularized evolution; the objectives come from the ``objectives`` option (the CLI fills
it from ``--objectives``); ``accuracy`` is ``Result.score``. Without objectives it ranks by the
score alone. Defaults: population 20, tournament 3
(a front needs more members than a single best; sample size as NB201's REA). ``best()`` is the
best feasible arch by score; the run's answer in a multi-objective run is the Pareto front of
everything evaluated (:func:`spacenas.evaluators.multiobjective.front_report`).
"""
from __future__ import annotations
from typing import Any

from collections import deque
from collections.abc import Sequence

import numpy as np
from pydantic import Field

from spacenas.config import StrictModel
from spacenas.evaluators.base import Result
from spacenas.evaluators.constraints import (Objective, crowding_distance, is_feasible, non_dominated_sort,
                                             objective_matrix, parse_objectives)
from spacenas.spaces.base import Arch, SearchSpace
from spacenas.strategies.base import QueryStrategy
from spacenas.strategies.query.evolution import RegularizedEvolution
from spacenas.subspace import Subspace


class MOEvolutionConfig(StrictModel):
    """Options of multi-objective regularized evolution."""

    objectives: str | None = Field(None, description="e.g. 'accuracy,latency:pixel3' (from --objectives)")
    population_size: int = Field(20, ge=2, description="P: members kept alive; the oldest dies when a child is added")
    sample_size: int = Field(3, ge=1, description="S: members drawn (with replacement) for each tournament")


def rank_and_crowding(points: np.ndarray, feasible: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Front rank and crowding distance of every row of a minimization matrix ``points`` [n, m].

    Feasible rows are sorted into fronts 0, 1, ...; infeasible rows all get rank = number of
    feasible fronts and crowding 0.
    """
    p = np.asarray(points, dtype=np.float64)
    ok = np.asarray(feasible, dtype=bool)
    rank = np.zeros(len(p), dtype=np.int64)
    crowd = np.zeros(len(p))
    idx = np.flatnonzero(ok)
    if len(idx):
        rank[idx] = non_dominated_sort(p[idx])
        for r in np.unique(rank[idx]):
            members = idx[rank[idx] == r]
            crowd[members] = crowding_distance(p[members])
    n_fronts = int(rank[idx].max()) + 1 if len(idx) else 0
    rank[~ok] = n_fronts
    return rank, crowd


def crowded_tournament(rank: Sequence[int], crowd: Sequence[float], draws: Sequence[int]) -> int:
    """Winner of a tournament: lowest rank, then largest crowding distance, then the first drawn."""
    best = int(draws[0])
    for i in draws[1:]:
        i = int(i)
        if rank[i] < rank[best] or (rank[i] == rank[best] and crowd[i] > crowd[best]):
            best = i
    return best


class MOEvolution(RegularizedEvolution):
    """Aging evolution with (rank, crowding) tournaments; see the module docstring."""

    Config = MOEvolutionConfig
    #: reads objective vectors itself: the runner does not scalarize its reward
    multi_objective = True

    def __init__(self, space: SearchSpace, seed: int = 0, config=None, subspace: Subspace | None = None) -> None:
        super().__init__(space, seed, config, subspace)
        cfg = self.config
        # without objectives: the score alone (fronts = score levels; then it is plain aging evolution
        # with a crowding tie-break)
        self.objectives = parse_objectives(cfg.objectives) if cfg.objectives else (Objective("score", True),)
        #: (arch, objective vector in minimization form, feasible), oldest first
        self.population: deque[tuple[Arch, tuple[float, ...], bool]] = deque()

    # ask() is the parent's: random until the population is full, then mutate a tournament winner
    def select_parent(self) -> int:
        pts = np.array([v for _, v, _ in self.population])
        rank, crowd = rank_and_crowding(pts, [f for _, _, f in self.population])
        draws = self.rng.integers(len(self.population), size=self.config.sample_size)
        return crowded_tournament(rank, crowd, [int(d) for d in draws])

    def tell(self, arch: Arch, result: Result) -> None:
        QueryStrategy.tell(self, arch, result)  # history only; the population entries are our own
        vec = tuple(float(x) for x in objective_matrix([result], self.objectives)[0])
        self.population.append((arch, vec, is_feasible(result)))
        while len(self.population) > self.config.population_size:
            self.population.popleft()

    def extra_state(self) -> dict[str, Any]:
        return {"population": [[list(a.choices), list(v), bool(f)] for a, v, f in self.population]}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.population = deque((self.arch_of(c), tuple(float(x) for x in v), bool(f))
                                for c, v, f in state["population"])

    def best(self) -> tuple[Arch, Result]:
        """The best feasible arch by score (the best infeasible one if none is feasible)."""
        if not self.history:
            raise RuntimeError("no architecture evaluated yet")
        return max(self.history, key=lambda ar: (is_feasible(ar[1]), ar[1].score))
