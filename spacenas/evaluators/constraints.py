"""Constraints and objectives as data, and Pareto utilities.

Metric names (the keys of ``Result.metrics`` that :class:`HWTabularEvaluator` fills in):

* ``params`` -- parameter count; ``flops`` -- multiply-accumulates per image (NB201 convention,
  :mod:`spacenas.benchmarks.flops`);
* ``latency:DEVICE`` -- ms, ``energy:DEVICE`` -- mJ, DEVICE in :data:`spacenas.benchmarks.hw.DEVICES`.

Constraint text: ``METRIC OP NUMBER[SUFFIX]`` with OP one of ``<= < >= >`` and an optional
suffix ``k``/``M``/``G`` (x1e3/1e6/1e9), or the unit ``ms`` (latency) / ``mJ`` (energy), e.g.
``latency:pixel3<=10``, ``params<=0.8M``, ``flops<=100M``. Without a suffix the number is in the
metric's own unit (a plain count for params and FLOPs).

Objectives text: comma-separated, e.g. ``accuracy,latency:pixel3``. ``accuracy`` (alias
``score``) is the evaluator's score and is maximized; every other metric is minimized.

Pareto utilities work on *minimization* matrices ``[n, m]`` (use :func:`objective_matrix` to
negate maximized objectives): :func:`dominates`, :func:`pareto_mask` (exact; O(n log n) in 2-D),
:func:`non_dominated_sort`, :func:`crowding_distance` and :func:`hypervolume_2d`.
"""
from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from spacenas.benchmarks.hw import DEVICES
from spacenas.errors import SpacenasError, unknown
from spacenas.evaluators.base import Result

PLAIN_METRICS: tuple[str, ...] = ("params", "flops")
DEVICE_METRICS: tuple[str, ...] = ("latency", "energy")
SCORE_NAMES: tuple[str, ...] = ("accuracy", "score")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_SUFFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
_UNIT = {"latency": "ms", "energy": "mJ"}
_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z0-9_:.\-]+)\s*(<=|>=|<|>|==|=)\s*(.*?)\s*$")
_NUMBER_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)$")
_METRIC_HELP = "params, flops, latency:DEVICE or energy:DEVICE"


def parse_metric(name: str) -> str:
    """Validate a metric name (``params``, ``flops``, ``latency:DEV``, ``energy:DEV``) and return it."""
    name = name.strip()
    kind, sep, device = name.partition(":")
    if not sep:
        if name in PLAIN_METRICS:
            return name
        if name in DEVICE_METRICS:
            raise SpacenasError(f"metric {name!r} needs a device: {name}:DEVICE (devices: {', '.join(DEVICES)})")
        raise unknown("metric", name, (*PLAIN_METRICS, "latency:DEVICE", "energy:DEVICE"))
    if kind not in DEVICE_METRICS:
        raise unknown("metric", name, (*PLAIN_METRICS, "latency:DEVICE", "energy:DEVICE"))
    if device not in DEVICES:
        raise unknown("device", device, DEVICES)
    return f"{kind}:{device}"


