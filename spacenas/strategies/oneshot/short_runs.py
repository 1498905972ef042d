"""Short one-shot searches that still mean something: the architecture learning rate scaled to
the number of steps, and a warning when the derived arch rests on near-uniform weights.

**Rule (the command line's default).** The papers' architecture learning rates (DARTS, GDAS:
3e-4; DrNAS, A-DARTS: 6e-4; Adam) are tuned for their searches: 50 epochs over CIFAR-10's
25,000-image architecture half at batch 64, i.e. :data:`REFERENCE_STEPS` = 50 x 391 = 19,550
architecture steps. Adam moves each parameter by about ``lr`` per step, so what a search can
learn is about ``lr x steps``. ``spacenas search`` therefore uses

    ``arch_lr = paper_arch_lr x min(MAX_FACTOR, max(1, REFERENCE_STEPS / steps))``

for a run of ``steps`` architecture steps (epochs x steps per epoch), keeping ``lr x steps`` at
the papers' value: ``--data digits --epochs 10`` (12 steps an epoch, 120 steps) gets 163 x the
paper's rate, 0.049 for DARTS. The factor stops at :data:`MAX_FACTOR` (200), so runs of a few
steps (smoke tests) do not turn noise into a one-hot choice. Runs as long as the papers' or longer keep the paper's rate
exactly, and so does any run given ``--set arch_lr=...`` (or a preset that sets it). The
library's :func:`~spacenas.strategies.oneshot.loop.search` never rescales.

**Warning.** :func:`margins` gives, per edge, the lead of the chosen op's probability over the
runner-up's; when the median edge leads by less than :data:`MARGIN` (0.02), the derived arch is
little better than a coin toss and :func:`margin_warning` says so (with the numbers).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

#: architecture steps of the papers' searches: 50 epochs x ceil(25000 / 64)
REFERENCE_STEPS: int = 50 * math.ceil(25000 / 64)
#: largest scaling factor (runs shorter than REFERENCE_STEPS / MAX_FACTOR ~ 98 steps get less)
MAX_FACTOR: float = 200.0
#: median lead (probability) of the chosen op over the runner-up below which the arch is doubtful
MARGIN: float = 0.02


def scaled_arch_lr(paper_lr: float, steps: int) -> float:
    """``paper_lr x min(MAX_FACTOR, max(1, REFERENCE_STEPS / steps))``. Hand: 3e-4 at 120 steps ->
    3e-4 x 19550 / 120 = 0.048875; at 19,550 steps or more -> 3e-4; at 10 steps -> 3e-4 x 200 = 0.06."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    return paper_lr * min(MAX_FACTOR, max(1.0, REFERENCE_STEPS / steps))


def margins(scores: Mapping[str, torch.Tensor | np.ndarray]) -> np.ndarray:
    """Per edge (all cell types), top probability minus the runner-up's (masked-out ops, exactly
    0, take part like any op). Hand: rows (0.5, 0.3, 0.2) and (0.25, 0.25, 0.5) -> (0.2, 0.25)."""
    out = []
    for s in scores.values():
        a = np.asarray(s.detach().cpu() if torch.is_tensor(s) else s, dtype=float).reshape(-1, np.shape(s)[-1])
        top2 = np.sort(a, axis=1)[:, -2:]
        out.append(top2[:, 1] - top2[:, 0])
    return np.concatenate(out) if out else np.zeros(0)


def margin_warning(scores: Mapping[str, torch.Tensor | np.ndarray], threshold: float = MARGIN) -> str | None:
    """One line when the median edge's lead is below ``threshold``, else None."""
    m = margins(scores)
    if len(m) == 0 or float(np.median(m)) >= threshold:
        return None
    return (f"warning: the derived arch rests on near-uniform mixing weights (median lead of the chosen op over "
            f"the runner-up {np.median(m):.4f}, smallest {m.min():.4f}, below {threshold}): it means little; "
            "search longer or raise --set arch_lr")
