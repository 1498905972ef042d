"""Plots of a one-shot search from its log (``run_dir/log.jsonl``, one record per epoch).

* **Per-edge op probabilities over epochs** (heatmaps): for every cell type of the record's
  ``mixing`` field (the strategy's deterministic per-op scores: softmax / Dirichlet mean /
  DDSAS Eq. 7 weights), one small heatmap per edge, ops x epochs, colour = probability.
* **Exploration** (DDSAS Fig. 5): the cosine distance between the mixing weights of adjacent
  epochs, ``1 - <m_t, m_{t-1}> / (|m_t| |m_{t-1}|)`` with all cells and edges flattened into
  one vector; large values = the architecture distribution still moves.

* **DrNAS accuracy range** (DrNAS Fig. 1, NB201 only): per epoch, 100 architectures sampled
  from the Dirichlet distributions (one ``theta ~ Dir(beta_e)`` per edge, argmax op), looked up
  in the NB201 table: min, mean and max test accuracy. Needs the concentrations ``beta`` in the
  record under ``concentration`` (``{"cell": [[...] x 6]}``) and ``benchmark.dataset``; the
  ``mixing`` field alone (the Dirichlet *mean*) does not determine them.
* **DDSAS sample counts** ``t_k``: drawn when the record holds ``sample_counts``
  (``{cell type: [[count per op] per edge]}``): total times each op was in a sampled subspace.

Records without these optional keys simply produce no such plot.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from spacenas.errors import SpacenasError


def load_log(path: str | Path) -> list[dict]:
    """Records of ``path`` (a run dir or its ``log.jsonl``) that carry ``mixing`` weights."""
    p = Path(path)
    p = p / "log.jsonl" if p.is_dir() else p
    if not p.is_file():
        raise SpacenasError(f"no one-shot log at {p} (expected a run dir with log.jsonl)")
    recs = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    recs = [r for r in recs if isinstance(r.get("mixing"), dict)]
    if not recs:
        raise SpacenasError(f"{p} has no records with 'mixing' weights (is it a one-shot search log?)")
    return recs


def mixing_series(records: list[dict]) -> dict[str, np.ndarray]:
    """``{cell type: array [epochs, edges, ops]}`` from the records' ``mixing`` fields."""
    keys = sorted(records[0]["mixing"])
    return {k: np.asarray([r["mixing"][k] for r in records], dtype=float) for k in keys}


def exploration(series: dict[str, np.ndarray]) -> np.ndarray:
    """Cosine distance between adjacent epochs (length ``epochs - 1``), all cells flattened."""
    m = np.concatenate([s.reshape(len(s), -1) for s in series.values()], axis=1)
    a, b = m[1:], m[:-1]
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return 1.0 - (a * b).sum(axis=1) / np.where(norm > 0, norm, 1.0)


def _labels(key: str, n_edges: int, n_ops: int) -> tuple[list[str], list[str]]:
    from spacenas.spaces import darts, nb201
    if n_ops == len(nb201.OPS) and n_edges == len(nb201.EDGES):
        return [f"{t}<-{s}" for t, s in nb201.EDGES], list(nb201.OPS)
    if n_ops == len(darts.SUPERNET_OPS) and n_edges == 14:
        return [f"n{i + 2}<-{j}" for i in range(4) for j in range(i + 2)], list(darts.SUPERNET_OPS)
    return [f"edge {e}" for e in range(n_edges)], [f"op {o}" for o in range(n_ops)]