@dataclass(frozen=True)
class Constraint:
    """A hard limit on one metric: ``metric op bound`` (e.g. ``latency:pixel3 <= 10``)."""

    metric: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        parse_metric(self.metric)
        if self.op not in _OPS:
            raise unknown("constraint operator", self.op, _OPS)
        if not math.isfinite(self.bound):
            raise SpacenasError(f"bad constraint bound {self.bound!r}: must be a finite number")

    def holds(self, value: float | np.ndarray):
        """Whether ``value`` (a number or an array of them) is within the limit."""
        return _OPS[self.op](value, self.bound)

    def satisfied(self, metrics: Mapping[str, float]) -> bool:
        if self.metric not in metrics:
            raise SpacenasError(f"constraint {self} needs metric {self.metric!r}, which the evaluator does not "
                                f"report (it reports: {', '.join(sorted(metrics))})")
        return bool(self.holds(float(metrics[self.metric])))

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def parse_constraint(text: str) -> Constraint:
    """Parse ``latency:pixel3<=10``, ``params<=0.8M``, ``flops<=100M`` (see the module docstring)."""
    if not isinstance(text, str):
        raise SpacenasError(f"constraint must be text like 'latency:pixel3<=10', got {type(text).__name__}")
    m = _CONSTRAINT_RE.match(text)
    if m is None:
        raise SpacenasError(f"bad constraint {text!r}: expected METRIC<=NUMBER (or {', '.join(o for o in _OPS if o != '<=')}) "
                            f"with METRIC one of {_METRIC_HELP}")
    name, op, num = m.groups()
    if op not in _OPS:
        raise SpacenasError(f"bad constraint {text!r}: operator {op!r} (allowed: {', '.join(_OPS)})")
    metric = parse_metric(name)
    n = _NUMBER_RE.match(num)
    if n is None:
        raise SpacenasError(f"bad constraint {text!r}: {num!r} is not a number (e.g. 10, 2.5e6, 100M)")
    value, suffix = float(n.group(1)), n.group(2)
    kind = metric.partition(":")[0]
    if suffix in _SUFFIX:
        value *= _SUFFIX[suffix]
    elif suffix != _UNIT.get(kind):
        allowed = ", ".join(s for s in (*_SUFFIX, _UNIT.get(kind, "")) if s)
        raise SpacenasError(f"bad constraint {text!r}: unknown suffix {suffix!r} (allowed: {allowed})")
    return Constraint(metric, op, value)


def as_constraints(items: Sequence[str | Constraint] | str | None) -> tuple[Constraint, ...]:
    """Normalize ``None``, one text, or a list of texts/:class:`Constraint` objects."""
    if items is None:
        return ()
    if isinstance(items, (str, Constraint)):
        items = [items]
    return tuple(c if isinstance(c, Constraint) else parse_constraint(c) for c in items)


def is_feasible(result: Result) -> bool:
    """Whether a result satisfies its evaluator's constraints (``metrics['feasible']``; true if absent)."""
    return result.metrics.get("feasible", 1.0) > 0.5


# ----- objectives ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Objective:
    """One objective: ``metric`` is ``score`` (the evaluator's score) or a metric name."""

    metric: str
    maximize: bool

    def value(self, result: Result) -> float:
        if self.metric == "score":
            return float(result.score)
        if self.metric not in result.metrics:
            raise SpacenasError(f"objective {self.metric!r} is not reported by the evaluator "
                                f"(it reports: score, {', '.join(sorted(result.metrics))})")
        return float(result.metrics[self.metric])

    def __str__(self) -> str:
        return "accuracy" if self.metric == "score" else self.metric


def parse_objectives(text: str | Sequence[str]) -> tuple[Objective, ...]:
    """Parse ``accuracy,latency:pixel3``: two or more distinct objectives."""
    names = [s.strip() for s in text.split(",")] if isinstance(text, str) else [str(s).strip() for s in text]
    if any(not s for s in names):
        raise SpacenasError(f"bad objectives {text!r}: empty name; expected e.g. 'accuracy,latency:pixel3'")
    objs = tuple(Objective("score", True) if s in SCORE_NAMES else Objective(parse_metric(s), False) for s in names)
    if len(objs) < 2:
        raise SpacenasError(f"bad objectives {text!r}: a multi-objective run needs at least two, "
                            "e.g. 'accuracy,latency:pixel3'")
    if len({o.metric for o in objs}) != len(objs):
        raise SpacenasError(f"bad objectives {text!r}: an objective is listed twice")
    return objs


def objective_matrix(results: Sequence[Result], objectives: Sequence[Objective]) -> np.ndarray:
    """``[n, m]`` minimization matrix: maximized objectives are negated."""
    return np.array([[-o.value(r) if o.maximize else o.value(r) for o in objectives] for r in results],
                    dtype=np.float64).reshape(len(results), len(objectives))


