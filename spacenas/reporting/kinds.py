"""What ``spacenas report`` shows for each kind of run dir (:mod:`spacenas.runs`).

:data:`READERS` maps a run-dir kind to its reader; a reader takes every finished run dir of its
kind found under the reported directory (one or many) and returns a :class:`Section`: paragraphs,
tables and plots that :func:`spacenas.reporting.report.write_report` renders as Markdown and
:mod:`spacenas.reporting.html` as HTML. Readers read run dirs only (``config.json``,
``result.json``, ``log.jsonl``; JSON and text), never live objects.

* ``query`` / ``supernet``: the mean +- std table over seeds, Wilcoxon tests and best-so-far
  plots of :mod:`spacenas.reporting.report`; a multi-objective run's Pareto front
  (:func:`spacenas.reporting.plots.plot_pareto_run`) and the constraints;
* ``oneshot``: per method and data set the derived arch (one run) or the mean +- std of the
  derived archs' benchmark-table accuracy (NB201: the run's table data set, else cifar10), the
  search cost (epochs, and the search seconds the loop records in ``result.json``; for run dirs
  written before it did, the wall time from ``config.json`` to ``result.json``, labelled as such:
  :func:`oneshot_seconds`); a single run also
  gets the mixing-weight heatmaps, the exploration curve, the DrNAS accuracy range and DDSAS
  sample counts where logged (:func:`spacenas.reporting.plots_search.write_search_plots`);
* ``train``: test accuracy, parameters, MAdds, seconds, and the training curve;
* ``autospace``: the DEA's loss per round and the learned space (layers, cells per layer);
* ``autospace-search``: the found arch and the figures its result records.
"""
from __future__ import annotations

import os

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from spacenas.errors import SpacenasError
from spacenas.reporting.order import DATASET_ORDER, METHOD_ORDER, ordered
from spacenas.runs import CONFIG, RESULT, RunInfo


@dataclass
class Section:
    """One kind's part of a report: ``blocks`` are ``("p", text)``, ``("table", header, rows)``
    and ``("img", path, caption)``."""

    kind: str
    title: str
    blocks: list[tuple] = field(default_factory=list)

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header, rows) -> None:
        self.blocks.append(("table", list(header), [list(r) for r in rows]))

    def img(self, path: Path, caption: str) -> None:
        self.blocks.append(("img", Path(path), caption))

    @property
    def files(self) -> list[Path]:
        return [b[1] for b in self.blocks if b[0] == "img"]

    def markdown(self, base: Path | None = None) -> str:
        lines = [f"## {self.title}", ""]
        for b in self.blocks:
            if b[0] == "p":
                lines += [b[1], ""]
            elif b[0] == "table":
                lines += ["| " + " | ".join(map(str, b[1])) + " |", "|" + "---|" * len(b[1])]
                lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in b[2]] + [""]
            else:
                rel = b[1].relative_to(base) if base is not None and b[1].is_relative_to(base) else b[1]
                lines += [f"![{b[2]}]({rel.as_posix()})", ""]
        return "\n".join(lines)


def _cell(c: Any) -> str:
    if c is None:
        return "-"
    if isinstance(c, float):
        return f"{c:.2f}"
    return str(c).replace("|", "\\|")


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def _mean_std(values: list[float | None]) -> str:
    v = [x for x in values if x is not None]
    if not v:
        return "-"
    return f"{np.mean(v):.2f} +- {np.std(v):.2f} ({len(v)})"


def _rel(info: RunInfo, root: Path) -> str:
    try:
        return info.path.relative_to(root).as_posix() or "."
    except ValueError:
        return str(info.path)


def wall_seconds(info: RunInfo) -> float | None:
    """Wall time of a finished run: ``result.json``'s mtime minus ``config.json``'s (written on
    creation), so a pause before a ``--resume`` counts too."""
    try:
        return (info.path / RESULT).stat().st_mtime - (info.path / CONFIG).stat().st_mtime
    except OSError:
        return None


