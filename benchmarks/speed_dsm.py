"""Wall time of DSM-NAS runs on NB201, and of a whole sweep.

    python benchmarks/speed_dsm.py                       # 5 single runs, then a 3-dataset x 5-seed sweep
    python benchmarks/speed_dsm.py --runs 10 --sweep-seeds 0

A single run is timed in-process (table already loaded, torch threads as set by OMP_NUM_THREADS),
without a run dir (no log/checkpoint I/O) and with one (checkpoint every 25 steps). The sweep is
timed end to end, process pool start-up included.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

from spacenas import registry
from spacenas.benchmarks import load_nb201
from spacenas.sweep import RunSpec, run_search, sweep


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", default="dsm")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--runs", type=int, default=5, help="single runs to time (seeds 0..runs-1)")
    p.add_argument("--sweep-seeds", type=int, default=5, help="seeds of the timed sweep (0: no sweep)")
    p.add_argument("--sweep-methods", default="random,reinforce,evolution,local,dsm")
    p.add_argument("--workers", type=int, default=None)
    a = p.parse_args(argv)
    if a.method not in registry.QUERY_STRATEGIES:
        print(f"method {a.method!r} is not registered yet: nothing to time", file=sys.stderr)
        return 0
    load_nb201()
    for with_dir in (False, True):
        times = []
        for s in range(a.runs):
            with tempfile.TemporaryDirectory() as d:
                t0 = time.perf_counter()
                run_search(RunSpec(a.method, a.dataset, s, a.budget), run_dir=f"{d}/r" if with_dir else None,
                           progress=False)
                times.append(time.perf_counter() - t0)
        print(f"{a.method} on {a.dataset}, budget {a.budget}, {'with' if with_dir else 'without'} run dir: "
              f"mean {statistics.mean(times):.3f} s per run, min {min(times):.3f}, max {max(times):.3f} "
              f"({a.runs} runs)")
    if a.sweep_seeds:
        methods = [m for m in a.sweep_methods.split(",") if m in registry.QUERY_STRATEGIES]
        skipped = sorted(set(a.sweep_methods.split(",")) - set(methods))
        if skipped:
            print(f"not registered yet, skipped in the sweep: {', '.join(skipped)}", file=sys.stderr)
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            summ = sweep(d, methods, ["cifar10", "cifar100", "imagenet16-120"], a.sweep_seeds, budget=a.budget,
                         workers=a.workers, progress=False)
            wall = time.perf_counter() - t0
        print(f"sweep of {summ.total} runs ({', '.join(methods)} x 3 datasets x {a.sweep_seeds} seeds, "
              f"budget {a.budget}): {wall:.1f} s wall, {wall / summ.total:.3f} s per run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
