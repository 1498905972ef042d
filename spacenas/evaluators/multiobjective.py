"""Multi-objective runs on the hardware table: scalarized reward and the found Pareto front.

* :func:`normalized_goodness` / :class:`ScalarizedEvaluator` -- for single-objective strategies
  (DSM-NAS, evolution, REINFORCE, local search) in a ``--objectives`` run: the score they see is a
  **weighted sum of normalized objectives**,
  ``score = 100 * sum_i w_i * g_i / sum_i w_i`` with ``g_i = (v_i - worst_i) / (best_i - worst_i)``
  in [0, 1] (1 = the best value of objective i over the feasible table, 0 = the worst), so the
  score is on the 0..100 scale of an accuracy in percent. An infeasible arch (hard constraints)
  scores -1, below every feasible arch. The accuracy objective is the raw search metric
  (``valid`` by default), never a penalized score.
* :func:`front_report` -- the Pareto front of what a run evaluated (feasible archs only) and its
  hypervolume relative to the exact front of the table (``hv_ratio`` in [0, 1]: the found front is
  a subset of the feasible table, and hypervolume is monotone under adding points).

Objectives are :class:`~spacenas.evaluators.constraints.Objective`; ``accuracy`` (metric
``score``) is read as the evaluator's search metric (:func:`report_objectives`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from spacenas.errors import SpacenasError
from spacenas.evaluators.base import Evaluator, Result
from spacenas.evaluators.constraints import Objective, hypervolume_2d, is_feasible, objective_matrix, pareto_front
from spacenas.spaces.base import Arch

INFEASIBLE_SCORE = -1.0


def report_objectives(objectives: Sequence[Objective], search_metric: str) -> tuple[Objective, ...]:
    """Replace ``score`` (accuracy) by the raw search metric, e.g. ``valid``."""
    return tuple(Objective(search_metric, True) if o.metric == "score" else o for o in objectives)


def normalized_goodness(values: np.ndarray, lo: float, hi: float, maximize: bool) -> np.ndarray:
    """Map values to [0, 1], 1 = best: ``(v - lo) / (hi - lo)`` when maximized, ``(hi - v) / (hi - lo)``
    when minimized (``lo``/``hi`` = min/max over the feasible table; a constant objective gives 1)."""
    v = np.asarray(values, dtype=np.float64)
    if hi <= lo:
        return np.ones_like(v)
    g = (v - lo) / (hi - lo) if maximize else (hi - v) / (hi - lo)
    return np.clip(g, 0.0, 1.0)


def scalarize(goodness: Sequence[float], weights: Sequence[float]) -> float:
    """``100 * sum(w * g) / sum(w)``."""
    g, w = np.asarray(goodness, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    return float(100.0 * np.dot(w, g) / w.sum())


def parse_weights(weights: str | Sequence[float] | None, n: int) -> tuple[float, ...]:
    """Weights of ``n`` objectives: equal by default; else ``n`` numbers >= 0 with a positive sum."""
    if weights is None:
        return (1.0,) * n
    try:
        w = [float(x) for x in (weights.split(",") if isinstance(weights, str) else weights)]
    except ValueError:
        raise SpacenasError(f"bad weights {weights!r}: expected {n} comma-separated numbers") from None
    if len(w) != n or any(not np.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
        raise SpacenasError(f"bad weights {weights!r}: need {n} numbers >= 0 (one per objective) with a positive sum")
    return tuple(w)


class ScalarizedEvaluator(Evaluator):
    """Wraps an :class:`~spacenas.evaluators.hw_tabular.HWTabularEvaluator`; ``Result.score`` becomes the
    weighted sum of normalized objectives (module docstring). Metrics, cost, budget and state are the
    wrapped evaluator's; so are ``dataset``, ``search_metric``, ``benchmark`` (constrained optimum)."""

    def __init__(self, inner, objectives: Sequence[Objective], weights: str | Sequence[float] | None = None) -> None:
        self.inner = inner
        self.space = inner.space
        self.objectives = report_objectives(objectives, inner.search_metric)
        self.weights = parse_weights(weights, len(self.objectives))
        rows = inner.feasible_mask
        self._ranges = []
        for o in self.objectives:
            v = inner.metric_values(o.metric)[rows]
            self._ranges.append((float(v.min()), float(v.max())))

    def __getattr__(self, name: str) -> Any:  # dataset, search_metric, benchmark, feasible_mask, ...
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def evaluate(self, arch: Arch) -> Result:
        res = self.inner.evaluate(arch)
        if not is_feasible(res):
            return Result(INFEASIBLE_SCORE, res.metrics, res.cost)
        g = [float(normalized_goodness(np.array([o.value(res)]), lo, hi, o.maximize)[0])
             for o, (lo, hi) in zip(self.objectives, self._ranges)]
        return Result(scalarize(g, self.weights), res.metrics, res.cost)

    @property
    def spent(self) -> float:
        return self.inner.spent

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state)


def unwrap(evaluator):
    """The hardware evaluator under a :class:`ScalarizedEvaluator` (or the evaluator itself)."""
    return evaluator.inner if isinstance(evaluator, ScalarizedEvaluator) else evaluator


def found_front(history: Sequence[tuple[Arch, Result]], objectives: Sequence[Objective]) -> list[tuple[Arch, Result]]:
    """Non-dominated feasible (arch, result) pairs of ``history`` (each arch once), sorted by the
    first objective (best first)."""
    uniq: dict[tuple[int, ...], tuple[Arch, Result]] = {}
    for a, r in history:
        uniq.setdefault(a.choices, (a, r))
    items = list(uniq.values())
    idx = pareto_front([r for _, r in items], objectives)
    front = [items[i] for i in idx]
    m = objective_matrix([r for _, r in front], objectives)
    order = np.lexsort(m.T[::-1]) if len(front) else []
    return [front[i] for i in order]


def front_report(history: Sequence[tuple[Arch, Result]], evaluator, objectives: Sequence[Objective]) -> dict[str, Any]:
    """Front of ``history`` and its hypervolume against the table's exact front (two objectives;
    for more, the hypervolume fields are ``None``)."""
    ev = unwrap(evaluator)
    objs = report_objectives(objectives, ev.search_metric)
    front = found_front(history, objs)
    names = [str(o) for o in objectives]
    rows = [{"arch": ev.space.format(a), **{n: o.value(r) for n, o in zip(names, objs)}} for a, r in front]
    out: dict[str, Any] = {"objectives": names, "front": rows, "hypervolume": None, "exact_hypervolume": None,
                           "hv_ratio": None, "exact_front_size": int(len(ev.exact_front(objs)))}
    if len(objs) == 2:
        ref = ev.reference_point(objs)
        hv = hypervolume_2d(objective_matrix([r for _, r in front], objs), ref) if front else 0.0
        exact = ev.exact_hypervolume(objs)
        out.update(hypervolume=hv, exact_hypervolume=exact, hv_ratio=(hv / exact) if exact > 0 else None)
    return out
