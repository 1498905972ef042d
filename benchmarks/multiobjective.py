"""Multi-objective search: hypervolume of the found Pareto front after N queries, relative to the
exact front of the table, for random search, mo-evolution (NSGA-II-style aging evolution) and
DSM-NAS (scalarized reward: equal-weight sum of normalized objectives).

Objectives: CIFAR-10 validation accuracy (max) and latency on a device (min); reference point =
the worst value of each objective over the table (``HWTabularEvaluator.reference_point``). Each run
is a sweep run with ``--objectives`` at the largest budget; the ratio after fewer queries is
computed from the run's log (the front of the first N unique archs it evaluated).

    OMP_NUM_THREADS=1 python benchmarks/multiobjective.py --seeds 30 --budgets 25,50,100 --workers 2
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spacenas.evaluators.constraints import hypervolume_2d, pareto_mask, parse_objectives
from spacenas.reporting.report import load_runs
from spacenas.runner import read_log
from spacenas.sweep import sweep

METHODS = ["random", "mo-evolution", "dsm"]
DEVICES = ["pixel3", "fpga"]


def prefix_ratio(events: list[dict], n: int, names: list[str], ref: np.ndarray, exact: float) -> float:
    """HV ratio of the front of the events with ``spent <= n`` (feasible, minimization form)."""
    pts = np.array([[-e["metrics"]["valid"], e["metrics"][names[1]]] for e in events
                    if e["spent"] <= n and e["metrics"].get("feasible", 1.0) == 1.0]).reshape(-1, 2)
    if not len(pts):
        return 0.0
    return hypervolume_2d(pts[pareto_mask(pts)], ref) / exact


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="30")
    p.add_argument("--budgets", default="25,50,100")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--devices", default=",".join(DEVICES))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    methods, budgets = a.methods.split(","), [int(b) for b in a.budgets.split(",")]
    root = Path(a.out or tempfile.mkdtemp(prefix="multiobjective_"))
    from spacenas.evaluators.hw_tabular import make_hw_evaluator
    from spacenas.evaluators.multiobjective import report_objectives

    t0 = time.time()
    print(f"CIFAR-10, hypervolume(found front) / hypervolume(exact front), mean +- std over seeds; "
          f"sweeps under {root}")
    print("| device (exact front size) | method | " + " | ".join(f"N={b}" for b in budgets) + " |")
    print("|---|---|" + "---|" * len(budgets))
    for dev in a.devices.split(","):
        text = f"accuracy,latency:{dev}"
        ev = make_hw_evaluator("cifar10", objectives=text)
        objs = report_objectives(parse_objectives(text), "valid")
        ref, exact = ev.reference_point(objs), ev.exact_hypervolume(objs)
        out = root / dev
        sweep(out, methods, ["cifar10"], a.seeds, budget=max(budgets), workers=a.workers, progress=False,
              checkpoint_every=0, objectives=text)
        runs = load_runs(out)
        for m in methods:
            rs = [r for r in runs if r.method == m]
            cells = []
            for b in budgets:
                v = np.array([prefix_ratio(read_log(r.run_dir), b, ["accuracy", f"latency:{dev}"], ref, exact)
                              for r in rs])
                cells.append(f"{v.mean():.4f} +- {v.std():.4f}")
            # the last budget's ratio is also stored in result.json; check the two agree
            assert abs(np.mean([r.hv_ratio for r in rs]) - np.mean(
                [prefix_ratio(read_log(r.run_dir), max(budgets), ["accuracy", f"latency:{dev}"], ref, exact)
                 for r in rs])) < 1e-9
            print(f"| {dev} ({len(ev.exact_front(objs))}) | {m} (n={len(rs)}) | " + " | ".join(cells) + " |")
    print(f"({time.time() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
