"""Architecture pictures (matplotlib only, no graphviz; PNG and SVG): ``spacenas show ARCH``.

Three renderers, picked by what the space offers:

* **DARTS** (:class:`~spacenas.spaces.darts.DARTSSpace`): the normal and the reduction cell, each
  with inputs ``c_{k-2}``, ``c_{k-1}``, nodes 0..3 (each with its two labelled input edges) and
  the output ``c_{k}`` (dashed edges: concat of the 4 nodes).
* **Edge DAG** (any space whose decisions are named ``"j<-i"``: NB201, AutoSpace open cells, ...):
  nodes in a row, one labelled arrow per edge; ``none``/``zero`` edges are omitted. Decisions
  that are not edges (AutoSpace's ``ratio``/``aggregation``) are written under the cell.
* **Strip** (every other space, e.g. MobileNet-like strings, layer-wise AutoSpace spaces):
  one box per decision showing its choice, one row per name prefix before the first ``.``
  (``unit1.layer1`` -> row ``unit1``), long rows wrapped at 10 boxes.

Figures are built on an Agg canvas without pyplot (no global state). SVG text stays text
(``svg.fonttype = none``), so labels are searchable.
"""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from spacenas.errors import SpacenasError
from spacenas.paths import check_output_path
from spacenas.spaces.base import Arch, SearchSpace

_EDGE = re.compile(r"^(\d+)<-(\d+)$")
_EMPTY = ("none", "zero")
FORMATS = (".png", ".svg")


def _colors(names) -> dict[str, tuple]:
    cmap = matplotlib.colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(dict.fromkeys(names))}


def dag_edges(space: SearchSpace, arch: Arch) -> tuple[list[tuple[int, int, str]], list[tuple[str, str]]]:
    """``([(src, dst, op) for non-empty edges], [(name, choice) for non-edge decisions])``."""
    edges, other = [], []
    for d, c in zip(space.decisions, arch.choices):
        m = _EDGE.match(d.name)
        if m is None:
            other.append((d.name, d.choices[c]))
        elif d.choices[c] not in _EMPTY:
            edges.append((int(m.group(2)), int(m.group(1)), d.choices[c]))
    return edges, other


def _node(ax, xy, text, color="#f3f3f3") -> None:
    ax.text(*xy, text, ha="center", va="center", fontsize=9, zorder=3,
            bbox=dict(boxstyle="circle,pad=0.35" if len(text) < 3 else "round,pad=0.4", fc=color, ec="0.2"))


def _arrow(ax, a, b, rad: float, label: str | None, color, dashed: bool = False, t: float = 0.5) -> None:
    ax.annotate("", xy=b, xytext=a, zorder=1, arrowprops=dict(
        arrowstyle="-|>", color=color, lw=1.6, shrinkA=13, shrinkB=13, ls="--" if dashed else "-",
        connectionstyle=f"arc3,rad={rad}"))
    if label:
        # point t of a straight edge; for a curved one the midpoint of matplotlib's arc3 Bezier:
        # mid + rad/2 * (dy, -dx) (equal aspect)
        dx, dy = b[0] - a[0], b[1] - a[1]
        if rad == 0.0:
            pos = (a[0] + t * dx, a[1] + t * dy)
        else:
            pos = ((a[0] + b[0]) / 2 + rad / 2 * dy, (a[1] + b[1]) / 2 - rad / 2 * dx)
        ax.text(*pos, label, ha="center", va="center", fontsize=7.5, zorder=2, color="0.1",
                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec=color, lw=1.0))


def _finish(ax, xs, ys, pad: float = 0.9) -> None:
    """Fix the view to the node positions (arrows and texts do not move data limits)."""
    ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    ax.set_aspect("equal")
    ax.axis("off")


def dag_figure(space: SearchSpace, arch: Arch, title: str | None = None) -> Figure:
    """Edge-DAG picture (NB201-style cells)."""
    edges, other = dag_edges(space, arch)
    n = 1 + max([int(x) for d in space.decisions if (m := _EDGE.match(d.name)) for x in m.groups()] or [1])
    colors = _colors(c for d in space.decisions if _EDGE.match(d.name) for c in d.choices)
    fig = Figure(figsize=(2.0 + 1.9 * n, 3.4), dpi=130)
    ax = fig.add_subplot()
    pos = {i: (2.4 * i, 0.0) for i in range(n)}
    for src, dst, op in edges:
        span = dst - src
        rad = 0.0 if span == 1 else (0.22 + 0.08 * span) * (-1 if src % 2 == 0 else 1)
        _arrow(ax, pos[src], pos[dst], rad, op, colors[op])
    for i, xy in pos.items():
        _node(ax, xy, "in" if i == 0 else "out" if i == n - 1 else str(i), "#dbe9f6" if i in (0, n - 1) else "#f3f3f3")
    if other:
        ax.text(0.5, -0.02, "   ".join(f"{k} = {v}" for k, v in other), transform=ax.transAxes,
                ha="center", va="top", fontsize=9)
    if not edges:
        ax.text(0.5, 0.8, "(no edges: every edge is none)", transform=ax.transAxes, ha="center", fontsize=9)
    ax.set_title(title or f"{space.name} cell", fontsize=10)
    span = max([dst - src for src, dst, _ in edges] + [1])  # widest drawn arc rises rad/2 * dx
    reach = (0.22 + 0.08 * span) / 2 * 2.4 * span + 0.3 if span > 1 else 0.6
    _finish(ax, [0.0, 2.4 * (n - 1)], [-reach, reach], pad=0.6)
    fig.tight_layout()
    return fig


