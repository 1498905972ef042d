"""DSM-NAS: architecture search by dominative subspace mining (Chen et al., Algorithm 1).

K candidate subspaces are balls of radius M (Eq. 3, distance Eq. 4) around center archs. Each
step the controller (:class:`~spacenas.strategies.query.dsm_controller.DSMController`) picks a
subspace from the subspace graph (global policy) and proposes M single-decision edits of its
center (local policy); the child beta is evaluated, the improvement reward
``R = score(beta) - score(alpha)`` trains the controller by REINFORCE (batch size 1, one Adam
step per child), and beta replaces alpha as the center when ``R > 0``. ``best()`` is the best
center by search score.

The first K asks are the initial centers: random distinct archs, or, for DSM-NAS+, the archs
given in ``init_archs`` (the rest of the K filled randomly).

Choices where the paper is silent (see ``docs/dsm-nas.md``):

* ``skip_seen`` (default on): a child that was already evaluated (or equals its center) is
  scored from memory, trains the controller and updates the centers exactly as if it had been
  re-queried (the tabular evaluator charges nothing for repeats), and a new child is drawn;
  so every ``ask`` returns an unseen arch and the query budget buys new information. After
  ``max_redraws`` draws the child is drawn uniformly from the chosen ball instead (no
  controller update for that one).
* Baseline: exponential moving average of R (decay 0.9, as in the authors' code), the advantage
  is ``R - b`` with ``b`` from *before* this reward; the first reward initialises ``b``.
* Node features carry ``score * score_scale`` (0.01: accuracies in percent become fractions).

Ablation switches (paper Sec. V-B, V-C): ``reward: absolute`` trains the policy on ``score(beta)``
instead of the improvement (Fig. 8a; the replacement rule ``score(beta) > score(alpha)`` is
unchanged); ``update_subspaces: false`` never replaces a center (Fig. 7), and ``best()`` is then
the best arch evaluated (the centers stay the K initial archs).
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from spacenas.config import StrictModel
from spacenas.errors import SpacenasError
from spacenas.evaluators.base import Result
from spacenas.evaluators.constraints import is_feasible
from spacenas.numerics import check_finite
from spacenas.spaces.base import Arch, SearchSpace
from spacenas.strategies.base import QueryStrategy
from spacenas.strategies.query.dsm_controller import (
    REWARDS, DSMController, apply_edits, build_subspace_graph, ema_update, improvement_reward, reinforce_loss)
from spacenas.strategies.query.dsm_random import draw_unseen
from spacenas.subspace import Subspace


#: bound on K (``n_subspaces``): see the field's description; measured by benchmarks/dsm_subspace_count.py
MAX_SUBSPACES = 256


class DSMConfig(StrictModel):
    """DSM-NAS options; defaults are the paper's NB201 settings (Sec. IV-A)."""

    n_subspaces: int = Field(4, ge=1, le=MAX_SUBSPACES, description=(
        f"K, number of candidate subspaces (a handful in the paper), at most {MAX_SUBSPACES}: the subspace graph "
        "is dense K x K and every controller step runs the GNN over all K^2 edges, so memory and time grow with "
        "K^2 (NB201, hidden 64, one CPU core: K=256 ~0.9 GB peak and ~1 s per step, K=512 ~1.9 GB and ~6 s; "
        "K=10,000 would need hundreds of GB); a larger K is refused at once instead of hanging"))
    radius: int = Field(4, ge=1, description="M, local search distance = number of edits")
    init_archs: list[str] = Field(default_factory=list, description="DSM-NAS+: initial centers (text form)")
    hidden: int = Field(64, ge=1, description="LSTM / GNN width")
    gnn_layers: int = Field(2, ge=0)
    lr: float = Field(1e-2, gt=0, description="Adam learning rate")
    weight_decay: float = Field(0.0, ge=0, description="Adam weight decay (authors' code: 2.4e-5)")
    entropy_weight: float = Field(7.5e-4, ge=0)
    baseline: Literal["ema", "none"] = "ema"
    baseline_decay: float = Field(0.9, ge=0, lt=1)
    reward_scale: float = Field(1.0, gt=0, description="R is multiplied by this before the update")
    score_scale: float = Field(0.01, gt=0, description="scale of the score in the node features")
    global_clip: float | None = Field(1.5, gt=0, description="tanh clip of the subspace logits (None: off)")
    local_clip: float | None = Field(0.6, gt=0, description="tanh clip of the edit logits (None: off)")
    reward: Literal["improvement", "absolute"] = Field(
        "improvement", description="policy reward: score(beta) - score(alpha) (Eq. 2) or score(beta) (Fig. 8a)")
    update_subspaces: bool = Field(True, description="replace a center by a better child (False: Fig. 7 ablation)")
    skip_seen: bool = True
    max_redraws: int = Field(10, ge=0, description="repeats in a row before a uniform draw from the ball")
    device: str = "cpu"

    @field_validator("device")
    @classmethod
    def _usable_device(cls, v: str) -> str:
        from spacenas.devices import resolve_device
        try:
            resolve_device(v)
        except SpacenasError as e:
            raise ValueError(str(e)) from None
        return v


