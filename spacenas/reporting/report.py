"""Aggregate finished run dirs into tables (Markdown, CSV), paired tests and best-so-far plots.

* Table: rows = methods, columns = datasets, cell = mean +- std of the **test** accuracy of each
  run's found architecture (like DSM-NAS Table II); as in DSM-NAS Table III, NinaPro is shown
  as test error (%) and Darcy as a score with four decimals (:mod:`spacenas.evaluators.units`).
  Hard constraints of the runs are stated above the table. ``std`` is the population standard deviation
  (``numpy.std``, ddof=0), the convention of NB201-style tables.
* Paired comparison: for every pair of methods and every dataset, the runs with the same seed are
  paired and compared with the **Wilcoxon signed-rank test** (``scipy.stats.wilcoxon``, two-sided,
  zero differences dropped, the "wilcox" convention). A p-value of 1 is reported when every
  paired difference is zero.
* Plots: see :mod:`spacenas.reporting.plots`.
"""
from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spacenas.errors import SpacenasError
from spacenas.reporting.order import DATASET_ORDER, METHOD_ORDER, ordered  # noqa: F401 (re-exported)
from spacenas.runner import RESULT, RunResult, read_json


@dataclass
class Stats:
    n: int
    mean: float
    std: float


@dataclass
class PairedTest:
    dataset: str
    a: str
    b: str
    n: int  # shared seeds
    mean_diff: float  # mean of (a - b) test accuracy
    p: float


@dataclass
class Report:
    markdown: str
    csv: str
    files: list[Path] = field(default_factory=list)


def load_runs(root: str | Path) -> list[RunResult]:
    """Every finished query or supernet-backed run (a dir holding ``result.json``) under ``root``."""
    root = Path(root)
    if not os.path.isdir(root):  # False (not an OSError) for a name too long to look up
        raise SpacenasError(f"cannot read run dir {root}: not a directory")
    try:
        paths = sorted(root.rglob(RESULT))
    except OSError as e:
        raise SpacenasError(f"cannot read run dir {root}: {e.strerror or e}") from None
    docs = [(p.parent, read_json(p, "run result")) for p in paths]
    for p, d in docs:
        if not isinstance(d, dict):
            raise SpacenasError(f"bad run result {p / RESULT}: not a JSON object")
    # query and supernet-backed runs (other kinds of run dir also hold a result.json: spacenas.runs)
    runs = run_results([(p, d) for p, d in docs if d.get("kind", "query") in ("query", "supernet")])
    if not runs:
        raise SpacenasError(f"no finished runs under {root} (a finished run dir holds {RESULT})")
    check_comparable(runs, root)
    return runs


#: result.json fields of query runs and the JSON types they must have (None allowed where optional)
_NUMBERS = ("budget", "spent", "score", "valid", "test", "optimum_valid", "optimum_test", "gap", "hypervolume",
            "exact_hypervolume", "hv_ratio")
_STRINGS = ("method", "space", "dataset", "search_metric", "arch", "optimum_valid_arch", "optimum_test_arch",
            "stopped")


def run_results(docs: list[tuple[Path, dict]]) -> list[RunResult]:
    """:class:`RunResult` of each ``(run dir, result.json content)``; a field of the wrong type is a
    one-line error naming the file and the field."""
    out = []
    for path, d in docs:
        where = Path(path) / RESULT
        if not isinstance(d, dict):
            raise SpacenasError(f"bad run result {where}: not a JSON object")
        for k in _NUMBERS:
            v = d.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise SpacenasError(f"bad run result {where}: {k!r} is {v!r} (allowed: a number or null)")
        for k in ("budget", "spent"):
            if k in d and d[k] is None:
                raise SpacenasError(f"bad run result {where}: {k!r} is null (allowed: a number)")
        for k in ("seed", "steps"):
            v = d.get(k)
            if k in d and (isinstance(v, bool) or not isinstance(v, int)):
                raise SpacenasError(f"bad run result {where}: {k!r} is {v!r} (allowed: an integer)")
        for k in _STRINGS:
            v = d.get(k)
            if v is not None and not isinstance(v, str):
                raise SpacenasError(f"bad run result {where}: {k!r} is {v!r} (allowed: a string or null)")
        for k in ("constraints", "objectives", "front"):
            v = d.get(k)
            if v is not None and not isinstance(v, list):
                raise SpacenasError(f"bad run result {where}: {k!r} is {v!r} (allowed: a list)")
        if d.get("metrics") is not None and not isinstance(d["metrics"], dict):
            raise SpacenasError(f"bad run result {where}: 'metrics' is not an object")
        try:
            out.append(RunResult.from_dict(d, run_dir=str(path)))
        except SpacenasError as e:
            raise SpacenasError(f"bad run result {where}: {e}") from None
    return out