#: how an estimated (not recorded) one-shot search time is marked in the tables
ESTIMATE_MARK = " (wall est.)"


def oneshot_seconds(info: RunInfo) -> tuple[float | None, bool]:
    """``(seconds, recorded)``: the search seconds the one-shot loop recorded (``result.json``
    ``search_seconds``: the search epochs, summed across resumes), or, for run dirs without it
    (older spacenas, or resumed from an older checkpoint), the :func:`wall_seconds` estimate, which
    also counts setup, checkpoints and any pause before a ``--resume``."""
    recorded = _num((info.result or {}).get("search_seconds"))
    return (recorded, True) if recorded is not None else (wall_seconds(info), False)


def _seconds_cell(info: RunInfo) -> str:
    v, recorded = oneshot_seconds(info)
    return _fmt_s(v) + ("" if recorded or v is None else ESTIMATE_MARK)


# ----- query and supernet-backed runs ------------------------------------------------------------
def query_section(infos: list[RunInfo], root: Path, out: Path, plots: bool) -> Section:
    from spacenas.reporting.report import check_comparable, markdown, run_results
    runs = run_results([(i.path, i.result) for i in infos])
    check_comparable(runs, root)
    kind = infos[0].kind
    sec = Section(kind, "Query searches" if kind == "query" else "Supernet-backed searches")
    sec.p(markdown(runs).rstrip("\n"))
    if plots:
        from spacenas.reporting.plots import plot_all, plot_pareto_run
        sub = out if kind == "query" else out / kind
        sub.mkdir(parents=True, exist_ok=True)
        for p in plot_all(runs, sub):
            sec.img(p, f"best so far: {p.stem}")
        for r in runs:
            if r.objectives and r.front and len(r.objectives) == 2 and len(runs) == 1:
                try:
                    sec.img(plot_pareto_run(r, sub), f"Pareto front ({', '.join(r.objectives)})")
                except (SpacenasError, KeyError, ValueError) as e:
                    sec.p(f"no Pareto plot: {e}")
    for r in runs:
        if r.front and len(runs) == 1:
            sec.p(f"Found Pareto front ({', '.join(r.objectives or [])}): {len(r.front)} architectures.")
            sec.table(["arch", *(r.objectives or [])], [[f.get("arch"), *(_num(f.get(o)) for o in r.objectives or [])]
                                                        for f in r.front])
    return sec


# ----- one-shot runs -----------------------------------------------------------------------------
def oneshot_benchmark(info: RunInfo) -> tuple[str | None, dict[str, float] | None]:
    """(table data set, ``{"valid", "test"}``) of the derived arch: the run's own look-up, else the
    space's table on cifar10 (NB201); ``(None, None)`` where the space has no table."""
    res = info.result or {}
    b = res.get("benchmark")
    if isinstance(b, dict) and _num(b.get("test")) is not None:
        return (res.get("dataset") or b.get("dataset")), b
    from spacenas import registry
    space_name = res.get("arch_space") or res.get("space")
    if not isinstance(space_name, str) or space_name not in registry.BENCHMARKS or not info.arch:
        return None, None
    try:
        arch = registry.space(space_name).parse(info.arch)
        return "cifar10", registry.benchmark_entry(space_name, "cifar10", arch)
    except (SpacenasError, ValueError, KeyError):
        return None, None


