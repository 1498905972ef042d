"""Exploration curves on the NB201 supernet: DARTS vs GDAS vs DDSAS (DDSAS Fig. 1a / Fig. 5).

After every epoch each method derives an arch (DARTS, GDAS: argmax of softmax(alpha) per edge;
DDSAS: highest saliency). The exploration of epoch e is the cosine distance between the one-hot
encodings of the archs derived after epochs e-1 and e (``ddsas_math.exploration_curve``); on NB201
it is ``1 - (edges unchanged) / 6``, so 0 means "same arch", 1/6 one edge changed, 1 all six.
Curves are averaged over seeds, printed as a table per epoch and saved as a PNG line plot.

    OMP_NUM_THREADS=1 python benchmarks/exploration.py --seeds 3 --epochs 30 --C 8 --N 1 \\
        --png docs/oneshot-exploration.png

Same setting and choices as ``nb201_oneshot_compare.py`` (arch lr 3e-3 for all, DDSAS L=12 of
30 ops, resampled every ``--ddsas-M`` = 4 arch steps, embedded digits data).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

from spacenas.spaces.nb201 import NB201Space
from spacenas.strategies.oneshot.ddsas_math import exploration_curve


def _compare_module():
    """``nb201_oneshot_compare.py`` next to this file (benchmarks/ is not a package)."""
    path = Path(__file__).with_name("nb201_oneshot_compare.py")
    if "nb201_oneshot_compare" in sys.modules:
        return sys.modules["nb201_oneshot_compare"]
    spec = importlib.util.spec_from_file_location("nb201_oneshot_compare", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def mean_curves(curves: dict[str, list[list[float]]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per method: (mean, std) over seeds of equally long curves, epoch by epoch."""
    out = {}
    for m, cs in curves.items():
        arr = np.asarray(cs, float)
        out[m] = (arr.mean(axis=0), arr.std(axis=0))
    return out


def save_plot(stats: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for m, (mean, std) in stats.items():
        x = np.arange(1, len(mean) + 1)
        ax.plot(x, mean, marker="o", markersize=3, label=f"{m.upper()} (band: +-1 std over seeds)")
        ax.fill_between(x, np.clip(mean - std, 0, None), mean + std, alpha=0.15)
    ax.set_xlabel("epoch e (distance between the archs derived after epochs e-1 and e)")
    ax.set_ylabel("cosine distance (mean over seeds)")
    ax.set_title(title, fontsize=9)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    cmp = _compare_module()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cmp.add_common_args(p, "darts,gdas,ddsas", 30)
    p.add_argument("--png", default="oneshot-exploration.png", help="where to save the line plot")
    a = p.parse_args(argv)
    methods = a.methods.split(",")
    bad = [m for m in methods if m not in cmp.METHODS]
    if bad:
        p.error(f"unknown method(s) {', '.join(bad)} (allowed: {', '.join(cmp.METHODS)})")
    if a.epochs < 2:
        p.error("--epochs must be >= 2 (a curve needs two derived archs)")
    space = NB201Space()
    print(cmp.header(a))
    print("exploration = cosine distance between the one-hot archs derived after adjacent epochs "
          "(NB201: 1 - unchanged edges / 6)")
    curves: dict[str, list[list[float]]] = {}
    changes: dict[str, list[int]] = {}
    for method in methods:
        for seed in range(a.seeds):
            r = cmp.run_method(method, seed, a)
            curve = exploration_curve([space.one_hot(x) for x in r.epoch_archs])
            curves.setdefault(method, []).append(curve)
            changes.setdefault(method, []).append(sum(d > 0 for d in curve))
            print(f"{method:<6} seed {seed}: {sum(curve):.3f} total distance, {changes[method][-1]} of "
                  f"{len(curve)} epochs changed the arch, final {r.result.arch_text}"
                  + (f" ({r.wall_s:.1f} s)" if a.times else ""), flush=True)
    stats = mean_curves(curves)
    print(f"\nmean cosine distance over {a.seeds} seeds, per epoch")
    print(f"{'epoch':>5} " + " ".join(f"{m:>8}" for m in methods))
    for e in range(a.epochs - 1):
        print(f"{e + 1:>5} " + " ".join(f"{stats[m][0][e]:>8.3f}" for m in methods))
    print(f"{'mean':>5} " + " ".join(f"{stats[m][0].mean():>8.3f}" for m in methods))
    title = (f"NB201 C={a.C} N={a.N}, {a.data}, {a.epochs} epochs, {a.seeds} seeds "
             f"(DDSAS L=12, M={a.ddsas_M})")
    save_plot(stats, a.png, title)
    print(f"plot: {a.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