def check_comparable(runs: list[RunResult], root: Path) -> None:
    """Refuse to pool runs made under different settings, or the same run twice (two sweeps)."""
    for name in ("space", "budget", "search_metric", "constraints"):
        values = {json.dumps(getattr(r, name, None), sort_keys=True) for r in runs}
        if len(values) > 1:
            raise SpacenasError(f"runs under {root} differ in {name} ({', '.join(sorted(values))}); "
                                "report one sweep (or settings) at a time")
    seen: dict[tuple, str] = {}
    for r in runs:
        key = (r.method, str(r.dataset), r.seed)
        if key in seen:
            raise SpacenasError(f"runs under {root} hold {r.method}/{r.dataset}/seed {r.seed} twice "
                                f"({seen[key]} and {r.run_dir}); report one sweep at a time")
        seen[key] = str(r.run_dir)


def stats(values) -> Stats:
    v = np.asarray(values, dtype=float)
    return Stats(len(v), float(v.mean()), float(v.std())) if len(v) else Stats(0, float("nan"), float("nan"))


def table(runs: list[RunResult], metric: str = "test") -> dict[tuple[str, str], Stats]:
    """``{(method, dataset): Stats}`` of ``metric`` (test, valid, gap, hv_ratio, ...) over seeds."""
    groups: dict[tuple[str, str], list[float]] = {}
    for r in runs:
        v = getattr(r, metric)
        if v is not None:
            groups.setdefault((r.method, str(r.dataset)), []).append(v)
    return {k: stats(v) for k, v in groups.items()}


def wilcoxon_p(a, b) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired samples (``scipy.stats.wilcoxon``, zero
    differences dropped); 1.0 if all differences are 0. Also the paired test of the DSM-NAS
    benchmark scripts (``benchmarks/dsm_common.py``)."""
    from scipy.stats import wilcoxon

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if not np.any(d != 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(wilcoxon(d).pvalue)


def paired_tests(runs: list[RunResult], pairs: list[tuple[str, str]] | None = None) -> list[PairedTest]:
    """Wilcoxon signed-rank tests of test accuracy over shared seeds, per dataset and method pair."""
    by = {(r.method, str(r.dataset), r.seed): r.test for r in runs if r.test is not None}
    methods = ordered({m for m, _, _ in by}, METHOD_ORDER)
    datasets = ordered({d for _, d, _ in by}, DATASET_ORDER)
    if pairs is None:
        pairs = [(b, a) for i, a in enumerate(methods) for b in methods[i + 1:]]
    out = []
    for ds in datasets:
        for a, b in pairs:
            seeds = sorted({s for m, d, s in by if m == a and d == ds} & {s for m, d, s in by if m == b and d == ds})
            if not seeds:
                continue
            xa = [by[(a, ds, s)] for s in seeds]
            xb = [by[(b, ds, s)] for s in seeds]
            out.append(PairedTest(ds, a, b, len(seeds), float(np.mean(xa) - np.mean(xb)), wilcoxon_p(xa, xb)))
    return out


def quality_cell(dataset: str, s: Stats) -> str:
    """``mean +- std (n)`` of test accuracy as the dataset is reported: error for NinaPro, a
    four-decimal score for Darcy (:mod:`spacenas.evaluators.units`)."""
    from spacenas.evaluators.units import digits, quality_value
    k = digits(dataset)
    return f"{quality_value(dataset, s.mean):.{k}f} +- {s.std:.{k}f} ({s.n})"


def quality_header(datasets: list[str]) -> str:
    """What the table's cells are, naming the data sets reported differently."""
    from spacenas.evaluators.units import quality_label
    other = [f"{d}: {quality_label(d).lower()}" for d in datasets if quality_label(d) != quality_label(None)]
    return "Test accuracy (%)" + (f" ({'; '.join(other)})" if other else "")


def constraint_note(runs: list[RunResult]) -> str:
    """``Constraints: latency:pixel3<=10 (found archs satisfy them).`` or ''."""
    cons = sorted({", ".join(r.constraints) for r in runs if r.constraints})
    if not cons:
        return ""
    infeasible = sum(1 for r in runs if r.constraints and not r.feasible)
    tail = f"; {infeasible} run(s) found nothing feasible" if infeasible else ""
    return f" Constraints: {'; '.join(cons)} (each found architecture satisfies them{tail})."