def oneshot_section(infos: list[RunInfo], root: Path, out: Path, plots: bool) -> Section:
    sec = Section("oneshot", "One-shot searches")
    groups: dict[tuple[str, str, str], list[RunInfo]] = {}
    for i in infos:
        data = i.config.get("data") or (i.result or {}).get("dataset") or "-"
        groups.setdefault((str((i.result or {}).get("method") or i.config.get("method")),
                           str((i.result or {}).get("space") or i.config.get("space")), str(data)), []).append(i)
    benches = {id(i): oneshot_benchmark(i) for i in infos}
    table_sets = sorted({d for d, b in benches.values() if b})
    methods = ordered({m for m, _, _ in groups}, METHOD_ORDER)
    spaces = sorted({s for _, s, _ in groups})
    datasets = ordered({d for _, _, d in groups}, DATASET_ORDER)
    seconds = {id(i): oneshot_seconds(i) for i in infos}
    note = ("search seconds: the search epochs as the loop recorded them"
            + (f"; '{ESTIMATE_MARK.strip()}': a run dir without that record, estimated as the wall time from "
               "config.json to result.json (includes setup and pauses before a resume)"
               if any(not rec and v is not None for v, rec in seconds.values()) else ""))
    if all(len(g) == 1 for g in groups.values()):
        sec.p("Derived architecture of each run, its accuracy in the space's benchmark table "
              f"({', '.join(table_sets) or 'none: no table for this space'}), and the search cost "
              f"(epochs; {note}).")
        rows = []
        for i in infos:
            d, b = benches[id(i)]
            fin = (i.result or {}).get("final") or {}
            rows.append([_rel(i, root), (i.result or {}).get("method"), (i.result or {}).get("space"),
                         i.config.get("data") or "-", i.arch,
                         f"{b['test']:.2f} ({d})" if b else "-", (i.result or {}).get("epochs"),
                         _seconds_cell(i), _pct(fin.get("valid_acc"))])
        sec.table(["run", "method", "space", "data", "derived arch", "benchmark test acc (%)", "epochs", "seconds",
                   "supernet valid acc (%)"], rows)
    else:
        sec.p("Derived architectures per method and data set searched on: mean +- std over seeds (n runs) of "
              f"their benchmark-table test accuracy (%) ({', '.join(table_sets) or 'none: no table for this space'}) "
              f"and of the search cost (epochs; {note}).")
        rows = []
        for m, sp, d in ((m, sp, d) for sp in spaces for m in methods for d in datasets):
                g = groups.get((m, sp, d))
                if not g:
                    continue
                accs = [benches[id(i)][1]["test"] if benches[id(i)][1] else None for i in g]
                secs = [seconds[id(i)] for i in g]
                n_est = sum(1 for v, rec in secs if v is not None and not rec)
                rows.append([m, sp, d, len(g), _mean_std(accs),
                             _mean_std([_num((i.result or {}).get("epochs")) for i in g]),
                             _mean_std([v for v, _ in secs])
                             + (f"{ESTIMATE_MARK[:-1]}: {n_est} of {len(g)})" if n_est else "")])
        sec.table(["method", "space", "data", "runs", "benchmark test acc (%)", "epochs", "seconds"], rows)
    if plots and len(infos) == 1:
        from spacenas.reporting.plots_search import write_search_plots
        try:
            for p in write_search_plots(infos[0].path, out):
                sec.img(p, p.stem.replace("_", " "))
        except SpacenasError as e:  # a run without mixing records (e.g. killed before its first epoch)
            sec.p(f"no search plots: {e}")
    return sec


def _pct(x: Any) -> str:
    v = _num(x)
    return "-" if v is None else f"{100 * v:.1f}"


def _fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


# ----- train runs --------------------------------------------------------------------------------
def train_section(infos: list[RunInfo], root: Path, out: Path, plots: bool) -> Section:
    sec = Section("train", "Training runs")
    sec.p("Test accuracy (%) of each trained architecture, its size and the training time "
          "(seconds measured by the training loop).")
    rows = []
    for i in infos:
        r = i.result or {}
        rows.append([_rel(i, root), r.get("space"), r.get("dataset"), r.get("epochs"), _num(r.get("test_acc")),
                     _int(r.get("params")), _int(r.get("madds")), _fmt_s(_num(r.get("seconds"))), i.arch])
    sec.table(["run", "space", "data", "epochs", "test acc (%)", "params", "MAdds", "seconds", "arch"], rows)
    if plots:
        path = train_curve_plot(infos, root, out / "train_curve.png")
        if path is not None:
            sec.img(path, "training curve")
    return sec


