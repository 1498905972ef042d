"""Row/column order of report tables and plots: preferred names first, the rest alphabetically."""
from __future__ import annotations

from spacenas.registry import METHOD_ORDER

DATASET_ORDER = ("cifar10", "cifar100", "imagenet16-120", "ninapro", "darcy")

__all__ = ["DATASET_ORDER", "METHOD_ORDER", "ordered"]


def ordered(names, preferred) -> list[str]:
    names = set(names)
    return [n for n in preferred if n in names] + sorted(names - set(preferred))
