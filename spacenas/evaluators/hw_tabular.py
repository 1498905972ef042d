"""Table look-up with hardware costs, NAS-Bench-360 tasks and hard constraints.

:class:`HWTabularEvaluator` is a :class:`TabularEvaluator` (same query budget: each new arch
costs 1, a repeat costs 0; same ``state_dict``) that

* supports ``ninapro`` (NinaPro accuracy %, higher is better) and ``darcy`` (Darcy Flow score
  ``1 - relative L2 error``, higher is better) next to cifar10 / cifar100 / imagenet16-120.
  These tasks have one metric per arch, so ``valid`` and ``test`` are the same number: search and
  report use it alike (the source ships no separate validation result);
* adds to every ``Result.metrics``: ``params`` and ``flops`` (computed, :mod:`spacenas.benchmarks.flops`;
  for ninapro/darcy those of the CIFAR-10 network, as a size measure: NAS-Bench-360's networks for
  those inputs are not specified in the data), ``latency:DEV`` / ``energy:DEV`` for the devices
  measured on this dataset (all of them unless ``devices`` narrows the list), ``error`` (100 -
  accuracy for classification, ``1 - score`` = relative L2 error for darcy) and ``index``;
* with ``constraints``: adds ``feasible`` (1.0 or 0.0) to every result, checks at construction
  that some arch satisfies them all (else a :class:`SpacenasError` names the tightest limit), and
  exposes a constrained table view as ``self.benchmark`` so ``benchmark.optimum(dataset, split)``
  is the true constrained optimum. With ``penalize=True`` an infeasible arch's score is replaced
  by ``worst - 1`` (``worst`` = the lowest score in the table) so a constraint-unaware strategy
  never prefers it; its true score stays in ``metrics['valid']``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spacenas.benchmarks.flops import nb201_costs
from spacenas.benchmarks.hw import TASK_DATASETS, HWBenchmark, check_dataset, load_hw_benchmark
from spacenas.errors import SpacenasError, unknown
from spacenas.evaluators.base import Result
from spacenas.evaluators.constraints import (Constraint, Objective, as_constraints, hypervolume_2d,
                                             parse_metric, parse_objectives, pareto_mask)
from spacenas.evaluators.tabular import SEARCH_METRICS, TabularEvaluator
from spacenas.spaces.base import Arch


class HWTabularEvaluator(TabularEvaluator):
    """See the module docstring."""

    def __init__(self, dataset: str = "cifar10", search_metric: str = "valid",
                 constraints: Sequence[str | Constraint] | str | None = None,
                 devices: Sequence[str] | None = None, penalize: bool = False,
                 hw: HWBenchmark | None = None) -> None:
        # TabularEvaluator.__init__ only knows the NB201 datasets, so set its fields here
        self.hw = hw or load_hw_benchmark()
        self.space = self.hw.space
        check_dataset(dataset)
        if search_metric not in SEARCH_METRICS:
            raise unknown("search metric", search_metric, SEARCH_METRICS)
        self.dataset, self.search_metric = dataset, search_metric
        self._seen: set[tuple[int, ...]] = set()
        self.constraints = as_constraints(constraints)
        for c in self.constraints:
            self.metric_values(c.metric)  # metric not measured for this dataset -> SpacenasError
        if devices is None:
            devices = self.hw.devices(dataset)
        for d in devices:
            self.hw.latency_values(d, dataset)  # unknown / unmeasured device -> SpacenasError
        # the devices a constraint names are always reported, so Constraint.satisfied(metrics) works
        named = [c.metric.partition(":")[2] for c in self.constraints if ":" in c.metric]
        self.devices = tuple(dict.fromkeys([*devices, *named]))
        self.energy_devices = tuple(d for d, t in self.hw.energy_columns if t == dataset and d in self.devices)
        self.penalize = bool(penalize)
        self.feasible_mask = self._feasible_mask()
        self.benchmark = self.hw.restricted(self.feasible_mask if self.constraints else None)
        self._worst = float(np.min(self.hw.column_values(dataset, search_metric))) - 1.0

    # ----- tables --------------------------------------------------------------------------
    def metric_values(self, metric: str) -> np.ndarray:
        """Every arch's value of a metric (``params``, ``flops``, ``latency:DEV``, ``energy:DEV``,
        ``score``, ``valid``, ``test``, ``error``) for this dataset, float64 [N]."""
        if metric in ("score", "valid", "test"):
            split = self.search_metric if metric == "score" else metric
            return self.hw.column_values(self.dataset, split)
        if metric == "error":
            v = self.hw.column_values(self.dataset, "test")
            return (1.0 - v) if self.dataset == "darcy" else (100.0 - v)
        metric = parse_metric(metric)
        if metric in ("params", "flops"):
            ds = "cifar10" if self.dataset in TASK_DATASETS else self.dataset
            params, flops = nb201_costs(self.hw.nb201.ops, ds)
            return (params if metric == "params" else flops).astype(np.float64)
        kind, _, device = metric.partition(":")
        get = self.hw.latency_values if kind == "latency" else self.hw.energy_values
        return get(device, self.dataset).astype(np.float64)

    def _feasible_mask(self) -> np.ndarray:
        mask = np.ones(len(self.hw.task), dtype=bool)
        for c in self.constraints:
            mask &= c.holds(self.metric_values(c.metric))
        if self.constraints and not mask.any():
            tight = []
            for c in self.constraints:
                v = self.metric_values(c.metric)
                best = v.min() if c.op in ("<=", "<") else v.max()
                tight.append(f"{c} (best in table: {best:.6g}, {int(c.holds(v).sum())} archs satisfy it alone)")
            raise SpacenasError(f"no architecture satisfies the constraints on {self.dataset}: " + "; ".join(tight))
        return mask

    def exact_front(self, objectives: Sequence[Objective], feasible_only: bool = True) -> np.ndarray:
        """Rows of the exact Pareto front of the whole table (feasible archs only, by default)."""
        rows = np.flatnonzero(self.feasible_mask) if feasible_only else np.arange(len(self.feasible_mask))
        cols = [self.metric_values(o.metric) for o in objectives]
        pts = np.stack([-c[rows] if o.maximize else c[rows] for o, c in zip(objectives, cols)], axis=1)
        return rows[pareto_mask(pts)]

    def reference_point(self, objectives: Sequence[Objective]) -> np.ndarray:
        """Hypervolume reference (minimization form): the worst value of each objective over the
        feasible table, so any feasible arch lies inside the box (those on its edge add 0)."""
        rows = self.feasible_mask
        return np.array([(-self.metric_values(o.metric)[rows].min()) if o.maximize
                         else self.metric_values(o.metric)[rows].max() for o in objectives])

    def exact_hypervolume(self, objectives: Sequence[Objective], ref: Sequence[float] | None = None) -> float:
        """Hypervolume of the exact (feasible) front of the table: the best any search can reach."""
        if len(objectives) != 2:
            raise SpacenasError(f"hypervolume is implemented for two objectives, got {len(objectives)}")
        rows = self.exact_front(objectives)
        pts = np.stack([-self.metric_values(o.metric)[rows] if o.maximize else self.metric_values(o.metric)[rows]
                        for o in objectives], axis=1)
        return hypervolume_2d(pts, self.reference_point(objectives) if ref is None else ref)

    # ----- evaluation ------------------------------------------------------------------------
    def evaluate(self, arch: Arch) -> Result:
        r = self.hw.row(arch)
        ds = self.dataset
        valid = float(self.hw.column_values(ds, "valid")[r])
        test = float(self.hw.column_values(ds, "test")[r])
        cost_ds = "cifar10" if ds in TASK_DATASETS else ds
        params, flops = nb201_costs(np.array([arch.choices]), cost_ds)
        metrics = {"valid": valid, "test": test, "error": (1.0 - test) if ds == "darcy" else 100.0 - test,
                   "params": float(params[0]), "flops": float(flops[0]), "index": float(self.hw.nb201.index[r])}
        for d in self.devices:
            metrics[f"latency:{d}"] = float(self.hw.latency_values(d, ds)[r])
        for d in self.energy_devices:
            metrics[f"energy:{d}"] = float(self.hw.energy_values(d, ds)[r])
        score = valid if self.search_metric == "valid" else test
        if self.constraints:
            ok = bool(self.feasible_mask[r])
            metrics["feasible"] = 1.0 if ok else 0.0
            if not ok and self.penalize:
                score = self._worst
        new = arch.choices not in self._seen
        self._seen.add(arch.choices)
        return Result(score=score, metrics=metrics, cost=1.0 if new else 0.0)

    def describe(self) -> str:
        cons = ", ".join(str(c) for c in self.constraints) or "none"
        return (f"{self.dataset} ({self.search_metric}), {int(self.feasible_mask.sum())} feasible archs, "
                f"constraints: {cons}")


def make_hw_evaluator(dataset: str = "cifar10", search_metric: str = "valid",
                      constraints: Sequence[str | Constraint] | str | None = None,
                      objectives: str | Sequence[str] | None = None, penalize: bool = False,
                      hw: HWBenchmark | None = None) -> HWTabularEvaluator:
    """The evaluator a CLI run needs: reports latency/energy only for the devices named in
    ``constraints`` and ``objectives`` (plus params, flops, error, and ``feasible`` if constrained)."""
    objs = parse_objectives(objectives) if objectives is not None else ()
    devices = [o.metric.partition(":")[2] for o in objs if ":" in o.metric]
    return HWTabularEvaluator(dataset, search_metric, constraints=constraints, devices=devices,
                              penalize=penalize, hw=hw)
