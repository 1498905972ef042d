"""Optional TensorBoard scalars (``--tensorboard DIR`` on one-shot ``search`` and ``train``).

Needs the ``tensorboard`` package (``pip install 'spacenas[tensorboard]'``); without it the flag is
a one-line error. Every numeric top-level field of a per-epoch record (losses, accuracies,
learning rate, ...) becomes a scalar under its own name, at step = the 1-based epoch.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from spacenas.errors import SpacenasError


class ScalarLogger:
    """A thin wrapper of ``torch.utils.tensorboard.SummaryWriter`` for per-epoch records."""

    def __init__(self, log_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise SpacenasError("--tensorboard needs the tensorboard package, which is not installed: "
                                "pip install tensorboard (or spacenas[tensorboard])") from None
        try:
            self.writer = SummaryWriter(log_dir=str(log_dir))
        except OSError as e:
            raise SpacenasError(f"cannot write TensorBoard logs to {log_dir}: {e.strerror or e}") from None

    def log(self, record: dict[str, Any], step: int) -> None:
        for key, value in record.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "epoch" \
                    and math.isfinite(value):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
