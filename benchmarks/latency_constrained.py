"""Latency-constrained search on CIFAR-10: best test accuracy found under a hard latency limit,
against the true constrained optimum of the table (the gap).

Two devices x three limits (default: pixel3 <= 5 / 10 / 15 ms, fpga <= 2.5 / 3.5 / 4.5 ms; the printed
`feasible archs` column says how many of the 15,625 archs each admits), methods random, evolution, dsm, N seeds, the
same budget for all (default 100 unique queries, docs/protocol.md). Every run is a constrained
sweep run (``--constraint``; infeasible archs score below every feasible one, and the answer is the
best feasible arch evaluated).

    OMP_NUM_THREADS=1 python benchmarks/latency_constrained.py --seeds 20 --budget 100 --workers 2
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spacenas.reporting.report import load_runs
from spacenas.sweep import sweep

LIMITS = {"pixel3": (5.0, 10.0, 15.0), "fpga": (2.5, 3.5, 4.5)}
METHODS = ["random", "evolution", "dsm"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="20")
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=None, help="parent dir of the sweeps (default: a temporary dir)")
    a = p.parse_args(argv)
    methods = a.methods.split(",")
    root = Path(a.out or tempfile.mkdtemp(prefix="latency_constrained_"))
    from spacenas.evaluators.hw_tabular import make_hw_evaluator

    t0 = time.time()
    print(f"CIFAR-10, search on valid, report test; budget {a.budget} unique queries; mean +- std over seeds; "
          f"gap = constrained optimum test - found test; sweeps under {root}")
    print("| device | limit (ms) | feasible archs | constrained optimum (test) | "
          + " | ".join(f"{m}: found / gap" for m in methods) + " | violations |")
    print("|---|---|---|---|" + "---|" * len(methods) + "---|")
    for dev, limits in LIMITS.items():
        lat = make_hw_evaluator("cifar10").hw.latency_values(dev, "cifar10")
        for lim in limits:
            c = f"latency:{dev}<={lim:g}"
            ev = make_hw_evaluator("cifar10", constraints=[c])
            opt = ev.benchmark.optimum("cifar10", "test")[1]
            sweep(root / f"{dev}_{lim:g}", methods, ["cifar10"], a.seeds, budget=a.budget, workers=a.workers,
                  progress=False, checkpoint_every=0, constraints=[c])
            runs = load_runs(root / f"{dev}_{lim:g}")
            cells, bad = [], 0
            for m in methods:
                rs = [r for r in runs if r.method == m]
                bad += sum(r.arch is None or lat[ev.hw.row(ev.space.parse(r.arch))] > lim for r in rs)
                t = np.array([r.test for r in rs if r.test is not None])
                g = np.array([r.gap for r in rs if r.gap is not None])
                cells.append(f"{t.mean():.2f}+-{t.std():.2f} / {g.mean():.2f}")
            print(f"| {dev} | {lim:g} | {int(ev.feasible_mask.sum())} | {opt:.2f} | " + " | ".join(cells)
                  + f" | {bad} |")
    print(f"({time.time() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