def pareto_front(results: Sequence[Result], objectives: Sequence[Objective],
                 feasible_only: bool = True) -> list[int]:
    """Indices of the non-dominated results (infeasible ones excluded unless ``feasible_only=False``)."""
    idx = [i for i, r in enumerate(results) if not feasible_only or is_feasible(r)]
    if not idx:
        return []
    mask = pareto_mask(objective_matrix([results[i] for i in idx], objectives))
    return [i for i, keep in zip(idx, mask) if keep]


# ----- Pareto utilities (minimization) -------------------------------------------------------
def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` dominates ``b``: no worse in every objective and better in at least one."""
    a, b = np.asarray(a), np.asarray(b)
    return bool(np.all(a <= b) and np.any(a < b))


def pareto_mask(points: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Bool mask of the non-dominated rows of ``points`` [n, m] (duplicates are all kept)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"points must be [n, m], got shape {p.shape}")
    n = len(p)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if p.shape[1] == 2:
        return _pareto_mask_2d(p)
    mask = np.empty(n, dtype=bool)
    for s in range(0, n, chunk):
        q = p[s:s + chunk, None, :]  # [c, 1, m] candidates vs all [1, n, m]
        dominated = (np.all(p[None] <= q, axis=2) & np.any(p[None] < q, axis=2)).any(axis=1)
        mask[s:s + chunk] = ~dominated
    return mask


def _pareto_mask_2d(p: np.ndarray) -> np.ndarray:
    """Sort by (f1, f2); within a run of equal f1 only the smallest f2 can survive, and it does
    iff it is strictly below the best f2 of all runs with a smaller f1."""
    order = np.lexsort((p[:, 1], p[:, 0]))
    f1, f2 = p[order, 0], p[order, 1]
    starts = np.flatnonzero(np.r_[True, f1[1:] != f1[:-1]])
    gmin = f2[starts]  # sorted, so the first of each run holds its smallest f2
    prev_best = np.r_[np.inf, np.minimum.accumulate(gmin)[:-1]]
    run = np.cumsum(np.r_[True, f1[1:] != f1[:-1]]) - 1
    keep = (f2 == gmin[run]) & (gmin[run] < prev_best[run])
    mask = np.empty(len(p), dtype=bool)
    mask[order] = keep
    return mask


def non_dominated_sort(points: np.ndarray) -> np.ndarray:
    """Front rank of every row (0 = Pareto front, 1 = front once rank 0 is removed, ...)."""
    p = np.asarray(points, dtype=np.float64)
    rank = np.full(len(p), -1, dtype=np.int64)
    left, r = np.arange(len(p)), 0
    while len(left):
        m = pareto_mask(p[left])
        rank[left[m]] = r
        left, r = left[~m], r + 1
    return rank


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each row of one front (boundary rows get +inf)."""
    p = np.asarray(points, dtype=np.float64)
    n, m = p.shape
    d = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        o = np.argsort(p[:, j], kind="stable")
        span = p[o[-1], j] - p[o[0], j]
        d[o[0]] = d[o[-1]] = np.inf
        if span > 0:
            d[o[1:-1]] += (p[o[2:], j] - p[o[:-2], j]) / span
    return d


def hypervolume_2d(points: np.ndarray, ref: Sequence[float]) -> float:
    """Area dominated by ``points`` [n, 2] and bounded by the reference point ``ref`` (minimization).

    Points not strictly better than ``ref`` in both objectives contribute nothing.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    r1, r2 = float(ref[0]), float(ref[1])
    p = p[(p[:, 0] < r1) & (p[:, 1] < r2)]
    if len(p) == 0:
        return 0.0
    f = p[pareto_mask(p)]
    f = np.unique(f, axis=0)  # sorted by f1 ascending; on a front f2 then descends
    right = np.r_[f[1:, 0], r1]
    return float(np.sum((right - f[:, 0]) * (r2 - f[:, 1])))
