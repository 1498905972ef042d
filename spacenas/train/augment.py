"""Crop + flip + cutout on a whole batch tensor, on whatever device the batch and the generator
live on (no per-image Python loop, no host-device copy per batch).

The random draws are the same, in the same order, as the CPU path's
(:func:`spacenas.data.splits.random_crop_flip`: ``dy``, ``dx``, ``flip``; then
:func:`spacenas.train.cutout.cutout`: ``cy``, ``cx``), so with a CPU generator
:func:`augment_batch` reproduces the CPU path exactly (tests/train/test_augment.py); with a CUDA
generator everything runs on the GPU.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def crop_flip(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``pad``, crop back to ``H x W`` at a random offset, flip half the images
    horizontally; one gather for the whole batch."""
    b, _, h, w = x.shape
    dev = generator.device
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=dev).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=dev).to(x.device)
    flip = (torch.rand(b, generator=generator, device=dev) < 0.5).to(x.device)
    xp = F.pad(x, (pad, pad, pad, pad))
    r = torch.arange(h, device=x.device)
    c = torch.arange(w, device=x.device)
    rows = dy[:, None] + r                                              # [B, H]
    cols = dx[:, None] + torch.where(flip[:, None], w - 1 - c, c)       # [B, W]
    bi = torch.arange(b, device=x.device)[:, None, None]
    return xp[bi, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def cutout_batch(x: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Cutout (:mod:`spacenas.train.cutout`) with the mask built on ``x``'s device."""
    if length <= 0:
        return x
    b, _, h, w = x.shape
    dev = generator.device
    cy = torch.randint(0, h, (b,), generator=generator, device=dev).to(x.device)
    cx = torch.randint(0, w, (b,), generator=generator, device=dev).to(x.device)
    half = length // 2
    y1, y2 = (cy - half).clamp(0, h), (cy + half).clamp(0, h)
    x1, x2 = (cx - half).clamp(0, w), (cx + half).clamp(0, w)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    cut = ((rows >= y1.view(-1, 1, 1)) & (rows < y2.view(-1, 1, 1))
           & (cols >= x1.view(-1, 1, 1)) & (cols < x2.view(-1, 1, 1)))
    return x * (~cut).unsqueeze(1).to(x.dtype)


def augment_batch(x: torch.Tensor, pad: int, cutout: int, generator: torch.Generator) -> torch.Tensor:
    """Crop + flip (``pad > 0``) then cutout (``cutout > 0``), drawing from ``generator``."""
    if pad:
        x = crop_flip(x, pad, generator)
    return cutout_batch(x, cutout, generator)
