"""Progressive architecture learning (DrNAS Section 2.4).

The search is split into stages. Stage ``s`` uses partial channels ``1/partial_k[s]`` and keeps
``keep_ops[s]`` ops per edge. At each stage switch (after the last epoch of a stage):

1. prune every edge to its top ``keep_ops[s+1]`` active ops by the strategy's scores (DrNAS:
   the Dirichlet mean, whose order is the order of beta) -- :func:`top_n_mask`;
2. ``supernet.widen_to(partial_k[s+1], generator)``: the supernet's widening (Eq. 7-8) raises
   the channel fraction from ``1/partial_k[s]`` to ``1/partial_k[s+1]``, every op growing from
   ``C/k_s`` to ``C/k_{s+1}`` channels with the trained weights kept. ``k_{s+1}`` must not
   exceed ``k_s`` and must divide every edge width, but need not divide ``k_s``: the authors'
   DARTS code goes 6 -> 4 (at C=36 the ops grow from 6 to 9 channels, Eq. 7 copying 3 random
   old channels; the partial-channel split then sends the first C/4 channels through the ops
   and shuffles with 4 groups). Equal values mean no widening;
3. the loop rebuilds the weight optimizer (new parameter tensors) and keeps the learning-rate
   schedule (the cosine LR is a function of the epoch). ``momentum: carry`` (default, the
   authors' ``configure_optimizer``) widens each SGD momentum buffer with the same random maps
   as its weight and installs it in the new optimizer; ``momentum: restart`` starts from zero.

Stage 0 drops the ops named in ``drop_ops`` (the authors' DARTS code has no ``none`` op),
sets ``supernet.set_partial_channels(partial_k[0], generator)`` and keeps ``keep_ops[0]`` ops.
Architecture warm-up per stage (``stage_warmup_epochs``, the authors' scripts: 10): the first
N epochs of EACH stage, counted within the stage, make no architecture steps
(:meth:`Progressive.arch_active`). Default 0: the short default searches (10 epochs on digits:
two stages of 5) would otherwise never make an architecture step; the presets set 10.
Defaults are the authors' NB201 setting (notes): 2 stages, k 4 -> 2, ops 5 -> 3 (widening x2).
The DARTS-space settings (``DARTSSpace.progressive_schedules``, :func:`default_progressive`): the paper's k 6 -> 3, ops 8 -> 4, and
the authors' code's k 6 -> 4, ops 7 -> 4 (all 7 non-``none`` ops, then 4).
Stage lengths default to an equal split of the epochs (first stages get the remainder last).
"""
from __future__ import annotations

import copy
from typing import Any, Literal

import torch
from pydantic import Field, model_validator

from spacenas.config import StrictModel
from spacenas.errors import SpacenasError


class ProgressiveConfig(StrictModel):
    partial_k: list[int] = [4, 2]
    keep_ops: list[int] = [5, 3]
    #: epochs of each stage; None: equal split of the search epochs
    stage_epochs: list[int] | None = None
    #: first N epochs of every stage (counted within the stage) without architecture steps
    stage_warmup_epochs: int = Field(0, ge=0)
    #: SGD momentum at a stage switch: carry (widened, authors' code) or restart from zero
    momentum: Literal["carry", "restart"] = "carry"
    #: ops never searched (masked from stage 0 on), e.g. ["none"] as in the authors' DARTS code
    drop_ops: list[str] = []

    @model_validator(mode="after")
    def _check(self) -> ProgressiveConfig:
        n = len(self.partial_k)
        if n < 1 or len(self.keep_ops) != n or (self.stage_epochs is not None and len(self.stage_epochs) != n):
            raise ValueError("partial_k, keep_ops (and stage_epochs) need one entry per stage")
        if any(k < 1 for k in self.partial_k) or any(o < 1 for o in self.keep_ops):
            raise ValueError("partial_k and keep_ops must be >= 1")
        if self.stage_epochs is not None and any(e < 1 for e in self.stage_epochs):
            raise ValueError(f"stage_epochs must be >= 1 each, got {self.stage_epochs}")
        if any(b > a for a, b in zip(self.partial_k, self.partial_k[1:])):
            raise ValueError("partial_k must not increase from stage to stage (widening lowers k)")
        if any(b > a for a, b in zip(self.keep_ops, self.keep_ops[1:])):
            raise ValueError("keep_ops must not increase from stage to stage")
        return self