def heatmap_figure(series: np.ndarray, key: str, cols: int = 7) -> Figure:
    """One heatmap per edge (ops x epochs) of one cell type's series ``[epochs, edges, ops]``."""
    t, n_edges, n_ops = series.shape
    edges, ops = _labels(key, n_edges, n_ops)
    cols = min(cols, n_edges)
    rows = -(-n_edges // cols)
    fig = Figure(figsize=(1.2 + 1.7 * cols, 0.6 + (0.25 * n_ops + 0.7) * rows), dpi=110)
    axes = fig.subplots(rows, cols, squeeze=False)
    im = None
    for e in range(rows * cols):
        ax = axes[e // cols][e % cols]
        if e >= n_edges:
            ax.axis("off")
            continue
        im = ax.imshow(series[:, e, :].T, aspect="auto", vmin=0.0, vmax=1.0, cmap="viridis",
                       extent=(0.5, t + 0.5, n_ops - 0.5, -0.5), interpolation="nearest")
        ax.set_title(edges[e], fontsize=8)
        ax.set_yticks(range(n_ops))
        ax.set_yticklabels(ops if e % cols == 0 else [], fontsize=6)
        ax.tick_params(axis="x", labelsize=6)
    fig.suptitle(f"{key}: op probability per edge over epochs", fontsize=10, y=1.0 + 0.12 / rows)
    fig.supxlabel("epoch", fontsize=8, y=-0.02)
    fig.colorbar(im, ax=axes, shrink=0.8, label="probability")
    return fig


def exploration_figure(series: dict[str, np.ndarray]) -> Figure:
    d = exploration(series)
    fig = Figure(figsize=(5.5, 3.2), dpi=110)
    ax = fig.add_subplot()
    ax.plot(np.arange(2, len(d) + 2), d, marker="o", ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cosine distance to previous epoch")
    ax.set_title("exploration (DDSAS Fig. 5)", fontsize=10)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def dirichlet_accuracy_range(concentration: np.ndarray, lookup, rng: np.random.Generator, n: int = 100
                             ) -> tuple[float, float, float]:
    """(min, mean, max) of ``lookup(arch)`` over ``n`` NB201 archs sampled from per-edge Dirichlets
    ``concentration [6, 5]``: ``theta_e ~ Dir(beta_e)``, op of edge ``e`` = argmax ``theta_e``."""
    from spacenas.spaces.nb201 import NB201Space
    space = NB201Space()
    beta = np.asarray(concentration, dtype=float)
    accs = []
    for _ in range(n):
        ops = []
        for b in beta:  # entries <= 0: ops pruned by progressive learning, never sampled
            active = np.flatnonzero(b > 0)
            ops.append(active[int(np.argmax(rng.dirichlet(b[active])))] if len(active) > 1 else active[0])
        accs.append(float(lookup(space.make(ops))))
    return min(accs), float(np.mean(accs)), max(accs)


def accuracy_range_figure(records: list[dict], rng: np.random.Generator, n: int = 100) -> Figure | None:
    """DrNAS Fig. 1 from records with ``concentration`` and ``benchmark.dataset`` (else ``None``)."""
    rows = [r for r in records if isinstance(r.get("concentration"), dict) and "cell" in r["concentration"]
            and isinstance(r.get("benchmark"), dict) and r["benchmark"].get("dataset")]
    if not rows:
        return None
    from spacenas.benchmarks.nb201 import load_nb201
    bench = load_nb201()
    dataset = rows[0]["benchmark"]["dataset"]
    ranges = np.array([dirichlet_accuracy_range(np.asarray(r["concentration"]["cell"]),
                                                lambda a: bench.accuracy(a, dataset, "test"), rng, n) for r in rows])
    epochs = np.array([r.get("epoch", i) for i, r in enumerate(rows)]) + 1
    fig = Figure(figsize=(5.5, 3.2), dpi=110)
    ax = fig.add_subplot()
    ax.fill_between(epochs, ranges[:, 0], ranges[:, 2], alpha=0.3, label=f"min-max of {n} sampled archs")
    ax.plot(epochs, ranges[:, 1], label="mean")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"NB201 {dataset} test acc (%)")
    ax.set_title("DrNAS: accuracy range of sampled architectures", fontsize=10)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sample_counts_figure(records: list[dict]) -> Figure | None:
    """DDSAS ``t_k``: per cell type, each op's count (summed over edges) over the epochs, and a
    bar chart of the last record's counts per op."""
    rows = [r for r in records if isinstance(r.get("sample_counts"), dict)]
    if not rows:
        return None
    keys = sorted(rows[-1]["sample_counts"])
    epochs = np.array([r.get("epoch", i) for i, r in enumerate(rows)]) + 1
    fig = Figure(figsize=(5.0 * (len(keys) + 1), 3.4), dpi=110)
    axes = fig.subplots(1, len(keys) + 1, squeeze=False)[0]
    width = 0.8 / len(keys)
    for i, k in enumerate(keys):
        c = np.asarray([r["sample_counts"][k] for r in rows], dtype=float)  # [epochs, edges, ops]
        _, ops = _labels(k, c.shape[1], c.shape[2])
        ax = axes[i]
        for o, name in enumerate(ops):
            ax.plot(epochs, c[:, :, o].sum(axis=1), marker="o", ms=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("t_k summed over edges")
        ax.set_title(f"{k}: times in a sampled subspace", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=6)
        ax.grid(alpha=0.3)
        bar = axes[-1]
        bar.bar(np.arange(len(ops)) + i * width, c[-1].sum(axis=0), width, label=k)
        bar.set_xticks(np.arange(len(ops)) + width * (len(keys) - 1) / 2, ops, rotation=30, ha="right", fontsize=7)
    it = rows[-1].get("sample_iterations")
    axes[-1].set_title(f"after epoch {epochs[-1]}" + (f" ({it} sampling iterations)" if it else ""), fontsize=9)
    axes[-1].legend(fontsize=7)
    fig.suptitle("DDSAS sample counts t_k", fontsize=10)
    fig.tight_layout()
    return fig


def write_search_plots(run: str | Path, out: str | Path | None = None, seed: int = 0) -> list[Path]:
    """Heatmaps (``mixing_<key>.png``), ``exploration.png`` and, when the log has their data,
    ``accuracy_range.png`` and ``sample_counts.png`` of a one-shot run into ``out``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    records = load_log(run)
    series = mixing_series(records)
    out = Path(out) if out is not None else (Path(run) if Path(run).is_dir() else Path(run).parent)
    out.mkdir(parents=True, exist_ok=True)
    figs = {f"mixing_{k}.png": heatmap_figure(s, k) for k, s in series.items()}
    if len(next(iter(series.values()))) > 1:
        figs["exploration.png"] = exploration_figure(series)
    for name, fig in (("accuracy_range.png", accuracy_range_figure(records, np.random.default_rng(seed))),
                      ("sample_counts.png", sample_counts_figure(records))):
        if fig is not None:
            figs[name] = fig
    paths = []
    for name, fig in figs.items():
        FigureCanvasAgg(fig)
        fig.savefig(out / name, bbox_inches="tight")
        paths.append(out / name)
    return paths
