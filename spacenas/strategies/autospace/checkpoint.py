"""A resumable stream of shuffled batches (its position is part of a DEA checkpoint).

The DEA's own state is :meth:`spacenas.strategies.autospace.evolution.AutoSpace.state_dict`; the
run dir and the checkpoint file are :mod:`spacenas.runs`'.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from spacenas.data.splits import ImageTensorDataset
from spacenas.errors import SpacenasError


class BatchStream(Iterator[tuple[torch.Tensor, torch.Tensor]]):
    """Shuffled batches, epoch after epoch, without end; its position can be saved and restored.

    Draws the permutation of an epoch from ``generator`` when the epoch's first batch is asked
    for (as :func:`~spacenas.data.splits.iterate_batches` does), so it consumes the generator at
    the same moments as ``while True: yield from iterate_batches(...)``."""

    def __init__(self, data: ImageTensorDataset, batch_size: int, generator: torch.Generator,
                 device: str = "cpu") -> None:
        if batch_size < 1:
            raise SpacenasError(f"batch size must be >= 1, got {batch_size}")
        self.data, self.batch_size, self.generator, self.device = data, batch_size, generator, device
        self.order: torch.Tensor | None = None
        self.pos = 0

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.data)
        if self.order is None or self.pos >= n:
            self.order, self.pos = torch.randperm(n, generator=self.generator), 0
        x, y = self.data.batch(self.order[self.pos:self.pos + self.batch_size])
        self.pos += self.batch_size
        return x.to(self.device), y.to(self.device)

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order, self.pos = state["order"], int(state["pos"])
