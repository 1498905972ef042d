"""Local search: best-improvement hill climbing with random restarts.

The variant of White et al. 2021 ("Local search is state of the art for neural architecture
search benchmarks"), Algorithm 1, continued with restarts until the budget runs out:

1. Draw a uniformly random start architecture (from the space or ``subspace``), preferring
   one not evaluated before (up to ``start_redraws`` = 100 draws), and evaluate it (a start
   drawn again is asked again, so that every restart costs one ``ask()`` and a fully explored
   small space cannot loop forever); it is the *current* arch.
2. Evaluate **all** neighbours of the current arch (``SearchSpace.neighbors``: one decision
   changed, in the space's fixed order, restricted to ``subspace`` if given). ``ask()``
   returns them one at a time. Neighbours whose score is already known (evaluated earlier in
   this run, e.g. the arch we came from) are not asked again; their known score is used.
3. Move to the best neighbour (highest score; ties go to the first in the space's order) if
   its score is strictly higher than the current arch's, and go to 2.
4. Otherwise the current arch is a local optimum: restart at 1.

The final answer is the best architecture evaluated (``QueryStrategy.best``).
"""
from __future__ import annotations
from typing import Any

from pydantic import Field

from spacenas.config import StrictModel
from spacenas.evaluators.base import Result
from spacenas.spaces.base import Arch, SearchSpace
from spacenas.strategies.base import QueryStrategy
from spacenas.strategies.query.evolution import check_subspace, neighbors_in, sample_arch
from spacenas.subspace import Subspace


class LocalSearchConfig(StrictModel):
    """Options of local search."""

    start_redraws: int = Field(100, ge=1, description="draws allowed to find a not-yet-evaluated start arch")


def best_improvement(current_score: float, neighbour_scores: list[float]) -> int | None:
    """Index of the best neighbour if it strictly beats ``current_score``, else ``None``.

    Ties among neighbours go to the lowest index (the first in the space's order).
    """
    if not neighbour_scores:
        return None
    best = max(range(len(neighbour_scores)), key=lambda i: (neighbour_scores[i], -i))
    return best if neighbour_scores[best] > current_score else None


class LocalSearch(QueryStrategy):
    """Best-improvement hill climbing over ``SearchSpace.neighbors`` with random restarts."""

    Config = LocalSearchConfig

    def __init__(self, space: SearchSpace, seed: int = 0, config=None, subspace: Subspace | None = None) -> None:
        super().__init__(space, seed, config)
        self.subspace = check_subspace(space, subspace)
        self.scores: dict[tuple[int, ...], float] = {}  # every score told in this run
        self.current: Arch | None = None  # the arch being climbed from
        self.neighbours: list[Arch] = []  # all neighbours of ``current``
        self.next_neighbour = 0  # index of the first neighbour not yet asked
        self.pending_start: Arch | None = None  # start arch asked but not yet told
        self.n_moves = 0  # hill-climbing moves made
        self.n_restarts = 0  # restarts at local optima

    # ----- state machine ------------------------------------------------------------------
    def _set_current(self, arch: Arch) -> None:
        self.current = arch
        self.neighbours = neighbors_in(self.space, arch, self.subspace)
        self.next_neighbour = 0

    def _draw_start(self) -> Arch:
        for _ in range(self.config.start_redraws):
            arch = sample_arch(self.space, self.rng, self.subspace)
            if arch.choices not in self.scores:
                break
        return arch

    def ask(self) -> Arch:
        while True:
            if self.current is None:
                if self.pending_start is None:
                    self.pending_start = self._draw_start()
                return self.pending_start
            while self.next_neighbour < len(self.neighbours):
                nb = self.neighbours[self.next_neighbour]
                if nb.choices not in self.scores:
                    return nb  # ``next_neighbour`` advances when it is told
                self.next_neighbour += 1
            self._step()

    def _step(self) -> None:
        """All neighbours of ``current`` are scored: move to the best, or restart."""
        assert self.current is not None
        move = best_improvement(self.scores[self.current.choices],
                                [self.scores[b.choices] for b in self.neighbours])
        if move is None:
            self.current = None
            self.neighbours = []
            self.n_restarts += 1
        else:
            self._set_current(self.neighbours[move])
            self.n_moves += 1

    def tell(self, arch: Arch, result: Result) -> None:
        super().tell(arch, result)
        self.scores[arch.choices] = float(result.score)
        if self.current is None and self.pending_start == arch:
            self._set_current(arch)
            self.pending_start = None

    def extra_state(self) -> dict[str, Any]:
        arch = lambda a: None if a is None else list(a.choices)  # noqa: E731
        return {"scores": [[list(k), v] for k, v in self.scores.items()], "current": arch(self.current),
                "neighbours": [list(a.choices) for a in self.neighbours], "next_neighbour": self.next_neighbour,
                "pending_start": arch(self.pending_start), "n_moves": self.n_moves, "n_restarts": self.n_restarts}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        arch = lambda c: None if c is None else self.arch_of(c)  # noqa: E731
        self.scores = {tuple(int(x) for x in k): float(v) for k, v in state["scores"]}
        self.current, self.pending_start = arch(state["current"]), arch(state["pending_start"])
        self.neighbours = [self.arch_of(c) for c in state["neighbours"]]
        self.next_neighbour, self.n_moves, self.n_restarts = (
            int(state["next_neighbour"]), int(state["n_moves"]), int(state["n_restarts"]))