def default_progressive(space: str, schedule: str | None = None) -> ProgressiveConfig:
    """The progressive settings of ``space``, from its class's ``progressive_schedules`` (the
    space says which exist: DARTS has the paper's, the default, and the code's; NB201 none, i.e.
    this config's defaults, the authors' code, which the paper does not contradict).
    ``schedule``: a name there (default: the first)."""
    from spacenas import registry

    schedules = registry.get(registry.SPACES, space, "space").progressive_schedules
    if not schedules:
        return ProgressiveConfig()
    name = schedule if schedule is not None else next(iter(schedules))
    if name not in schedules:
        raise SpacenasError(f"unknown progressive schedule {name!r} for {space} (allowed: {', '.join(schedules)})")
    return ProgressiveConfig(**schedules[name])


def even_lengths(epochs: int, n_stages: int) -> list[int]:
    """``epochs`` split into ``n_stages`` stages, the rest to the last. Hand: 10, 3 -> [3, 3, 4]."""
    lengths = [epochs // n_stages] * n_stages
    lengths[-1] += epochs - sum(lengths)
    return lengths


def stage_starts(epochs: int, n_stages: int, stage_epochs: list[int] | None = None) -> list[int]:
    """First epoch of every stage. Hand: 10 epochs, 3 stages -> lengths 3, 3, 4 -> [0, 3, 6]."""
    if stage_epochs is None:
        lengths = even_lengths(epochs, n_stages)
    else:
        lengths = list(stage_epochs)
        if sum(lengths) != epochs:
            fix = (f"e.g. --set 'progressive.stage_epochs={even_lengths(epochs, len(lengths))}'"
                   if epochs >= len(lengths) else f"and at least --epochs {len(lengths)} (one per stage)")
            raise SpacenasError(f"progressive stage_epochs {lengths} sum to {sum(lengths)}, the search has {epochs} "
                                f"epochs; give stage lengths that sum to it, {fix}")
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
        #: (parameter, widened momentum buffer) pairs waiting for the rebuilt optimizer
        self._carried: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    @property
    def n_stages(self) -> int:
        return len(self.config.partial_k)

    def setup(self, strategy, supernet, epochs: int) -> None:
        self.starts = stage_starts(epochs, self.n_stages, self.config.stage_epochs)
        ends = self.starts[1:] + [epochs]
        w = self.config.stage_warmup_epochs
        if w and any(e - s <= w for s, e in zip(self.starts, ends)):
            raise SpacenasError(f"progressive stage_warmup_epochs={w} leaves a stage of "
                                f"{min(e - s for s, e in zip(self.starts, ends))} epochs without architecture "
                                "steps; use longer stages (more epochs) or a shorter warm-up "
                                "(--set progressive.stage_warmup_epochs=0)")
        if self.stage < 0:  # fresh search: enter stage 0 (no widening)
            try:
                supernet.set_partial_channels(self.config.partial_k[0], strategy.generator)
            except SpacenasError as e:
                raise SpacenasError(f"progressive learning, stage 0: {e}; choose partial_k to divide the edge widths "
                                    "(the paper's DARTS setting searches at C=36, layers=20: --set C=36 --set layers=20)"
                                    ) from None
            if self.config.drop_ops:
                strategy.set_op_masks(drop_ops_masks(strategy, supernet, self.config.drop_ops))
            self._prune(strategy, self.config.keep_ops[0])
            self.stage = 0

    def stage_of(self, epoch: int) -> int:
        """The stage that ``epoch`` belongs to."""
        return max(s for s, start in enumerate(self.starts) if start <= epoch) if self.starts else 0

    def arch_active(self, epoch: int) -> bool:
        """No architecture steps in the first ``stage_warmup_epochs`` epochs of each stage.
        Hand: stages start at (0, 3), warm-up 2 -> epochs 2 and 5 of 0..5 are active."""
        if not self.starts:
            return True
        return epoch - self.starts[self.stage_of(epoch)] >= self.config.stage_warmup_epochs

    def _prune(self, strategy, n: int) -> None:
        scores = strategy.scores()
        masks = {k: top_n_mask(scores[k], strategy._mask(k), n) for k in scores}
        strategy.set_op_masks(masks)

    def on_epoch_end(self, strategy, epoch: int, supernet) -> bool:
        nxt = self.stage + 1
        if nxt >= self.n_stages or epoch + 1 != self.starts[nxt]:
            return False
        self._prune(strategy, self.config.keep_ops[nxt])
        opt = getattr(strategy, "weight_optimizer", None)
        if self.config.momentum == "carry" and opt is not None:
            self._carried = widen_with_momentum(supernet, opt, self.config.partial_k[self.stage],
                                                self.config.partial_k[nxt], strategy.generator)
        else:
            widen(supernet, self.config.partial_k[self.stage], self.config.partial_k[nxt], strategy.generator)
        self.stage = nxt
        return True

    def bind_weight_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Install the momentum buffers carried over the last stage switch (if any)."""
        if self._carried is None:
            return
        for p, buf in self._carried:
            optimizer.state[p]["momentum_buffer"] = buf
        self._carried = None

    def replay(self, supernet, device: torch.device) -> None:
        """Bring a fresh supernet to the structure of the current stage (weights load after)."""
        if self.stage < 0:
            return
        g = torch.Generator(device=device).manual_seed(0)  # these values are overwritten by the checkpoint
        supernet.set_partial_channels(self.config.partial_k[0], g)
        for s in range(1, self.stage + 1):
            widen(supernet, self.config.partial_k[s - 1], self.config.partial_k[s], g)

    def state_dict(self) -> dict[str, Any]:
        return {"stage": self.stage}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stage = int(state["stage"])


def drop_ops_masks(strategy, supernet, names: list[str]) -> dict[str, torch.Tensor]:
    """Op masks without the ops ``names`` (on top of the strategy's current masks)."""
    ops = tuple(supernet.op_names)
    bad = [n for n in names if n not in ops]
    if bad:
        raise SpacenasError(f"progressive drop_ops: unknown op {bad[0]!r} (allowed: {', '.join(ops)})")
    keep = torch.tensor([o not in names for o in ops], dtype=torch.bool, device=strategy.device)
    out = {}
    for k, (e, _) in strategy.shapes.items():
        m = keep.expand(e, -1).clone()
        cur = strategy._mask(k)
        out[k] = m if cur is None else m & cur
    return out


def widen(supernet, k_old: int, k_new: int, generator: torch.Generator) -> None:
    """Partial-channel ``k_old -> k_new``: ``supernet.widen(k_old // k_new)`` when ``k_new``
    divides ``k_old`` (any supernet with ``widen``), else ``supernet.widen_to(k_new)`` (6 -> 4)."""
    if k_old % k_new == 0:
        supernet.widen(k_old // k_new, generator)
    else:
        supernet.widen_to(k_new, generator)


def widen_with_momentum(supernet, optimizer: torch.optim.Optimizer, k_old: int, k_new: int,
                        generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """:func:`widen` of ``supernet`` and its SGD momentum buffers widened alike.

    Widening is an index selection (Eq. 8: ``U = W[g_out][:, g_in]``), so a buffer ``m`` of a
    weight ``W`` becomes ``m[g_out][:, g_in]`` with the same maps ``g``. The maps are drawn
    from ``generator`` in module order; a copy of the supernet whose parameters hold the
    buffers (zeros where SGD has none yet) is widened first with a clone of the generator,
    then the supernet itself with the generator: both draw identical maps. Returns
    ``(new parameter, widened buffer)`` pairs for :meth:`Progressive.bind_weight_optimizer`.
    """
    shadow = copy.deepcopy(supernet)
    with torch.no_grad():
        for p, sp in zip(supernet.parameters(), shadow.parameters()):
            buf = optimizer.state.get(p, {}).get("momentum_buffer")
            sp.copy_(buf if buf is not None else torch.zeros_like(p))
    twin = torch.Generator(device=generator.device)
    twin.set_state(generator.get_state())
    widen(shadow, k_old, k_new, twin)
    widen(supernet, k_old, k_new, generator)
    return [(p, sp.detach().clone()) for p, sp in zip(supernet.parameters(), shadow.parameters())
            if p.requires_grad]
