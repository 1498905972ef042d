"""Evaluators: table look-up, supernet weights, training from scratch."""
from spacenas.evaluators.base import Evaluator, Result
from spacenas.evaluators.tabular import TabularEvaluator

__all__ = ["Evaluator", "Result", "TabularEvaluator"]
