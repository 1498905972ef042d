"""One self-contained HTML page for a run or a sweep (``spacenas report DIR --html OUT.html``).

The page needs nothing but itself: plots are PNG ``data:`` URIs, architecture pictures are
inline SVG (their op labels are real text, so they can be searched and tested), the style is
one inline ``<style>`` block, and there is no JavaScript. Three kinds of directory are read:

* a **query run** (``result.json`` at the top): the found architecture and its picture, its
  valid/test accuracy, the table's optimum and the gap, the best-so-far plot
  (:func:`spacenas.reporting.plots.plot_all`) and the run's ``config.json``;
* a **one-shot run** (``log.jsonl`` with ``mixing`` records, no ``result.json``): the last
  epoch's derived architecture and its picture, the per-epoch table and the search plots of
  :func:`spacenas.reporting.plots_search.write_search_plots`. The log does not name the space: the
  first space of the registry that parses the arch text is used (``space=`` overrides);
* a **sweep** (run dirs below it): the mean +- std table of :func:`spacenas.reporting.report.table`, the
  paired tests and plots of :func:`spacenas.reporting.report.write_report` (written to a temporary
  directory, so the sweep dir is left as it is), the best found architecture per dataset and
  a list of all runs;
* any **other kind** (train, autospace, autospace-search, supernet), a one-shot sweep, or a
  directory of run dirs of mixed kinds: the sections of :mod:`spacenas.reporting.kinds`.

:data:`PAGES` maps what :func:`detect_kind` found to the page builder.
"""
from __future__ import annotations

import base64
import html
import io
import json
import tempfile
from pathlib import Path
from typing import Any, Iterable

from spacenas.errors import SpacenasError

CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;
padding:0 1em;color:#222}h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.6em}table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ccc;
padding:.25em .6em;text-align:left;overflow-wrap:anywhere}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.num,th{white-space:nowrap;overflow-wrap:normal}table.result td.num{text-align:left}table.result td:first-child{white-space:nowrap}
code{font-size:.85em;word-break:break-all}figure{margin:.8em 0}figure svg,figure img{max-width:100%;height:auto}
figure.arch svg{width:640px}
figcaption{font-size:.85em;color:#555}.muted{color:#777;font-size:.85em}"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(x: Any, digits: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _numeric(x: Any) -> bool:
    try:
        float(str(x).lstrip("+"))
        return True
    except ValueError:
        return False


def png_data_uri(path: str | Path) -> str:
    """``data:image/png;base64,...`` of a PNG file."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def figure_svg(fig) -> str:
    """A matplotlib figure as an inline ``<svg>`` element (text kept as text)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _img(path: Path, caption: str) -> str:
    return (f'<figure class="plot"><img src="{png_data_uri(path)}" alt="{_esc(caption)}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def arch_figure_html(space_name: str, arch_text: str, caption: str) -> str:
    """``<figure class="arch">`` with the inline SVG picture of ``arch_text`` in ``space_name``
    (a note instead when the text does not parse)."""
    from spacenas import registry
    from spacenas.reporting.pictures import arch_figure
    try:
        space = registry.space(space_name)
        svg = figure_svg(arch_figure(space, space.parse(arch_text), title=f"{caption} ({space.name})"))
    except (SpacenasError, ValueError, KeyError) as e:
        return f'<p class="muted">no picture of {_esc(arch_text)} in {_esc(space_name)}: {_esc(e)}</p>'
    return (f'<figure class="arch" data-space="{_esc(space_name)}">{svg}'
            f"<figcaption>{_esc(caption)}: <code>{_esc(arch_text)}</code></figcaption></figure>")


def html_table(header: Iterable[str], rows: Iterable[Iterable[Any]], cls: str = "") -> str:
    """A ``<table>``; every cell is escaped; numbers are right-aligned."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for c in row:
            num = isinstance(c, (int, float)) and not isinstance(c, bool) or _numeric(c)
            cells.append(f'<td class="num">{_esc(_fmt(c))}</td>' if num else f"<td>{_esc(c)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{_esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f"<body><h1>{_esc(title)}</h1>\n{body}\n</body></html>\n")


# ----- what a directory holds --------------------------------------------------------------
def detect_kind(path: Path) -> str:
    """``query``, ``oneshot`` or ``sweep`` (see the module docstring)."""
    from spacenas.runner import LOG, RESULT
    from spacenas.runs import CONFIG
    try:  # run dirs name their kind (spacenas.runs)
        kind = json.loads((path / CONFIG).read_text()).get("kind") if (path / CONFIG).is_file() else None
    except (OSError, ValueError, AttributeError):
        kind = None
    if kind in ("oneshot", "sweep"):
        return kind
    if kind in ("supernet", "train", "autospace", "autospace-search"):
        return "other"
    if (path / RESULT).is_file():
        return "query"
    log = path / LOG
    if log.is_file():
        for line in log.read_text().splitlines():
            if line.strip():
                if isinstance(json.loads(line).get("mixing"), dict):
                    return "oneshot"
                break
    if next(path.rglob(RESULT), None) is not None:
        return "sweep"
    raise SpacenasError(f"{path} is neither a run dir (result.json, or a one-shot log.jsonl) nor a sweep dir "
                        "(run dirs below it)")


def query_run_html(run_dir: Path) -> tuple[str, str]:
    from spacenas.reporting.plots import plot_all
    from spacenas.reporting.report import load_runs
    from spacenas.runner import CONFIG
    runs = load_runs(run_dir)
    r = next(x for x in runs if Path(x.run_dir) == run_dir)
    title = f"{r.method} on {r.space} / {r.dataset} (seed {r.seed})"
    from spacenas.evaluators.units import digits, hardware_line, unit
    k, u = digits(r.dataset), (f" ({unit('test', r.dataset)})" if unit("test", r.dataset) else " (score)")
    q = (lambda v: _fmt(v, k))
    rows = [("found architecture", r.arch or "none feasible"), (f"search score ({r.search_metric})", q(r.score)),
            (f"valid accuracy{u}", q(r.valid)), (f"test accuracy{u}", q(r.test)),
            (f"optimum test accuracy{u}", q(r.optimum_test)), ("optimum architecture", r.optimum_test_arch or "-"),
            ("gap (optimum test - found test)", q(r.gap)), ("budget spent", f"{r.spent:g} of {r.budget:g}"),
            ("steps", r.steps), ("stopped by", r.stopped)]
    if r.constraints:
        rows += [("constraints", ", ".join(r.constraints)), ("feasible", str(r.feasible))]
    if (r.constraints or r.objectives) and r.metrics and r.arch:
        rows.append(("found architecture's cost", hardware_line(r.metrics, r.constraints, r.dataset)))
    if r.hv_ratio is not None:
        rows.append(("hypervolume ratio", r.hv_ratio))
    parts = ["<h2>Result</h2>", html_table(("", "value"), rows, "result")]
    parts.append("<h2>Architecture</h2>")
    if r.arch:
        parts.append(arch_figure_html(r.space, r.arch, "found architecture"))
    if r.optimum_test_arch and r.optimum_test_arch != r.arch:
        parts.append(arch_figure_html(r.space, r.optimum_test_arch, "optimum of the table (best test accuracy)"))
    with tempfile.TemporaryDirectory() as tmp:
        pngs = plot_all(runs, Path(tmp))
        if pngs:
            parts += ["<h2>Best so far</h2>"] + [_img(p, p.stem.replace("_", " ")) for p in pngs]
    cfg = run_dir / CONFIG
    if cfg.is_file():
        conf = json.loads(cfg.read_text())
        parts += ["<h2>Configuration</h2>", html_table(("key", "value"), [
            (k, v if isinstance(v, (str, int, float)) else json.dumps(v)) for k, v in conf.items()], "config")]
    return title, "\n".join(parts)


def guess_space(arch_text: str) -> str:
    """The first registered space that parses ``arch_text``."""
    from spacenas import registry
    for name in registry.SPACES:
        try:
            registry.space(name).parse(arch_text)
            return name
        except Exception:  # noqa: BLE001 - any parse failure means "not this space"
            continue
    raise SpacenasError(f"no registered space parses the architecture {arch_text!r} (pass space=...)")


def _config_space(run_dir: Path) -> str | None:
    """The space a run dir's ``config.json`` names, if any (the arch text alone can be ambiguous)."""
    from spacenas.runner import CONFIG
    try:
        sp = json.loads((run_dir / CONFIG).read_text()).get("space")
    except (OSError, ValueError, AttributeError):
        return None
    return sp if isinstance(sp, str) else None


def oneshot_run_html(run_dir: Path, space: str | None = None) -> tuple[str, str]:
    from spacenas.reporting.plots_search import load_log, write_search_plots
    recs = load_log(run_dir)
    last = recs[-1]
    arch = last.get("arch", "")
    space = space or _config_space(run_dir) or guess_space(arch)
    title = f"one-shot search {run_dir.name} ({space}, {len(recs)} epochs)"
    bench = last.get("benchmark")
    rows = [("derived architecture (last epoch)", arch)]
    if bench:
        rows += [(f"NB201 {bench['dataset']} valid accuracy (%)", bench.get("valid")),
                 (f"NB201 {bench['dataset']} test accuracy (%)", bench.get("test"))]
    parts = ["<h2>Result</h2>", html_table(("", "value"), rows, "result"), "<h2>Architecture</h2>",
             arch_figure_html(space, arch, "derived architecture")]
    cols = [c for c in ("lr", "train_loss", "train_acc", "valid_loss", "valid_acc") if any(c in r for r in recs)]
    has_bench = any(isinstance(r.get("benchmark"), dict) for r in recs)
    # epochs 1-based and accuracies in percent, as the CLI prints them and the plots draw them
    header = ["epoch", *(f"{c} (%)" if c.endswith("_acc") else c for c in cols)]
    header += (["bench valid (%)", "bench test (%)"] if has_bench else []) + ["arch"]
    body = []
    for i, r in enumerate(recs):
        b = r.get("benchmark") or {}
        row = [int(r.get("epoch", i)) + 1] + [
            _fmt(100 * r[c] if c.endswith("_acc") and r.get(c) is not None else r.get(c), 4 if c == "lr" else
                 1 if c.endswith("_acc") else 3) for c in cols]
        body.append(row + ([b.get("valid"), b.get("test")] if has_bench else []) + [r.get("arch", "")])
    parts += ["<h2>Per epoch</h2>", html_table(header, body, "epochs")]
    with tempfile.TemporaryDirectory() as tmp:
        pngs = write_search_plots(run_dir, tmp)
        parts += ["<h2>Search plots</h2>"] + [_img(p, p.stem.replace("_", " ")) for p in pngs]
    return title, "\n".join(parts)


def sweep_html(root: Path) -> tuple[str, str]:
    from spacenas.reporting.order import DATASET_ORDER, METHOD_ORDER, ordered
    from spacenas.reporting.report import load_runs, paired_tests, table, write_report

    from spacenas.evaluators.units import digits, quality_value
    from spacenas.reporting.report import constraint_note, quality_cell, quality_header

    runs = load_runs(root)
    tab = table(runs)
    methods = ordered({m for m, _ in tab}, METHOD_ORDER)
    datasets = ordered({d for _, d in tab}, DATASET_ORDER)
    rows = [[m] + [quality_cell(d, s).replace("+-", "±") if (s := tab.get((m, d))) else "-" for d in datasets]
            for m in methods]
    opt = {str(r.dataset): r.optimum_test for r in runs if r.optimum_test is not None}
    if opt:
        rows.append(["optimum"] + [f"{quality_value(d, opt[d]):.{digits(d)}f}" if d in opt else "-"
                                   for d in datasets])
    budgets = ", ".join(sorted({f"{r.budget:g}" for r in runs}))
    title = f"sweep {root.name}: {len(runs)} runs"
    head = quality_header(datasets)
    parts = [f"<h2>{_esc(head)}</h2>",
             f'<p class="muted">{_esc(head)} of the found architecture, mean ± std over seeds (n runs); '
             f"budget {_esc(budgets)}.{_esc(constraint_note(runs))}</p>",
             html_table(["method", *datasets], rows, "summary")]
    tests = paired_tests(runs)
    if tests:
        parts += ["<h2>Paired comparison</h2>",
                  '<p class="muted">Wilcoxon signed-rank over shared seeds: mean difference of test '
                  "accuracy (A - B), p-value, pairs.</p>",
                  html_table(("dataset", "A", "B", "mean diff", "p", "pairs"),
                             [(t.dataset, t.a, t.b, f"{t.mean_diff:+.2f}", f"{t.p:.2g}", t.n) for t in tests], "tests")]
    parts.append("<h2>Best found architecture per dataset</h2>")
    parts.append('<p class="muted">Chosen by the search metric (the validation score each run searched on), '
                 "never by test accuracy.</p>")
    for d in datasets:
        found = [r for r in runs if str(r.dataset) == d and r.arch and _selection_score(r) is not None]
        if found:
            b = max(found, key=_selection_score)
            k = digits(d)
            parts.append(arch_figure_html(
                b.space, b.arch, f"{d}: {b.method} seed {b.seed}, {b.search_metric or 'valid'} "
                                 f"{_selection_score(b):.{k}f}, test {_fmt(b.test, k)}"))
    with tempfile.TemporaryDirectory() as tmp:
        rep = write_report(root, out=tmp)
        pngs = [p for p in rep.files if p.suffix == ".png"]
        if pngs:
            parts += ["<h2>Plots</h2>"] + [_img(p, p.stem.replace("_", " ")) for p in pngs]
    run_rows = sorted(((str(r.dataset), r.method, r.seed, _fmt(r.test, digits(str(r.dataset))),
                        _fmt(r.gap, digits(str(r.dataset))), r.arch or "-") for r in runs),
                      key=lambda x: (datasets.index(x[0]) if x[0] in datasets else 99, x[1], x[2]))
    parts += ["<h2>All runs</h2>",
              html_table(("dataset", "method", "seed", "test", "gap", "architecture"), run_rows, "runs")]
    return title, "\n".join(parts)


def _selection_score(r) -> float | None:
    """What picks the best run of a data set: its search score (validation), else its valid accuracy."""
    return r.score if r.score is not None else r.valid


def sections_html(root: Path, space: str | None = None) -> tuple[str, str]:
    """Any other directory (a run of another kind, a one-shot sweep, run dirs of mixed kinds): the
    sections of :mod:`spacenas.reporting.kinds`, plots inlined."""
    from spacenas.reporting.kinds import sections
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        secs, unfinished = sections(root, Path(tmp), True)
        for sec in secs:
            parts.append(f"<h2>{_esc(sec.title)}</h2>")
            for b in sec.blocks:
                if b[0] == "p":
                    parts.append(f'<p class="muted">{_esc(b[1])}</p>' if "|" not in b[1] else
                                 f"<pre>{_esc(b[1])}</pre>")
                elif b[0] == "table":
                    parts.append(html_table(b[1], b[2], sec.kind))
                else:
                    parts.append(_img(b[1], b[2]))
    if unfinished:
        parts.append(f'<p class="muted">{len(unfinished)} unfinished run dir(s) (no result.json yet).</p>')
    n = sum(1 for p in parts if p.startswith("<h2>"))
    return f"{root.name}: {', '.join(s.title.lower() for s in secs)}" if n else root.name, "\n".join(parts)


def _sweep_page(root: Path, space: str | None = None) -> tuple[str, str]:
    from spacenas.reporting.kinds import find_runs
    groups, _ = find_runs(root)
    if set(groups) == {"query"}:
        return sweep_html(root)
    return sections_html(root, space)


#: what ``detect_kind`` found -> the page builder
PAGES = {
    "query": lambda d, space: query_run_html(d),
    "oneshot": oneshot_run_html,
    "sweep": _sweep_page,
    "other": sections_html,
}


def write_html_report(path_or_dir: str | Path, out_html: str | Path, space: str | None = None) -> Path:
    """Write the self-contained page for a query run, a one-shot run (a dir, or its
    ``log.jsonl``) or a sweep dir to ``out_html``; returns its path."""
    path = Path(path_or_dir)
    if path.is_file():
        path = path.parent
    if not path.is_dir():
        raise SpacenasError(f"cannot report on {path}: not a directory")
    if space is not None:
        from spacenas import registry
        registry.get(registry.SPACES, space, "space")  # unknown space -> one-line error
    kind = detect_kind(path)
    title, body = PAGES[kind](path, space)
    out = Path(out_html)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page(title, body), encoding="utf-8")
    except OSError as e:
        raise SpacenasError(f"cannot write the HTML report {out}: {e.strerror or e}") from None
    return out