def markdown(runs: list[RunResult], tests: list[PairedTest] | None = None, images: list[str] = ()) -> str:
    from spacenas.evaluators.units import digits, quality_value
    tab = table(runs)
    methods = ordered({m for m, _ in tab}, METHOD_ORDER)
    datasets = ordered({d for _, d in tab}, DATASET_ORDER)
    budgets = sorted({r.budget for r in runs})
    metrics = sorted({str(r.search_metric) for r in runs})
    lines = [f"{quality_header(datasets)} of the found architecture, mean +- std over seeds (n runs). "
             f"Budget: {', '.join(f'{b:g}' for b in budgets)}; search metric: {', '.join(metrics)}."
             f"{constraint_note(runs)}", "",
             "| method | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    for m in methods:
        cells = [quality_cell(d, s) if (s := tab.get((m, d))) else "-" for d in datasets]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    opt = {str(r.dataset): r.optimum_test for r in runs if r.optimum_test is not None}
    if opt:
        lines.append("| *optimum* | " + " | ".join(f"{quality_value(d, opt[d]):.{digits(d)}f}" if d in opt else "-"
                                                   for d in datasets) + " |")
    tests = paired_tests(runs) if tests is None else tests
    if tests:
        lines += ["", "Paired comparison over shared seeds (Wilcoxon signed-rank, two-sided): "
                  "mean difference of test accuracy (A - B), p-value, number of pairs.", "",
                  "| A vs B | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
        for a, b in dict.fromkeys((t.a, t.b) for t in tests):
            cell = {t.dataset: f"{t.mean_diff:+.{digits(t.dataset)}f}, p={t.p:.2g} ({t.n})" for t in tests
                    if (t.a, t.b) == (a, b)}
            lines.append(f"| {a} vs {b} | " + " | ".join(cell.get(d, "-") for d in datasets) + " |")
    hv = table(runs, "hv_ratio")
    if hv:
        objs = sorted({", ".join(r.objectives) for r in runs if r.objectives})
        lines += ["", f"Hypervolume of the found Pareto front / exact front's ({'; '.join(objs)}), "
                  "mean +- std over seeds (n runs).", "",
                  "| method | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
        for m in ordered({m for m, _ in hv}, METHOD_ORDER):
            cells = [f"{s.mean:.4f} +- {s.std:.4f} ({s.n})" if (s := hv.get((m, d))) else "-" for d in datasets]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    if len(runs) == 1:  # one run: its answer
        r = runs[0]
        lines += ["", f"Found architecture ({r.method}, seed {r.seed}, {r.steps} steps, spent {r.spent:g} of "
                  f"{r.budget:g}, stopped by {r.stopped}): `{r.arch or 'none feasible'}`."]
    for img in images:
        lines += ["", f"![best so far]({img})"]
    return "\n".join(lines) + "\n"


def to_csv(runs: list[RunResult]) -> str:
    tabs = {k: table(runs, k) for k in ("test", "valid", "gap", "spent")}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "dataset", "n", "test_mean", "test_std", "valid_mean", "valid_std", "gap_mean",
                "gap_std", "spent_mean"])
    for m in ordered({k[0] for k in tabs["test"]}, METHOD_ORDER):
        for d in ordered({k[1] for k in tabs["test"]}, DATASET_ORDER):
            if (m, d) not in tabs["test"]:
                continue
            t, v, g, s = (tabs[k].get((m, d), Stats(0, float("nan"), float("nan")))
                          for k in ("test", "valid", "gap", "spent"))
            w.writerow([m, d, t.n] + [f"{x:.4f}" for x in (t.mean, t.std, v.mean, v.std, g.mean, g.std, s.mean)])
    return buf.getvalue()


def write_report(root: str | Path, out: str | Path | None = None, plots: bool = True) -> Report:
    """Write ``report.md``, ``report.csv`` and (with ``plots``) ``best_so_far_<dataset>.png`` of the
    query and supernet-backed runs under ``root`` (every kind of run dir:
    :func:`spacenas.reporting.kinds.write_report`)."""
    runs = load_runs(root)
    out = Path(out) if out is not None else Path(root)

    def build() -> Report:
        files: list[Path] = []
        if plots:
            from spacenas.reporting.plots import plot_all

            files = plot_all(runs, out)
        return Report(markdown(runs, images=[f.name for f in files]), to_csv(runs), files)
    return save_report(out, build)


def save_report(out: Path, build: Callable[[], Report]) -> Report:
    """Create ``out``, build the report (its plots are written there) and write its ``report.md``
    and ``report.csv``; an OS error on the way is one line naming ``out``."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        rep = build()
        for name, text in (("report.md", rep.markdown), ("report.csv", rep.csv)):
            (out / name).write_text(text)
            rep.files.append(out / name)
    except OSError as e:
        raise SpacenasError(f"cannot write the report in {out}: {e.strerror or e}") from None
    return rep
