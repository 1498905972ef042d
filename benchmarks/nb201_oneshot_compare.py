"""DARTS vs GDAS vs DrNAS vs DDSAS vs A-DARTS on the NB201 supernet (CPU, minutes).

For every method and seed: search on the 50/50 search split of the data (default: the embedded
8x8 digits) with the same small supernet (``C``, ``N``), the same epochs, batch size and
architecture learning rate, derive the arch, and score it by the **shipped NB201 table
(CIFAR-10 test accuracy, 200-epoch protocol)** -- a proxy: the arch was searched on digits, not
trained or evaluated on CIFAR-10. Printed per run: the table accuracy, the number of
``skip_connect`` and ``none`` edges of the derived arch (of 6), the final mixing weight of
``skip_connect`` averaged over the 6 edges, wall and process-CPU seconds, and the arch.

    OMP_NUM_THREADS=1 python benchmarks/nb201_oneshot_compare.py --seeds 3 --epochs 20 --C 8 --N 1

Choices (the same for every method unless said):

* ``--arch-lr`` 3e-3 for all methods (the papers' 3e-4 / 6e-4 are tuned for 50-100 epochs of
  ~390 steps; a few hundred steps need a larger step to move the arch). A-DARTS's activation
  parameters (``act_lr``) get the same rate.
* DDSAS samples L=12 of the 30 (edge, op) pairs of the NB201 cell at a time (the paper's NB201
  value) and resamples every ``--ddsas-M`` architecture steps. The paper's M=30 with ~390 steps
  per epoch resamples ~13 times an epoch; digits has 12 steps per epoch, so the default here is
  M=4 (3 samplings per epoch); ``--ddsas-M 30`` gives the paper's value.
* DDSAS derives by saliency and its mixing weight is Eq. 7 inside the sampled subspace (0 for an
  op outside it), so its ``p(skip)`` is not comparable with the softmax / Dirichlet means of the
  other methods. A-DARTS is scored by its op part (the table has no activations); its arch
  column carries the activation per conv edge.
* ``--data fashion-mnist`` (Debian's ``dataset-fashion-mnist``) with ``--max-steps`` caps the
  steps per epoch, i.e. each epoch sees a random ``max_steps * batch`` subsample.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spacenas.benchmarks.nb201 import load_nb201
from spacenas.strategies.oneshot.build import build_search
from spacenas.spaces.nb201 import OPS, NB201Space
from spacenas.strategies.oneshot.loop import OneShotResult, search

METHODS = ("darts", "gdas", "drnas", "ddsas", "adarts")


@dataclass
class Run:
    """One search: its result, the per-epoch derived archs (op part) and its cost."""

    method: str
    seed: int
    result: OneShotResult
    epoch_archs: list = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    strategy: Any = None


def method_options(method: str, a: argparse.Namespace) -> dict[str, Any]:
    """The options passed to :func:`build_search` for ``method`` (see the module docstring)."""
    opts: dict[str, Any] = {"C": a.C, "N": a.N, "batch_size": a.batch_size, "arch_lr": a.arch_lr}
    if a.max_steps is not None:
        opts["max_steps"] = a.max_steps
    if method == "adarts":
        opts["act_lr"] = a.arch_lr
    if method == "ddsas":
        opts["M"] = a.ddsas_M
    return opts


def run_method(method: str, seed: int, a: argparse.Namespace) -> Run:
    """Build and run one search; ``a`` holds ``C, N, epochs, batch_size, arch_lr, ddsas_M,
    max_steps, data, data_dir, device``."""
    space = NB201Space()
    t0, c0 = time.perf_counter(), time.process_time()
    built = build_search("nb201", method, a.data, data_dir=a.data_dir, seed=seed, epochs=a.epochs,
                         device=a.device, options=method_options(method, a))
    res = search(built.strategy, built.supernet, built.train, built.valid, built.loop, progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # the loop logs the arch text per epoch; A-DARTS appends " @act=..." to the op part
    archs = [space.parse(rec["arch"].split(" @")[0]) for rec in res.history]
    return Run(method, seed, res, archs, wall, cpu, built.strategy)


def add_common_args(p: argparse.ArgumentParser, methods: str, epochs: int) -> None:
    p.add_argument("--methods", default=methods, help=f"comma-separated, from {','.join(METHODS)}")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--C", type=int, default=8)
    p.add_argument("--N", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--arch-lr", type=float, default=3e-3)
    p.add_argument("--ddsas-M", type=int, default=4)
    p.add_argument("--data", default="digits", help="digits (embedded) or fashion-mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--max-steps", type=int, default=None, help="cap on steps per epoch")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-times", dest="times", action="store_false",
                   help="leave out wall and CPU seconds (the rest of the output is deterministic; docs show it)")


def header(a: argparse.Namespace) -> str:
    cap = f", max {a.max_steps} steps/epoch" if a.max_steps else ""
    return (f"NB201 supernet C={a.C} N={a.N}, {a.data}, {a.epochs} epochs{cap}, batch {a.batch_size}, "
            f"arch lr {a.arch_lr}, DDSAS L=12 of 30 ops M={a.ddsas_M}, device {a.device}")


def data_line(a: argparse.Namespace) -> str:
    """The data the searches see: the 50/50 search split and the steps per epoch (as the loop counts them)."""
    import torch

    from spacenas.data import load_dataset

    data = load_dataset(a.data, a.data_dir)
    train, valid = data.search_split(torch.Generator().manual_seed(2))
    steps = -(-len(train) // a.batch_size)
    if a.max_steps is not None:
        steps = min(steps, a.max_steps)
    return (f"data: {a.data}, search split {len(train)} / {len(valid)} of {len(data.train)} training images, "
            f"{steps} steps of batch {a.batch_size} per epoch")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p, ",".join(METHODS), 20)
    a = p.parse_args(argv)
    methods = a.methods.split(",")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        p.error(f"unknown method(s) {', '.join(bad)} (allowed: {', '.join(METHODS)})")
    bench = load_nb201()
    col = bench.metrics[:, bench.column("cifar10", "test")]
    skip, none = OPS.index("skip_connect"), OPS.index("none")
    print(header(a))
    print(data_line(a))
    print(f"score = shipped NB201 CIFAR-10 test accuracy (200 epochs) of the derived arch, a proxy "
          f"(table: best {col.max():.2f}, mean of all {len(col)} archs {col.mean():.2f})")
    times = f" {'wall s':>6} {'cpu s':>6}" if a.times else ""
    print(f"{'method':<7} {'seed':>4} {'test%':>6} {'#skip':>5} {'#none':>5} {'p(skip)':>7}{times}  arch")
    rows: dict[str, list[tuple[float, int, int, float, float, float]]] = {}
    for method in methods:
        for seed in range(a.seeds):
            r = run_method(method, seed, a)
            arch = r.result.arch
            acc = bench.accuracy(arch, "cifar10", "test")
            n_skip = sum(c == skip for c in arch.choices)
            n_none = sum(c == none for c in arch.choices)
            p_skip = float(np.mean([row[skip] for row in r.result.scores["cell"]]))
            rows.setdefault(method, []).append((acc, n_skip, n_none, p_skip, r.wall_s, r.cpu_s))
            t = f" {r.wall_s:>6.1f} {r.cpu_s:>6.1f}" if a.times else ""
            print(f"{method:<7} {seed:>4} {acc:>6.2f} {n_skip:>5} {n_none:>5} {p_skip:>7.3f}{t}  {r.result.arch_text}",
                  flush=True)
    print(f"\nsummary (mean +- std over {a.seeds} seeds)")
    print(f"{'method':<7} {'test%':>14} {'#skip':>5} {'#none':>5} {'p(skip)':>7}{times}")
    for method, r in rows.items():
        accs = [x[0] for x in r]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        m = [statistics.mean(x[i] for x in r) for i in range(1, 6)]
        t = f" {m[3]:>6.1f} {m[4]:>6.1f}" if a.times else ""
        print(f"{method:<7} {statistics.mean(accs):6.2f} +- {sd:5.2f} {m[0]:>5.2f} {m[1]:>5.2f} {m[2]:>7.3f}{t}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
