"""DSM-NAS Fig. 6a on NAS-Bench-201: accuracy difference vs architecture distance, whole table.

    python benchmarks/dsm_distance.py                       # all 15,625 x 15,624 / 2 pairs
    python benchmarks/dsm_distance.py --quick --png /tmp/d.png   # 400 random archs (smoke test)

Distance = number of edges whose op differs (Eq. 4, ``SearchSpace.distance``). For every pair of
distinct archs of the shipped table (or of ``--archs N`` random ones) and each data set, the
absolute difference of the 200-epoch test accuracies (percentage points) is grouped by distance;
printed as mean (standard deviation) and median [quartiles] per distance, and plotted to
``--png`` (median with quartile bars, mean dashed; the distribution is heavy-tailed: a few
archs that cannot train sit near 10 % accuracy, so mean +- std would reach below 0).
The paper (Sec. V-A, "100 trials") reports, in NB201, a mean difference of 4.49 at distance 1 and
6.69 at distance 2, with spread 6.1 and 9.5.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

DATASETS = ["cifar10", "cifar100", "imagenet16-120"]
PAPER = {1: "4.49 (6.1)", 2: "6.69 (9.5)"}


BIN = 0.05  # histogram bin (percentage points) for the quantiles


def distance_stats(ops: np.ndarray, accs: list[np.ndarray], block: int = 256,
                   hist: np.ndarray | None = None) -> np.ndarray:
    """``out[k, d] = (count, sum |diff|, sum diff^2)`` over unordered pairs at distance d, per accuracy
    vector k. Exact; computed in row blocks over the upper triangle. If ``hist`` ([k, L + 1, n_bins])
    is given, the counts of |diff| in bins of ``BIN`` points are added to it (last bin: the rest)."""
    n, L = ops.shape
    out = np.zeros((len(accs), L + 1, 3))
    ops = ops.astype(np.int8)
    for i0 in range(0, n, block):
        i1 = min(n, i0 + block)
        d = (ops[i0:i1, None, :] != ops[None, i0:, :]).sum(-1)  # [b, n - i0]
        upper = np.arange(i0, n)[None, :] > np.arange(i0, i1)[:, None]
        dd = d[upper]
        for k, a in enumerate(accs):
            diff = np.abs(a[i0:i1, None] - a[None, i0:])[upper]
            out[k, :, 0] += np.bincount(dd, minlength=L + 1)
            out[k, :, 1] += np.bincount(dd, weights=diff, minlength=L + 1)
            out[k, :, 2] += np.bincount(dd, weights=diff * diff, minlength=L + 1)
            if hist is not None:
                nb = hist.shape[2]
                idx = dd * nb + np.minimum((diff / BIN).astype(np.int64), nb - 1)
                hist[k] += np.bincount(idx, minlength=(L + 1) * nb).reshape(L + 1, nb)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", type=int, default=0, help="use N random archs (seed --seed) instead of all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--png", default="docs/dsm-distance.png", help="where to save the plot ('' for none)")
    p.add_argument("--quick", action="store_true", help="400 random archs (smoke test)")
    a = p.parse_args(argv)
    if a.quick:
        a.archs = a.archs or 400
    from spacenas.benchmarks import load_nb201

    b = load_nb201()
    rows = np.arange(len(b.ops))
    if a.archs:
        rows = np.sort(np.random.default_rng(a.seed).choice(rows, a.archs, replace=False))
    accs = [b.column_values(ds, "test")[rows].astype(float) for ds in DATASETS]
    ops = np.asarray(b.ops)[rows]
    hist = np.zeros((len(DATASETS), ops.shape[1] + 1, int(100 / BIN) + 1))
    st = distance_stats(ops, accs, hist=hist)
    print(f"$ python benchmarks/dsm_distance.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    what = "all" if not a.archs else f"{a.archs} random (seed {a.seed})"
    print(f"NB201 shipped table, {what} archs, all unordered pairs: |test accuracy difference| (percentage points) "
          "by distance (number of differing edges): mean (std); median [quartiles] to 0.05\n")
    print("| distance | pairs | " + " | ".join(DATASETS) + " | paper (NB201, mean (spread)) |")
    print("|---|---|" + "---|" * (len(DATASETS) + 1))
    means, stds = np.zeros((len(DATASETS), st.shape[1])), np.zeros((len(DATASETS), st.shape[1]))
    quart = np.zeros((len(DATASETS), st.shape[1], 3))
    for d in range(1, st.shape[1]):
        cnt = st[0, d, 0]
        if cnt == 0:
            continue
        cells = []
        for k in range(len(DATASETS)):
            m = st[k, d, 1] / cnt
            sd = np.sqrt(max(st[k, d, 2] / cnt - m * m, 0.0))
            means[k, d], stds[k, d] = m, sd
            cdf = np.cumsum(hist[k, d]) / cnt
            quart[k, d] = [np.searchsorted(cdf, q) * BIN for q in (0.25, 0.5, 0.75)]  # bin lower edges
            cells.append(f"{m:.2f} ({sd:.2f}); {quart[k, d, 1]:.2f} [{quart[k, d, 0]:.2f}, {quart[k, d, 2]:.2f}]")
        print(f"| {d} | {int(cnt)} | " + " | ".join(cells) + f" | {PAPER.get(d, '-')} |")
    if a.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ds_ = np.arange(1, st.shape[1])
        for k, ds in enumerate(DATASETS):
            x = ds_ + (k - 1) * 0.08
            line = ax.errorbar(x, quart[k, 1:, 1], yerr=[quart[k, 1:, 1] - quart[k, 1:, 0],
                                                         quart[k, 1:, 2] - quart[k, 1:, 1]],
                               marker="o", capsize=3, label=f"{ds}: median, quartiles")
            ax.plot(x, means[k, 1:], ls="--", marker="x", color=line[0].get_color(), label=f"{ds}: mean")
        ax.set_xlabel("architecture distance (differing edges)")
        ax.set_ylabel("|test accuracy difference| (pp)")
        ax.set_title(f"NB201, {what} archs", fontsize=10)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(a.png, dpi=110)
        print(f"\nplot: {a.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