def _int(x: Any) -> str:
    v = _num(x)
    return "-" if v is None else f"{int(v):,}"


def train_curve_plot(infos: list[RunInfo], root: Path, path: Path) -> Path | None:
    """Train loss and accuracy per epoch (``result.json`` history) of every run, one line each."""
    hist = {}
    for i in infos:
        h = (i.result or {}).get("history")
        if isinstance(h, list) and h and all(isinstance(x, dict) for x in h):
            hist[_rel(i, root)] = h
    if not hist:
        return None
    panels = [("epoch", label, {name: ([x.get("epoch", k + 1) for k, x in enumerate(h)], _values([x.get(key) for x in h]))
                                for name, h in hist.items()})
              for key, label in (("train_loss", "train loss"), ("train_acc", "train accuracy (%)"))]
    return line_plot(panels, path, (9, 3.4))


def _values(v: list[Any]) -> list[float]:
    """Numbers as floats, anything else (missing, non-finite, text) as NaN: a gap in the line."""
    return [_num(x) if _num(x) is not None else np.nan for x in v]


def line_plot(panels: list[tuple[str, str, dict[str, tuple[Any, Any]]]], path: Path,
              size: tuple[float, float]) -> Path:
    """A row of panels ``(xlabel, ylabel, {label: (x, y)})``, one line per label, the legend on the
    last panel; saved as ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=size, dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (xlabel, ylabel, series) in zip(axes, panels):
        for label, (x, y) in series.items():
            ax.plot(x, y, marker="o", ms=3, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


# ----- autospace ---------------------------------------------------------------------------------
def autospace_section(infos: list[RunInfo], root: Path, out: Path, plots: bool) -> Section:
    sec = Section("autospace", "Learned search spaces (AutoSpace)")
    sec.p("The learned space of each run (layers, open cells per layer) and the DEA's loss per round.")
    rows = []
    for i in infos:
        r = i.result or {}
        layers = r.get("layers") if isinstance(r.get("layers"), list) else []
        losses = [x for x in (r.get("losses") or []) if _num(x) is not None] if isinstance(r.get("losses"), list) else []
        rows.append([_rel(i, root), len(layers), ", ".join(str(len(c)) if isinstance(c, list) else "?" for c in layers),
                     len(losses), _num(losses[0]) if losses else None, _num(losses[-1]) if losses else None,
                     r.get("space_file")])
    sec.table(["run", "layers", "cells per layer", "loss records", "first loss", "last loss", "space file"], rows)
    if plots:
        path = curve_plot({_rel(i, root): (i.result or {}).get("losses") for i in infos}, "round", "DEA loss",
                          out / "autospace_loss.png")
        if path is not None:
            sec.img(path, "AutoSpace loss per round")
    return sec


def curve_plot(series: dict[str, Any], xlabel: str, ylabel: str, path: Path) -> Path | None:
    """One line per entry of ``series`` (a list of values, plotted at 1, 2, ...); None when none is a list."""
    lines = {k: (np.arange(1, len(v) + 1), _values(v)) for k, v in series.items() if isinstance(v, list) and v}
    return line_plot([(xlabel, ylabel, lines)], path, (5.5, 3.2)) if lines else None


def autospace_search_section(infos: list[RunInfo], root: Path, out: Path, plots: bool) -> Section:
    sec = Section("autospace-search", "Searches in learned spaces (autospace-search)")
    keys: list[str] = []
    for i in infos:
        for k, v in (i.result or {}).items():
            if k not in ("kind", "arch", "method") and k not in keys and (_num(v) is not None or isinstance(v, str)):
                keys.append(k)
    sec.p("The found architecture of each run and the figures its result.json records.")
    sec.table(["run", "method", *keys, "arch"],
              [[_rel(i, root), i.config.get("method"), *((i.result or {}).get(k) for k in keys), i.arch] for i in infos])
    return sec


#: kind -> reader (one table per kind; query and supernet runs share the sweep table)
READERS: dict[str, Callable[[list[RunInfo], Path, Path, bool], Section]] = {
    "query": query_section,
    "supernet": query_section,
    "oneshot": oneshot_section,
    "train": train_section,
    "autospace": autospace_section,
    "autospace-search": autospace_search_section,
}


def find_runs(root: Path) -> tuple[dict[str, list[RunInfo]], list[Path]]:
    """Finished run dirs under ``root`` (``root`` itself included) grouped by kind, in the order of
    :data:`READERS`; and the unfinished ones. A sweep dir is a container: its runs are read."""
    from spacenas.runs import read_json, read_run
    if not os.path.isdir(root):  # False (no OSError) also for a name too long for the file system
        raise SpacenasError(f"cannot read run dir {root}: not a directory")
    try:
        results = sorted(root.rglob(RESULT))
        configs = sorted(root.rglob(CONFIG))
    except OSError as e:
        raise SpacenasError(f"cannot read run dir {root}: {e.strerror or e}") from None
    groups: dict[str, list[RunInfo]] = {}
    for p in results:
        d = p.parent
        if (d / CONFIG).is_file():
            info = read_run(d)
        else:  # a result without config (older versions): a query run
            res = read_json(p, "run result")
            if not isinstance(res, dict):
                raise SpacenasError(f"bad run result {p}: not a JSON object")
            info = RunInfo(d, str(res.get("kind", "query")), {}, res, res.get("arch"))
        if info.result is not None and info.result.get("kind", info.kind) != info.kind:
            raise SpacenasError(f"bad run result {p}: kind {info.result.get('kind')!r} but {d / CONFIG} says "
                                f"{info.kind!r}")
        if info.kind == "sweep":
            continue
        if info.kind not in READERS:
            raise SpacenasError(f"cannot report {d}: kind {info.kind!r} (reports read: {', '.join(READERS)})")
        groups.setdefault(info.kind, []).append(info)
    unfinished = [c.parent for c in configs if not (c.parent / RESULT).is_file()
                  and _kind_of(c) != "sweep"]
    return {k: groups[k] for k in READERS if k in groups}, unfinished


def _kind_of(config: Path) -> Any:
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def sections(root: Path, out: Path, plots: bool) -> tuple[list[Section], list[Path]]:
    groups, unfinished = find_runs(root)
    if not groups:
        raise SpacenasError(f"no finished runs under {root} (a finished run dir holds {RESULT})")
    return [READERS[k](v, root, out, plots) for k, v in groups.items()], unfinished


def write_report(root: str | Path, out: str | Path | None = None, plots: bool = True):
    """Write ``report.md``, ``report.csv`` and (with ``plots``) PNGs for a run dir of any kind, a
    sweep, or a directory of run dirs of mixed kinds (a section per kind). Query (or supernet-backed)
    runs alone keep the sweep report of :func:`spacenas.reporting.report.write_report`."""
    from spacenas.reporting import report
    root = Path(root)
    groups, _ = find_runs(root)
    if len(groups) == 1 and set(groups) <= {"query", "supernet"}:
        return report.write_report(root, out, plots)
    out = Path(out) if out is not None else root

    def build() -> report.Report:
        secs, unfinished = sections(root, out, plots)
        text = "\n".join(s.markdown(out) for s in secs)
        if unfinished:
            text += (f"\n{len(unfinished)} unfinished run dir(s) (no result.json yet): "
                     + ", ".join(str(p) for p in unfinished[:10]) + ("" if len(unfinished) <= 10 else ", ...") + "\n")
        return report.Report(text, sections_csv(secs), [f for s in secs for f in s.files])
    return report.save_report(out, build)


def sections_csv(secs: list[Section]) -> str:
    """Every table of the sections, one after another, each row headed by its kind."""
    import csv
    import io
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for s in secs:
        for b in s.blocks:
            if b[0] == "table":
                w.writerow(["kind", *b[1]])
                for row in b[2]:
                    w.writerow([s.kind, *("" if c is None else c for c in row)])
    return buf.getvalue()
