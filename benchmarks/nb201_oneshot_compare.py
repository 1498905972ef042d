"""DARTS vs GDAS vs DrNAS on the NB201 supernet with the embedded digits data (CPU, minutes).

For every method and seed: search on the 50/50 split of scikit-learn's 8x8 digits with a small
supernet, derive the arch, and score it by the **shipped NB201 table (CIFAR-10 test accuracy,
200-epoch protocol)** -- a proxy: the arch was searched on digits, not on CIFAR-10. Also
printed: the number of ``skip_connect`` edges in the derived arch and the mean final
probability of ``skip_connect`` over the 6 edges (the DARTS skip-connection collapse).

    OMP_NUM_THREADS=1 python benchmarks/nb201_oneshot_compare.py --seeds 3 --epochs 10 --C 8 --N 1

The default architecture learning rate is raised from the papers' 3e-4 (tuned for 100 epochs of
~390 steps) to 3e-3, equally for all methods, so that a few hundred steps move the arch.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from spacenas.benchmarks.nb201 import load_nb201
from spacenas.oneshot_cli import build_search
from spacenas.spaces.nb201 import OPS
from spacenas.strategies.oneshot.loop import search


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default="darts,gdas,drnas")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--C", type=int, default=8)
    p.add_argument("--N", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--arch-lr", type=float, default=3e-3)
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    bench = load_nb201()
    skip = OPS.index("skip_connect")
    print(f"NB201 supernet C={a.C} N={a.N}, digits, {a.epochs} epochs, batch {a.batch_size}, arch lr {a.arch_lr}, "
          f"device {a.device}; score = shipped NB201 CIFAR-10 test accuracy (200 epochs)")
    print(f"{'method':<7} {'seed':>4} {'test%':>6} {'#skip':>5} {'p(skip)':>7} {'time s':>6}  arch")
    rows: dict[str, list[tuple[float, int, float]]] = {}
    for method in a.methods.split(","):
        for seed in range(a.seeds):
            t0 = time.perf_counter()
            built = build_search("nb201", method, "digits", seed=seed, epochs=a.epochs, device=a.device,
                                 options={"C": a.C, "N": a.N, "batch_size": a.batch_size, "arch_lr": a.arch_lr})
            res = search(built.strategy, built.supernet, built.train, built.valid, built.loop, progress=False)
            dt = time.perf_counter() - t0
            acc = bench.accuracy(res.arch, "cifar10", "test")
            n_skip = sum(c == skip for c in res.arch.choices)
            p_skip = statistics.mean(row[skip] for row in res.scores["cell"])
            rows.setdefault(method, []).append((acc, n_skip, p_skip))
            print(f"{method:<7} {seed:>4} {acc:>6.2f} {n_skip:>5} {p_skip:>7.3f} {dt:>6.1f}  {res.arch_text}", flush=True)
    print("\nsummary (mean +- std over seeds)")
    for method, r in rows.items():
        accs = [x[0] for x in r]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{method:<7} test {statistics.mean(accs):6.2f} +- {sd:5.2f}   skip edges {statistics.mean(x[1] for x in r):.2f}"
              f"   p(skip) {statistics.mean(x[2] for x in r):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
