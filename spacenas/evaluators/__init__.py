"""Evaluators: table look-up, supernet weights, training from scratch.

``SupernetEvaluator`` and ``SupernetRunEvaluator`` import torch and the MobileNet supernet, so they
are loaded on first access (``from spacenas.evaluators import SupernetEvaluator`` works).
"""
from spacenas.evaluators.base import Evaluator, Result
from spacenas.evaluators.tabular import TabularEvaluator

__all__ = ["Evaluator", "Result", "SupernetEvaluator", "SupernetRunEvaluator", "TabularEvaluator"]

_LAZY = {"SupernetEvaluator": "spacenas.evaluators.supernet",
         "SupernetRunEvaluator": "spacenas.evaluators.supernet_run"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