def darts_figure(space, arch: Arch, title: str | None = None) -> Figure:
    """The normal and reduction cells of a DARTS genotype: inputs on the left, nodes 0..3 in a
    zig-zag column (node-to-node edges bend to the right), the concat output on the right."""
    from spacenas.spaces.darts import CONCAT, OPS
    g = space.genotype(arch)
    colors = _colors(OPS)
    fig = Figure(figsize=(8.0, 11.0), dpi=110)
    pos = {0: (0.0, 1.6), 1: (0.0, -1.6)}
    for i in range(4):
        pos[i + 2] = ((4.5, 6.3)[i % 2], (3.3, 1.1, -1.1, -3.3)[i])
    out = (10.5, 0.0)
    for row, cell in enumerate(("normal", "reduce")):
        ax = fig.add_subplot(2, 1, row + 1)
        for k, (op, j) in enumerate(g[cell]):
            node = k // 2 + 2
            _arrow(ax, pos[j], pos[node], 0.0 if j < 2 else -0.45, op, colors[op], t=0.45 if j == 0 else 0.55)
        for node in CONCAT:
            _arrow(ax, pos[node], out, 0.0, None, "0.6", dashed=True)
        _node(ax, pos[0], "$c_{k-2}$", "#dbe9f6")
        _node(ax, pos[1], "$c_{k-1}$", "#dbe9f6")
        for i in range(4):
            _node(ax, pos[i + 2], str(i))
        _node(ax, out, "$c_{k}$", "#fde4c8")
        ax.set_title(f"{title + ': ' if title else ''}{cell} cell", fontsize=10)
        _finish(ax, [0.0, out[0]], [-3.3, 3.3], pad=0.8)
    fig.tight_layout()
    return fig


def strip_figure(space: SearchSpace, arch: Arch, title: str | None = None, wrap: int = 10) -> Figure:
    """One box per decision (its choice), one row per name prefix (wrapped at ``wrap`` boxes)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for d, c in zip(space.decisions, arch.choices):
        prefix, dot, rest = d.name.partition(".")
        groups.setdefault(prefix if dot else "", []).append((rest if dot else d.name, d.choices[c]))
    rows = []
    for prefix, items in groups.items():
        for k in range(0, len(items), wrap):
            rows.append((prefix if k == 0 else "", items[k:k + wrap]))
    colors = _colors(ch for d in space.decisions for ch in d.choices)
    width = max(len(items) for _, items in rows)
    fig = Figure(figsize=(1.6 + 1.25 * width, 0.6 + 0.8 * len(rows)), dpi=130)
    ax = fig.add_subplot()
    for r, (prefix, items) in enumerate(rows):
        y = -r
        ax.text(-0.7, y, prefix, ha="right", va="center", fontsize=9, weight="bold")
        for x, (name, choice) in enumerate(items):
            empty = choice in _EMPTY or choice == "0"
            ax.add_patch(matplotlib.patches.FancyBboxPatch(
                (x - 0.44, y - 0.28), 0.88, 0.56, boxstyle="round,pad=0.02",
                fc="white" if empty else (*colors[choice][:3], 0.35), ec="0.6" if empty else colors[choice][:3]))
            ax.text(x, y - 0.04, choice, ha="center", va="center", fontsize=8, color="0.5" if empty else "0.05")
            ax.text(x, y + 0.3, name, ha="center", va="bottom", fontsize=6, color="0.35")
    ax.set_xlim(-0.75 - 0.12 * max(len(p) for p, _ in rows), width - 0.45)
    ax.set_ylim(-len(rows) + 0.4, 0.75)
    ax.axis("off")
    ax.set_title(title or f"{space.name} architecture", fontsize=10)
    fig.tight_layout()
    return fig


def arch_figure(space: SearchSpace, arch: Arch, title: str | None = None) -> Figure:
    """The best picture for ``arch``: DARTS cells, an edge DAG, or a decision strip."""
    space.check(arch)
    if space.name == "darts" and hasattr(space, "genotype"):
        return darts_figure(space, arch, title)
    if any(_EDGE.match(d.name) for d in space.decisions):
        return dag_figure(space, arch, title)
    return strip_figure(space, arch, title)


def save_figure(fig: Figure, out: str | Path) -> list[Path]:
    """Write ``fig`` to ``out`` (``.png`` or ``.svg``), or to both ``out.png`` and ``out.svg``
    when ``out`` has no suffix. Returns the written paths."""
    out = Path(out)
    if out.suffix and out.suffix.lower() not in FORMATS:
        raise SpacenasError(f"cannot write a picture as {out.suffix!r} (allowed: .png, .svg, or no suffix for both)")
    paths = [out] if out.suffix else [out.with_name(out.name + s) for s in FORMATS]
    for p in paths:  # one line (not a traceback) for an unwritable place
        check_output_path(p, "picture path")
    out.parent.mkdir(parents=True, exist_ok=True)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "spacenas"}):
        for p in paths:  # no date in the file, fixed SVG ids: the same arch gives the same bytes
            fig.savefig(p, bbox_inches="tight", metadata={"Date": None} if p.suffix.lower() == ".svg" else None)
    return paths


def render_arch(arch: str | Arch, space: str | SearchSpace, out: str | Path, title: str | None = None) -> list[Path]:
    """Parse ``arch`` (text, a file holding the text, or an Arch) in ``space`` and draw it to ``out``."""
    from spacenas import registry
    sp = registry.space(space) if isinstance(space, str) else space
    if not isinstance(arch, Arch):
        from spacenas.archsource import parse_arch_text
        arch = parse_arch_text(str(arch), sp)
    return save_figure(arch_figure(sp, arch, title), out)
