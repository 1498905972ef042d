"""Architecture pictures: NB201 and DARTS cells, edge DAGs of any space, the decision strip."""
from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.image import imread

from spacenas.errors import SpacenasError
from spacenas.reporting.pictures import arch_figure, dag_edges, render_arch, save_figure
from spacenas.spaces.base import Arch, Decision, SearchSpace
from spacenas.spaces.darts import DARTSSpace
from spacenas.spaces.nb201 import NB201Space

NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


def _texts(svg_path) -> list[str]:
    """The text labels of an SVG written with svg.fonttype = none."""
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg_path.read_text())


class StripSpace(SearchSpace):
    """A MobileNet-like fake: 2 units x 3 layers, choices are block names or '0' (absent)."""

    name = "strip-fake"

    @property
    def decisions(self):
        return tuple(Decision(f"unit{u}.layer{k}", ("0", "e3k3", "e6k5")) for u in (1, 2) for k in (1, 2, 3))

    def parse(self, text):
        if len(text) != 6 or set(text) - set("012"):
            raise SpacenasError("expected 6 digits 0-2")
        return Arch(self.name, tuple(int(c) for c in text))

    def format(self, arch):
        return "".join(map(str, arch.choices))


def test_dag_edges_omit_none():
    space = NB201Space()
    edges, other = dag_edges(space, space.parse(NB201_ARCH))
    assert edges == [(0, 1, "nor_conv_3x3"), (0, 2, "nor_conv_3x3"), (1, 2, "avg_pool_3x3"),
                     (0, 3, "skip_connect"), (1, 3, "nor_conv_1x1")]  # edge 2 -> 3 is none
    assert other == []


def test_nb201_png_and_svg(tmp_path):
    paths = render_arch(NB201_ARCH, "nb201", tmp_path / "cell")
    assert [p.name for p in paths] == ["cell.png", "cell.svg"]
    img = imread(paths[0])
    assert img.ndim == 3 and img.shape[0] > 150 and img.shape[1] > 300
    assert img[..., :3].std() > 0.05  # not a blank canvas
    labels = _texts(paths[1])
    assert sorted(t for t in labels if "_" in t) == sorted(
        ["nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_1x1"])
    assert {"in", "1", "2", "out"} <= set(labels) and "none" not in labels


def test_darts_cells(tmp_path):
    (svg,) = render_arch(DARTS_V2, DARTSSpace(), tmp_path / "g.svg")
    labels = _texts(svg)
    assert "normal cell" in labels and "reduce cell" in labels
    ops = [t for t in labels if t.endswith("3x3") or t == "skip_connect"]
    assert len(ops) == 16  # 8 labelled edges per cell
    assert ops.count("max_pool_3x3") == 5 and ops.count("sep_conv_3x3") == 5


def test_strip_for_other_spaces(tmp_path):
    space = StripSpace()
    fig = arch_figure(space, space.parse("120211"), title="fake")
    (svg,) = save_figure(fig, tmp_path / "s.svg")
    labels = _texts(svg)
    assert labels.count("unit1") == 1 and labels.count("unit2") == 1  # one row per unit
    assert labels.count("e3k3") == 3 and labels.count("e6k5") == 2 and labels.count("0") == 1


def test_open_cell_like_spaces_use_the_dag():
    oc = pytest.importorskip("spacenas.spaces.open_cell")
    space = oc.OpenCellSpace()
    edges, other = dag_edges(space, space.parse(oc.IRB_REFERENCE))
    assert all(op != "zero" for _, _, op in edges) and dict(other) == {"ratio": "6", "aggregation": "add"}


def test_cli_show_and_errors(tmp_path):
    assert [p.name for p in render_arch(NB201_ARCH, "nb201", tmp_path / "a.png")] == ["a.png"]
    f = tmp_path / "arch.txt"
    f.write_text(DARTS_V2 + "\n")
    assert render_arch(str(f), "darts", tmp_path / "b")[1].exists()
    with pytest.raises(SpacenasError, match=r"\.pdf"):
        render_arch(NB201_ARCH, "nb201", tmp_path / "a.pdf")
    with pytest.raises(SpacenasError, match="unknown space"):
        render_arch(NB201_ARCH, "nope", tmp_path / "a.png")
    with pytest.raises(SpacenasError):
        render_arch("|bad~0|", "nb201", tmp_path / "a.png")
    assert np.isfinite(imread(tmp_path / "b.png")).all()


# ----- search plots from a one-shot log ------------------------------------------------------------
def test_exploration_hand_worked():
    from spacenas.reporting.plots_search import exploration
    # epochs: m1 = [1, 0], m2 = [1, 1], m3 = [2, 2]
    # d(2) = 1 - 1 / (1 * sqrt 2) = 0.29289; d(3) = 1 - 4 / (sqrt 2 * sqrt 8) = 0
    series = {"cell": np.array([[[1.0, 0.0]], [[1.0, 1.0]], [[2.0, 2.0]]])}
    np.testing.assert_allclose(exploration(series), [1 - 1 / np.sqrt(2), 0.0], atol=1e-12)


def test_search_plots_from_log(tmp_path):
    import json

    from spacenas.reporting.plots_search import load_log, mixing_series, write_search_plots
    rng = np.random.default_rng(0)
    with open(tmp_path / "log.jsonl", "w") as f:
        for epoch in range(4):
            p = rng.dirichlet(np.ones(5), size=6)
            f.write(json.dumps({"epoch": epoch, "mixing": {"cell": p.tolist()},
                                "concentration": {"cell": (1 + 5 * p).tolist()},
                                "benchmark": {"dataset": "cifar10"},
                                "sample_counts": {"cell": rng.integers(0, 9, (6, 5)).tolist()}}) + "\n")
    series = mixing_series(load_log(tmp_path))
    assert series["cell"].shape == (4, 6, 5)
    paths = write_search_plots(tmp_path, tmp_path / "plots")
    assert sorted(p.name for p in paths) == ["accuracy_range.png", "exploration.png", "mixing_cell.png",
                                             "sample_counts.png"]
    assert imread(paths[0]).shape[0] > 100
    (tmp_path / "empty.jsonl").write_text('{"epoch": 0}\n')
    with pytest.raises(SpacenasError, match="mixing"):
        load_log(tmp_path / "empty.jsonl")


def test_dirichlet_accuracy_range():
    from spacenas.reporting.plots_search import dirichlet_accuracy_range
    table = {}

    def lookup(arch):  # a fake table: accuracy = 10 * number of nor_conv_3x3 edges (op 3)
        table[arch] = 10.0 * sum(c == 3 for c in arch.choices)
        return table[arch]

    peaked = np.full((6, 5), 1e-3)
    peaked[:, 3] = 1e4  # every sample picks nor_conv_3x3 on every edge: 6 * 10 = 60
    assert dirichlet_accuracy_range(peaked, lookup, np.random.default_rng(0), n=20) == (60.0, 60.0, 60.0)
    lo, mean, hi = dirichlet_accuracy_range(np.ones((6, 5)), lookup, np.random.default_rng(0), n=100)
    assert lo < mean < hi and len(table) > 20
    assert mean == pytest.approx(12.0, abs=3.0)  # 6 edges x P(op 3) = 1/5 -> 1.2 convs -> 12
