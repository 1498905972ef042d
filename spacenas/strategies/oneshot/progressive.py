"""Progressive architecture learning (DrNAS Section 2.4).

The search is split into stages. Stage ``s`` uses partial channels ``1/partial_k[s]`` and keeps
``keep_ops[s]`` ops per edge. At each stage switch (after the last epoch of a stage):

1. prune every edge to its top ``keep_ops[s+1]`` active ops by the strategy's scores (DrNAS:
   the Dirichlet mean, whose order is the order of beta) -- :func:`top_n_mask`;
2. ``supernet.widen(partial_k[s] // partial_k[s+1], generator)``: the supernet's widening
   (Eq. 7-8) raises the channel fraction from ``1/partial_k[s]`` to ``1/partial_k[s+1]`` and
   widens every op by that factor, keeping the trained weights (so ``partial_k[s]`` must be a
   multiple of ``partial_k[s+1]``; equal values mean no widening);
3. the loop rebuilds the weight optimizer (new parameter tensors; momentum restarts) and keeps
   the learning-rate schedule (the cosine LR is a function of the epoch).

Stage 0 sets ``supernet.set_partial_channels(partial_k[0], generator)`` before the first epoch.
Defaults are the authors' NB201 setting (notes): 2 stages, k 4 -> 2, ops 5 -> 3 (widening x2).
The paper's DARTS-space setting is k 6 -> 3, ops 8 -> 4 (:func:`default_progressive`).
Stage lengths default to an equal split of the epochs (first stages get the remainder last).
"""
from __future__ import annotations

from typing import Any

import torch
from pydantic import model_validator

from spacenas.config import StrictModel
from spacenas.errors import SpacenasError


class ProgressiveConfig(StrictModel):
    partial_k: list[int] = [4, 2]
    keep_ops: list[int] = [5, 3]
    #: epochs of each stage; None: equal split of the search epochs
    stage_epochs: list[int] | None = None

    @model_validator(mode="after")
    def _check(self) -> ProgressiveConfig:
        n = len(self.partial_k)
        if n < 1 or len(self.keep_ops) != n or (self.stage_epochs is not None and len(self.stage_epochs) != n):
            raise ValueError("partial_k, keep_ops (and stage_epochs) need one entry per stage")
        if any(k < 1 for k in self.partial_k) or any(o < 1 for o in self.keep_ops):
            raise ValueError("partial_k and keep_ops must be >= 1")
        if self.stage_epochs is not None and any(e < 1 for e in self.stage_epochs):
            raise ValueError(f"stage_epochs must be >= 1 each, got {self.stage_epochs}")
        if any(a % b for a, b in zip(self.partial_k, self.partial_k[1:])):
            raise ValueError("each partial_k must be a multiple of the next (widening factor k_s / k_s+1)")
        if any(b > a for a, b in zip(self.keep_ops, self.keep_ops[1:])):
            raise ValueError("keep_ops must not increase from stage to stage")
        return self


def default_progressive(space: str) -> ProgressiveConfig:
    """The papers' progressive settings per space (nb201: code; darts: paper Section 4.1)."""
    if space == "darts":
        return ProgressiveConfig(partial_k=[6, 3], keep_ops=[8, 4])
    return ProgressiveConfig()


def stage_starts(epochs: int, n_stages: int, stage_epochs: list[int] | None = None) -> list[int]:
    """First epoch of every stage. Hand: 10 epochs, 3 stages -> lengths 3, 3, 4 -> [0, 3, 6]."""
    if stage_epochs is None:
        lengths = [epochs // n_stages] * n_stages
        lengths[-1] += epochs - sum(lengths)
    else:
        lengths = list(stage_epochs)
        if sum(lengths) != epochs:
            raise SpacenasError(f"progressive stage_epochs {lengths} sum to {sum(lengths)}, the search has {epochs} epochs")
    starts, t = [], 0
    for n in lengths:
        starts.append(t)
        t += n
    return starts


def top_n_mask(scores: torch.Tensor, mask: torch.Tensor | None, n: int) -> torch.Tensor:
    """Keep the ``n`` highest-scoring active ops of each row (ties: lower index first).

    Hand: scores (0.1, 0.4, 0.2, 0.3), mask (T, T, T, F), n=2 -> (F, T, T, F).
    """
    s = scores.clone().float()
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    n = min(n, s.shape[-1])
    # stable order: sort by (-score, index)
    order = torch.argsort(-s, dim=-1, stable=True)[..., :n]
    out = torch.zeros_like(s, dtype=torch.bool).scatter(-1, order, True)
    if mask is not None:
        out &= mask
    return out


class Progressive:
    """Stage bookkeeping of progressive learning; owned by a one-shot strategy."""

    def __init__(self, config: ProgressiveConfig) -> None:
        self.config = config
        self.stage = -1
        self.starts: list[int] = []

    @property
    def n_stages(self) -> int:
        return len(self.config.partial_k)

    def setup(self, strategy, supernet, epochs: int) -> None:
        self.starts = stage_starts(epochs, self.n_stages, self.config.stage_epochs)
        if self.stage < 0:  # fresh search: enter stage 0 (no widening)
            try:
                supernet.set_partial_channels(self.config.partial_k[0], strategy.generator)
            except SpacenasError as e:
                raise SpacenasError(f"progressive learning, stage 0: {e}; choose partial_k to divide the edge widths "
                                    "(the paper's DARTS setting searches at C=36, layers=20: --set C=36 --set layers=20)"
                                    ) from None
            self._prune(strategy, self.config.keep_ops[0])
            self.stage = 0

    def _prune(self, strategy, n: int) -> None:
        scores = strategy.scores()
        masks = {k: top_n_mask(scores[k], strategy._mask(k), n) for k in scores}
        strategy.set_op_masks(masks)

    def on_epoch_end(self, strategy, epoch: int, supernet) -> bool:
        nxt = self.stage + 1
        if nxt >= self.n_stages or epoch + 1 != self.starts[nxt]:
            return False
        self._prune(strategy, self.config.keep_ops[nxt])
        supernet.widen(self.factor(nxt), strategy.generator)
        self.stage = nxt
        return True

    def factor(self, stage: int) -> int:
        """Widening factor when entering ``stage`` (>= 1)."""
        return self.config.partial_k[stage - 1] // self.config.partial_k[stage]

    def replay(self, supernet, device: torch.device) -> None:
        """Bring a fresh supernet to the structure of the current stage (weights load after)."""
        if self.stage < 0:
            return
        g = torch.Generator(device=device).manual_seed(0)  # these values are overwritten by the checkpoint
        supernet.set_partial_channels(self.config.partial_k[0], g)
        for s in range(1, self.stage + 1):
            supernet.widen(self.factor(s), g)

    def state_dict(self) -> dict[str, Any]:
        return {"stage": self.stage}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stage = int(state["stage"])
