"""Smoke tests of the one-shot benchmark scripts (benchmarks/nb201_oneshot_compare.py,
benchmarks/exploration.py) on the tiniest setting: 1-2 epochs, C=4, N=1, 1 seed."""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from spacenas.spaces.nb201 import OPS, NB201Space
from spacenas.strategies.oneshot.ddsas_math import exploration_curve

ROOT = Path(__file__).resolve().parents[2] / "benchmarks"
TINY = ["--seeds", "1", "--C", "4", "--N", "1"]


def _load(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_compare_prints_one_row_per_method_and_seed_and_a_summary(capsys):
    cmp = _load("nb201_oneshot_compare")
    assert cmp.main(TINY + ["--epochs", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    space = NB201Space()
    rows = [ln.split() for ln in lines if ln.split() and ln.split()[0] in cmp.METHODS and ln.split()[1] == "0"]
    assert [r[0] for r in rows] == list(cmp.METHODS)
    for r in rows:
        acc, n_skip, n_none, p_skip = float(r[2]), int(r[3]), int(r[4]), float(r[5])
        assert 0.0 < acc <= 100.0 and 0 <= n_skip + n_none <= 6 and 0.0 <= p_skip <= 1.0
        arch = space.parse(r[8])  # the op part; A-DARTS adds "@act=..." as a 10th field
        skip, none = OPS.index("skip_connect"), OPS.index("none")
        assert (n_skip, n_none) == (arch.choices.count(skip), arch.choices.count(none))
    assert len(rows[-1]) == 10 and rows[-1][9].startswith("@act=")
    summary = lines[lines.index(next(ln for ln in lines if ln.startswith("summary"))) + 2:]
    assert [ln.split()[0] for ln in summary] == list(cmp.METHODS)
    assert all(len(ln.split()) == 9 and ln.split()[2] == "+-" for ln in summary)


def test_compare_rejects_an_unknown_method():
    cmp = _load("nb201_oneshot_compare")
    with pytest.raises(SystemExit):
        cmp.main(TINY + ["--epochs", "1", "--methods", "darts,enas"])


def test_exploration_table_shape_values_and_png(tmp_path, capsys):
    exp = _load("exploration")
    png = tmp_path / "curve.png"
    assert exp.main(TINY + ["--epochs", "3", "--png", str(png)]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index(next(ln for ln in lines if ln.startswith("mean cosine distance")))
    assert lines[start + 1].split() == ["epoch", "darts", "gdas", "ddsas"]
    table = [ln.split() for ln in lines[start + 2:start + 5]]
    assert [r[0] for r in table] == ["1", "2", "mean"]
    for r in table[:2]:  # one seed: each value is a cosine distance of NB201 one-hots, k/6
        v = np.array([float(x) for x in r[1:]])
        assert np.allclose(np.round(v * 6), v * 6, atol=6e-3) and ((v >= 0) & (v <= 1)).all()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_exploration_needs_two_epochs():
    exp = _load("exploration")
    with pytest.raises(SystemExit):
        exp.main(TINY + ["--epochs", "1", "--png", "unused.png"])


def test_history_curve_equals_ddsas_own_exploration_record():
    """The script computes every curve from the loop's per-epoch archs; for DDSAS this must be
    the curve DDSAS records itself after each epoch (Fig. 5)."""
    cmp = _load("nb201_oneshot_compare")
    p = argparse.ArgumentParser()
    cmp.add_common_args(p, "ddsas", 3)
    a = p.parse_args(["--C", "4", "--ddsas-M", "2"])
    r = cmp.run_method("ddsas", 0, a)
    space = NB201Space()
    assert len(r.epoch_archs) == 3
    assert exploration_curve([space.one_hot(x) for x in r.epoch_archs]) == pytest.approx(r.strategy.exploration)


def test_mean_curves_hand_worked():
    exp = _load("exploration")
    # seeds [0, 1/6] and [1/3, 1/6]: mean [1/6, 1/6], std [1/6, 0]
    mean, std = exp.mean_curves({"darts": [[0.0, 1 / 6], [1 / 3, 1 / 6]]})["darts"]
    assert mean == pytest.approx([1 / 6, 1 / 6]) and std == pytest.approx([1 / 6, 0.0])