class DSMNAS(QueryStrategy):
    """Dominative subspace mining with a GNN + LSTM controller (ask/tell)."""

    Config = DSMConfig

    def __init__(self, space: SearchSpace, seed: int = 0, config: dict[str, Any] | StrictModel | None = None,
                 subspace: Subspace | None = None) -> None:
        super().__init__(space, seed, config)
        cfg: DSMConfig = self.config
        if subspace is not None and subspace.space.name != space.name:
            raise SpacenasError(f"subspace belongs to space {subspace.space.name!r}, strategy searches {space.name!r}")
        self.subspace = subspace
        if len(cfg.init_archs) > cfg.n_subspaces:
            raise SpacenasError(
                f"DSMNAS: {len(cfg.init_archs)} init_archs given, at most n_subspaces={cfg.n_subspaces} allowed")
        centers = [self.space.check(self.space.parse(t)) for t in cfg.init_archs]
        for t, a in zip(cfg.init_archs, centers):
            if subspace is not None and not subspace.contains(a):
                raise SpacenasError(f"DSMNAS: init arch {t!r} lies outside the subspace being searched")
        self.scores: dict[tuple[int, ...], float] = {}
        self.centers: list[Arch] = centers
        while len(self.centers) < cfg.n_subspaces:
            self.centers.append(self._draw_center())
        self.center_scores: list[float | None] = [None] * cfg.n_subspaces
        self.tgen = torch.Generator().manual_seed(self.seed)
        try:
            self.device = torch.device(cfg.device)
        except RuntimeError:
            raise SpacenasError(f"DSMNAS: bad device {cfg.device!r} (allowed: cpu, cuda, cuda:N, ...)") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise SpacenasError(f"DSMNAS: device {cfg.device!r} requested but CUDA is not available here (use cpu)")
        in_dim = self.space.n_decisions * self.space.max_choices + 1
        self.controller = DSMController(in_dim, self.space.n_choices, cfg.hidden, cfg.gnn_layers,
                                        cfg.global_clip, cfg.local_clip, generator=self.tgen,
                                        allowed=None if subspace is None else subspace.mask).to(self.device)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                          foreach=True)
        self.baseline_value: float | None = None
        self.pending: tuple[int, list[int] | None, Arch] | None = None
        self._graph: tuple[torch.Tensor, ...] | None = None
        self._terms: tuple[torch.Tensor, torch.Tensor] | None = None
        self.n_updates = 0
        self.n_replacements = 0
        self.n_init_redraws = 0

    # ----- ask / tell ---------------------------------------------------------------------------
    def ask(self) -> Arch:
        for i, s in enumerate(self.center_scores):
            if s is None:  # initial centers first
                return self.centers[i]
        cfg: DSMConfig = self.config
        for _ in range(cfg.max_redraws + 1):
            actions, logp, ent = self._policy(generator=self.tgen)
            k, edits = actions[0], list(zip(actions[1::2], actions[2::2]))
            beta = Arch(self.space.name, apply_edits(self.centers[k].choices, edits))
            if not self._allowed(beta):
                continue
            if cfg.skip_seen and beta.choices in self.scores:
                self._learn(k, actions, beta, self.scores[beta.choices], (logp, ent))
                continue
            self.pending = (k, actions, beta)
            self._terms = (logp, ent)  # kept for tell(); dropped by state_dict() and recomputed
            return beta
        # fall back: an unseen arch drawn uniformly from the chosen ball, no controller update
        mask = np.ones((self.space.n_decisions, self.space.max_choices), bool) if self.subspace is None \
            else self.subspace.mask
        ball = Subspace(self.space, mask, self.centers[k], cfg.radius)
        for _ in range(100):
            beta = ball.sample(self.rng)
            if beta.choices not in self.scores and self._allowed(beta):
                break
        self.pending = (k, None, beta)
        return beta

    def tell(self, arch: Arch, result: Result) -> None:
        super().tell(arch, result)
        score = float(result.score)
        self.scores[arch.choices] = score
        for i, s in enumerate(self.center_scores):
            if s is None and self.centers[i] == arch:
                # Only archs within the constraints may be subspace centers (DSM-NAS Sec. IV-C):
                # an infeasible initial center (random or DSM-NAS+) is replaced by a fresh draw.
                if not is_feasible(result) and self.n_init_redraws < 100 * self.config.n_subspaces:
                    self.n_init_redraws += 1
                    self.centers[i] = self._draw_center()
                    return
                self.center_scores[i] = score
                self._graph = None
                return
        if self.pending is not None and self.pending[2] == arch:
            k, actions, beta = self.pending
            terms, self.pending, self._terms = self._terms, None, None
            self._learn(k, actions, beta, score, terms)

    def best(self) -> tuple[Arch, Result]:
        """The best center by search score, with the result it was told; when no center was ever
        accepted (every draw violated the constraints) the best arch seen, as other methods.

        With ``update_subspaces: false`` the centers never move: the best arch evaluated instead."""
        if not self.config.update_subspaces:
            return super().best()
        done = [(s, i) for i, s in enumerate(self.center_scores) if s is not None]
        if not done:
            return super().best()
        _, i = max(done)
        arch = self.centers[i]
        for a, r in reversed(self.history):
            if a == arch:
                return a, r
        raise RuntimeError("best center has no recorded result")  # pragma: no cover

    # ----- internals ----------------------------------------------------------------------------
    def _draw_center(self) -> Arch:
        """A random initial center, unseen and distinct from the other centers where possible."""
        taken = set(self.scores) | {c.choices for c in self.centers}
        source = self.space if self.subspace is None else self.subspace
        return draw_unseen(lambda: source.sample(self.rng), taken)

    def _allowed(self, arch: Arch) -> bool:
        return self.space.is_valid(arch) if self.subspace is None else self.subspace.contains(arch)

    def _graph_tensors(self) -> tuple[torch.Tensor, ...]:
        if self._graph is None:
            onehots = np.stack([self.space.one_hot(a).reshape(-1) for a in self.centers])
            x, adj, edge = build_subspace_graph(onehots, self.center_scores, self.config.score_scale)
            self._graph = tuple(torch.from_numpy(t).to(self.device) for t in (x, adj, edge))
        return self._graph

    def _policy(self, generator: torch.Generator | None = None, actions: list[int] | None = None):
        x, adj, edge = self._graph_tensors()
        return self.controller(x, adj, edge, [a.choices for a in self.centers], self.config.radius,
                               generator=generator, actions=actions)

    def _learn(self, k: int, actions: list[int] | None, beta: Arch, score: float,
               terms: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        """One REINFORCE step on child ``beta`` of center ``k``, then replace the center if R > 0.

        ``terms`` = (log-prob, entropy) of ``actions`` from the forward pass that sampled them
        (same parameters); when missing (after a resume) they are recomputed, with identical values.
        """
        cfg: DSMConfig = self.config
        reward = improvement_reward(score, self.center_scores[k])
        if actions is not None:
            r = REWARDS[cfg.reward](score, self.center_scores[k]) * cfg.reward_scale
            if cfg.baseline == "ema":
                adv = r - (self.baseline_value if self.baseline_value is not None else r)
                self.baseline_value = ema_update(self.baseline_value, r, cfg.baseline_decay)
            else:
                adv = r
            logp, ent = terms if terms is not None else self._policy(actions=actions)[1:]
            loss = reinforce_loss(logp, ent, adv, cfg.entropy_weight)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.n_updates += 1
            check_finite(self.controller, "controller weights", f"controller update {self.n_updates}", "lower --set lr")
        if reward > 0 and cfg.update_subspaces:  # a new Arch value replaces the center; the parent is never mutated
            self.centers[k] = beta
            self.center_scores[k] = float(score)
            self._graph = None
            self.n_replacements += 1

    def state_dict(self) -> dict[str, Any]:
        self._graph = None  # derived data, rebuilt on demand
        self._terms = None  # autograd graph of the pending child: recomputed in tell()
        return super().state_dict()

    def extra_state(self) -> dict[str, Any]:
        pend = None
        if self.pending is not None:
            k, actions, beta = self.pending
            pend = [int(k), None if actions is None else [int(a) for a in actions], list(beta.choices)]
        return {"scores": [[list(k), v] for k, v in self.scores.items()],
                "centers": [list(a.choices) for a in self.centers], "center_scores": list(self.center_scores),
                "tgen": self.tgen.get_state(), "controller": self.controller.state_dict(),
                "optimizer": self.optimizer.state_dict(), "baseline_value": self.baseline_value,
                "pending": pend, "n_updates": self.n_updates, "n_replacements": self.n_replacements,
                "n_init_redraws": self.n_init_redraws}

    def load_extra_state(self, st: dict[str, Any]) -> None:
        self.scores = {tuple(int(x) for x in k): float(v) for k, v in st["scores"]}
        self.centers = [self.arch_of(c) for c in st["centers"]]
        self.center_scores = [None if s is None else float(s) for s in st["center_scores"]]
        self.tgen.set_state(st["tgen"])
        self.controller.load_state_dict(st["controller"])
        self.optimizer.load_state_dict(st["optimizer"])
        self.baseline_value = st["baseline_value"]
        p = st["pending"]
        self.pending = None if p is None else (int(p[0]), p[1], self.arch_of(p[2]))
        self.n_updates, self.n_replacements, self.n_init_redraws = (
            int(st["n_updates"]), int(st["n_replacements"]), int(st["n_init_redraws"]))
        self._graph = self._terms = None
