"""Cutout (DeVries & Taylor 2017), as used in the DARTS-space retraining recipes.

Each image gets one ``length x length`` square of zeros (in normalised space, i.e. the mean
colour) centred at a uniformly random pixel; the square is clipped at the borders, so it can be
smaller near an edge. Applied to every image (probability 1), after crop and flip.
"""
from __future__ import annotations

import torch


def cutout_mask(h: int, w: int, cy: torch.Tensor, cx: torch.Tensor, length: int) -> torch.Tensor:
    """Masks ``[B, 1, h, w]`` (1 keep, 0 cut) for centres ``(cy, cx)``: rows
    ``[clip(cy - length//2), clip(cy + length//2))`` and likewise columns are cut."""
    half = length // 2
    y1, y2 = (cy - half).clamp(0, h), (cy + half).clamp(0, h)
    x1, x2 = (cx - half).clamp(0, w), (cx + half).clamp(0, w)
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    cut_r = (rows >= y1.view(-1, 1, 1)) & (rows < y2.view(-1, 1, 1))
    cut_c = (cols >= x1.view(-1, 1, 1)) & (cols < x2.view(-1, 1, 1))
    return (~(cut_r & cut_c)).unsqueeze(1).float()


def cutout(x: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Apply cutout to a batch ``[B, C, H, W]``; centres drawn from ``generator`` (on the CPU)."""
    if length <= 0:
        return x
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=generator)
    cx = torch.randint(0, w, (b,), generator=generator)
    return x * cutout_mask(h, w, cy, cx, length).to(device=x.device, dtype=x.dtype)
