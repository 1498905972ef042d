"""Best-so-far versus budget plots (matplotlib ``Figure`` on an Agg canvas, no pyplot state; PNG).

For each run, the curve at budget ``b`` is the test accuracy of the best architecture *by the
search metric* among those queried once ``spent <= b`` (the ``best_test`` column of the run's
log). One line per method: the mean over seeds, with a band of +- one standard error; the
dashed line is the table's best test accuracy.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from spacenas.reporting.order import DATASET_ORDER, METHOD_ORDER, ordered
from spacenas.runner import RunResult, read_log


def best_so_far(events: list[dict], grid: np.ndarray, key: str = "best_test") -> np.ndarray:
    """``key`` (``best_test``) of the last event with ``spent <= g`` for each ``g`` in ``grid`` (nan
    before any)."""
    spent = np.array([e["spent"] for e in events], dtype=float)
    best = np.array([np.nan if e.get(key) is None else e[key] for e in events], dtype=float)
    idx = np.searchsorted(spent, grid, side="right") - 1
    out = np.full(len(grid), np.nan)
    ok = idx >= 0
    out[ok] = best[idx[ok]]
    return out


def curve_key(runs: list[RunResult], dataset: str) -> str:
    """``best_test`` when the runs' logs hold test accuracies (tables), else ``best_score``: a
    supernet-backed run (MobileNet) measures test accuracy for its answer only, so its curve is
    the best search score (the supernet's validation accuracy) so far."""
    for r in runs:
        if str(r.dataset) == dataset and r.run_dir and any(e.get("best_test") is not None for e in read_log(r.run_dir)):
            return "best_test"
    return "best_score"


def curves(runs: list[RunResult], dataset: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Budget grid and ``{method: array [n_runs, len(grid)]}`` for one dataset (see :func:`curve_key`)."""
    rs = [r for r in runs if str(r.dataset) == dataset and r.run_dir]
    budget = max(r.budget for r in rs)
    grid = np.arange(1, int(math.ceil(budget)) + 1, dtype=float) if budget <= 5000 else np.linspace(0, budget, 1001)
    key = curve_key(runs, dataset)
    by: dict[str, list[np.ndarray]] = {}
    for r in rs:
        by.setdefault(r.method, []).append(best_so_far(read_log(r.run_dir), grid, key))
    return grid, {m: np.vstack(v) for m, v in by.items()}


def plot_dataset(runs: list[RunResult], dataset: str, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    grid, cs = curves(runs, dataset)
    fig = Figure(figsize=(6.4, 4.2), dpi=120)  # no pyplot: no global figure state, Agg canvas
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lows = []
    for m in ordered(cs, METHOD_ORDER):
        c = cs[m]
        mean = np.nanmean(c, axis=0)
        se = np.nanstd(c, axis=0) / np.sqrt(np.maximum(np.sum(~np.isnan(c), axis=0), 1))
        ax.plot(grid, mean, label=f"{m} (n={len(c)})", lw=1.6)
        ax.fill_between(grid, mean - se, mean + se, alpha=0.2)
        tail = mean[grid >= 0.1 * grid[-1]]
        if np.any(~np.isnan(tail)):
            lows.append(np.nanmin(tail))
    opt = next((r.optimum_test for r in runs if str(r.dataset) == dataset and r.optimum_test is not None), None)
    if opt is not None:
        ax.axhline(opt, color="k", ls="--", lw=1, label=f"optimum {opt:.2f}")
    if lows:
        top = opt if opt is not None else max(np.nanmax(np.nanmean(c, axis=0)) for c in cs.values())
        low = min(lows)
        ax.set_ylim(low - 0.05 * (top - low + 1e-9), top + 0.1 * (top - low + 1e-9))
    from spacenas.evaluators.units import unit
    metric = next((r.search_metric for r in runs if str(r.dataset) == dataset), "valid")
    u = unit("test", dataset)
    what = "test accuracy" if curve_key(runs, dataset) == "best_test" else f"search score ({metric})"
    if not u:  # darcy: a score
        what = what.replace("accuracy", "score")
    ax.set_xlabel("budget spent (queries)")
    ax.set_ylabel(f"{what}{f' ({u})' if u else ''} of best-so-far arch")
    ax.set_title(f"{dataset}: best so far by {metric} (mean +- s.e. over seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_all(runs: list[RunResult], out: Path) -> list[Path]:
    """One PNG per dataset: ``out/best_so_far_<dataset>.png``."""
    datasets = ordered({str(r.dataset) for r in runs if r.run_dir}, DATASET_ORDER)
    return [plot_dataset(runs, d, Path(out) / f"best_so_far_{d}.png") for d in datasets]


def plot_pareto(table: np.ndarray, exact: np.ndarray, found: np.ndarray, names: tuple[str, str], path: Path,
                title: str = "", found_label: str = "found front", dataset: str | None = None) -> Path:
    """Pareto plot of two objectives (natural units, not negated): every table point faint, the
    exact front (black line) and the found front (red markers). ``table``/``exact``/``found``: [n, 2]."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    t = np.asarray(table, dtype=float).reshape(-1, 2)
    ax.scatter(t[:, 1], t[:, 0], s=3, c="0.75", alpha=0.35, lw=0, label=f"table ({len(t)} archs)")
    for pts, style in ((exact, dict(color="k", lw=1.2, marker=".", ms=4, label="exact front")),
                       (found, dict(color="tab:red", lw=1.0, marker="o", ms=5, mfc="none", label=found_label))):
        p = np.asarray(pts, dtype=float).reshape(-1, 2)
        p = p[np.argsort(p[:, 1], kind="stable")]
        ax.plot(p[:, 1], p[:, 0], drawstyle="steps-post", **style)
    from spacenas.evaluators.units import axis_label
    ax.set_xlabel(axis_label(names[1], dataset))
    ax.set_ylabel(axis_label(names[0], dataset))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_pareto_run(res: RunResult, out: str | Path, name: str = "pareto.png") -> Path:
    """``out/pareto.png`` of a finished two-objective run (accuracy on the y axis when it is the first
    objective): the run's table (with its constraints) faint, the exact feasible front, the found front."""
    from spacenas.evaluators.constraints import parse_objectives
    from spacenas.evaluators.hw_tabular import make_hw_evaluator
    from spacenas.evaluators.multiobjective import report_objectives

    ev = make_hw_evaluator(str(res.dataset), res.search_metric or "valid", constraints=res.constraints,
                           objectives=",".join(res.objectives))
    objs = report_objectives(parse_objectives(",".join(res.objectives)), ev.search_metric)
    cols = np.stack([ev.metric_values(o.metric) for o in objs], axis=1)
    exact = cols[ev.exact_front(objs)]
    found = np.array([[row[n] for n in res.objectives] for row in res.front]).reshape(-1, 2)
    title = (f"{res.method} on {res.dataset}, seed {res.seed}, {res.steps} steps: "
             f"HV ratio {res.hv_ratio:.3f}" if res.hv_ratio is not None else f"{res.method} on {res.dataset}")
    return plot_pareto(cols[ev.feasible_mask], exact, found, (res.objectives[0], res.objectives[1]),
                       Path(out) / name, title=title, dataset=str(res.dataset))
