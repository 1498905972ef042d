"""Random search inside DSM-NAS subspaces: the baselines of the paper's Fig. 7 (Sec. V-B).

K centers (``init_archs``, the rest random distinct archs) are evaluated first; then each ask
picks one of the K subspaces uniformly at random and draws an unseen arch uniformly from its
ball ``Omega_alpha = {beta : D(alpha, beta) <= M}`` (Eq. 3, :meth:`Subspace.ball`). No controller.

* ``update_subspaces: true`` -- "Random Search with Subspace Update" (Fig. 7, cyan): a child
  replaces its center when it scores higher, as in DSM-NAS (Algorithm 1, lines 12-15).
* ``update_subspaces: false`` with ``init_archs`` = the final centers of a DSM-NAS run --
  "Random Search in Mined Search Space" (Fig. 7, orange): the subspaces stay fixed.

``best()`` is the best arch evaluated (highest search score), as for plain random search.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from spacenas.config import StrictModel
from spacenas.errors import SpacenasError
from spacenas.evaluators.base import Result
from spacenas.spaces.base import Arch, SearchSpace
from spacenas.strategies.base import QueryStrategy
from spacenas.subspace import Subspace


def draw_unseen(sample: Callable[[], Arch], taken: set[tuple[int, ...]], tries: int = 100) -> Arch:
    """``sample()`` until an arch whose choices are not in ``taken``; after ``tries`` draws the last
    one (a small space may have no unseen arch left). The initial centers of DSM-NAS and of this
    random search."""
    for _ in range(tries):
        a = sample()
        if a.choices not in taken:
            break
    return a


class DSMRandomConfig(StrictModel):
    """Options of random search in DSM-NAS subspaces (defaults: the paper's NB201 K and M)."""

    n_subspaces: int = Field(4, ge=1, le=10_000, description=(
        "K, number of subspaces; no controller and no K x K graph here (unlike DSMNAS), so K costs only "
        "K initial queries and K centers in memory: the bound keeps a typo from drawing centers for ever"))
    radius: int = Field(4, ge=1, description="M, ball radius")
    init_archs: list[str] = Field(default_factory=list, description="initial centers (text form), e.g. mined ones")
    update_subspaces: bool = Field(True, description="replace a center by a better child")
    max_redraws: int = Field(100, ge=0, description="draws of an already-seen arch before one is accepted anyway")


class DSMRandomSearch(QueryStrategy):
    """Uniform random search in K Hamming balls, optionally moving each ball to better archs."""

    Config = DSMRandomConfig

    def __init__(self, space: SearchSpace, seed: int = 0, config: dict[str, Any] | StrictModel | None = None) -> None:
        super().__init__(space, seed, config)
        cfg: DSMRandomConfig = self.config
        if len(cfg.init_archs) > cfg.n_subspaces:
            raise SpacenasError(f"DSMRandomSearch: {len(cfg.init_archs)} init_archs given, at most "
                                f"n_subspaces={cfg.n_subspaces} allowed")
        self.centers: list[Arch] = [self.space.check(self.space.parse(t)) for t in cfg.init_archs]
        taken = {c.choices for c in self.centers}  # kept up to date: drawing K centers is O(K), not O(K^2)
        while len(self.centers) < cfg.n_subspaces:
            a = draw_unseen(lambda: self.space.sample(self.rng), taken)
            self.centers.append(a)
            taken.add(a.choices)
        self.center_scores: list[float | None] = [None] * cfg.n_subspaces
        self.seen: set[tuple[int, ...]] = set()
        self.pending: tuple[int, Arch] | None = None
        self.n_replacements = 0

    def ask(self) -> Arch:
        for i, s in enumerate(self.center_scores):
            if s is None:  # initial centers first
                return self.centers[i]
        cfg: DSMRandomConfig = self.config
        k = int(self.rng.integers(cfg.n_subspaces))
        ball = Subspace.ball(self.space, self.centers[k], cfg.radius)
        for _ in range(cfg.max_redraws + 1):
            beta = ball.sample(self.rng)
            if beta.choices not in self.seen:
                break
        self.pending = (k, beta)
        return beta

    def tell(self, arch: Arch, result: Result) -> None:
        super().tell(arch, result)
        self.seen.add(arch.choices)
        score = float(result.score)
        for i, s in enumerate(self.center_scores):
            if s is None and self.centers[i] == arch:
                self.center_scores[i] = score
                return
        if self.pending is not None and self.pending[1] == arch:
            k, _ = self.pending
            self.pending = None
            if self.config.update_subspaces and score > self.center_scores[k]:
                self.centers[k] = arch
                self.center_scores[k] = score
                self.n_replacements += 1

    def extra_state(self) -> dict[str, Any]:
        pend = None if self.pending is None else [int(self.pending[0]), list(self.pending[1].choices)]
        return {"centers": [list(a.choices) for a in self.centers], "center_scores": list(self.center_scores),
                "seen": [list(c) for c in sorted(self.seen)], "pending": pend,
                "n_replacements": self.n_replacements}

    def load_extra_state(self, st: dict[str, Any]) -> None:
        self.centers = [self.arch_of(c) for c in st["centers"]]
        self.center_scores = [None if s is None else float(s) for s in st["center_scores"]]
        self.seen = {tuple(int(x) for x in c) for c in st["seen"]}
        p = st["pending"]
        self.pending = None if p is None else (int(p[0]), self.arch_of(p[1]))
        self.n_replacements = int(st["n_replacements"])
