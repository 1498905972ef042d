"""The shipped hardware / NAS-Bench-360 table and the hardware-aware tabular evaluator."""
from dataclasses import replace

import numpy as np
import pytest

from spacenas.benchmarks import load_nb201
from spacenas.benchmarks.hw import (DEVICES, HELP_DEVICES, HW360_DEVICES, check_alignment,
                                    load_hw_benchmark)
from spacenas.errors import SpacenasError
from spacenas.evaluators.constraints import is_feasible, parse_objectives
from spacenas.evaluators.hw_tabular import HWTabularEvaluator

ARCH0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"


def test_rows_align_with_the_accuracy_table():
    hw, nb = load_hw_benchmark(), load_nb201()
    assert hw.nb201 is nb
    assert hw.latency.shape == (15625, len(HELP_DEVICES) + 3 * len(HW360_DEVICES))
    assert hw.latency.dtype == np.float32 and np.isfinite(hw.latency).all() and (hw.latency > 0).all()
    assert set(hw.devices()) == set(DEVICES)
    assert set(hw.devices("cifar10")) == set(HELP_DEVICES)
    assert hw.devices("ninapro") == HW360_DEVICES and hw.devices("imagenet16-120") == ()


def test_loader_refuses_misaligned_rows():
    nb = load_nb201()
    ops, index = np.array(nb.ops), np.array(nb.index)
    check_alignment(ops, index, nb)  # the real thing passes
    swapped = ops.copy()
    swapped[[10, 11]] = swapped[[11, 10]]
    with pytest.raises(SpacenasError, match="not aligned.*2 rows differ in architecture"):
        check_alignment(swapped, index, nb)
    with pytest.raises(SpacenasError, match="1 in NB201 index"):
        check_alignment(ops, np.r_[index[:-1], 0], nb)
    with pytest.raises(SpacenasError, match="15624 archs, expected 15625"):
        check_alignment(ops[:-1], index[:-1], nb)


def test_values_pinned_to_the_raw_sources():
    hw = load_hw_benchmark()
    a = hw.space.parse(ARCH0)  # NB201 index 0 (HELP str_arch2idx and HW-NAS-Bench-360 arch_idx 0)
    r = hw.row(a)
    assert hw.nb201.index[r] == 0
    assert hw.latency_values("pixel3", "cifar10")[r] == pytest.approx(3.60585, rel=1e-6)  # HELP pixel3.pt[0]
    assert hw.latency_values("pi5_litert", "cifar100")[r] == pytest.approx(1.487672, rel=1e-6)
    assert hw.latency_values("pixel_litert", "darcy")[r] == pytest.approx(8.24486, rel=1e-6)
    assert hw.energy_values("pi5_litert", "cifar100")[r] == pytest.approx(2.575322, rel=1e-6)
    assert hw.value(a, "ninapro") == pytest.approx(90.74355, rel=1e-6)
    assert hw.value(a, "darcy") == pytest.approx(0.92918, rel=1e-5)
    # Darcy: higher is better (score = 1 - relative L2 error); see docs/hardware-aware.md
    assert hw.optimum("darcy")[1] == pytest.approx(0.98481, abs=1e-5)
    assert hw.optimum("ninapro")[1] == pytest.approx(94.38543, abs=1e-4)


def test_unmeasured_device_dataset_pairs_are_errors():
    hw = load_hw_benchmark()
    with pytest.raises(SpacenasError, match="unknown device 'pixel9'"):
        hw.latency_values("pixel9", "cifar10")
    with pytest.raises(SpacenasError, match="'pixel3' has latency for dataset.s. cifar10 only.*pi5_litert"):
        hw.latency_values("pixel3", "darcy")
    with pytest.raises(SpacenasError, match="no energy data for device 'fpga'"):
        hw.energy_values("fpga", "cifar10")
    with pytest.raises(SpacenasError, match="unknown dataset 'mnist'"):
        hw.devices("mnist")


def test_evaluator_reports_hardware_metrics_and_task_scores():
    e = HWTabularEvaluator("ninapro", devices=["pixel_litert"])
    a = e.space.parse(ARCH0)
    r = e.evaluate(a)
    assert r.score == r.metrics["valid"] == r.metrics["test"] == pytest.approx(90.74355, rel=1e-6)
    assert r.metrics["error"] == pytest.approx(100 - 90.74355, rel=1e-5)
    assert r.metrics["params"] == 129306  # CIFAR-10 network (shipped params of index 0)
    assert set(r.metrics) == {"valid", "test", "error", "params", "flops", "index", "latency:pixel_litert"}
    assert r.cost == 1.0 and e.evaluate(a).cost == 0.0 and e.spent == 1
    d = HWTabularEvaluator("darcy", devices=["pi5_onnx"]).evaluate(a)
    assert d.metrics["error"] == pytest.approx(1 - d.score) and "energy:pi5_onnx" in d.metrics
    c = HWTabularEvaluator("cifar10").evaluate(a)  # all 27 HELP devices by default
    assert sum(k.startswith("latency:") for k in c.metrics) == 27 and "feasible" not in c.metrics
    assert c.score == pytest.approx(load_nb201().accuracy(a, "cifar10", "valid"))


def test_constraints_mark_and_restrict():
    e = HWTabularEvaluator("cifar10", constraints=["latency:pixel3<=5", "params<=0.5M"], devices=["fpga"])
    lat = e.metric_values("latency:pixel3")
    params = e.metric_values("params")
    brute = (lat <= 5) & (params <= 5e5)
    assert np.array_equal(e.feasible_mask, brute) and 0 < brute.sum() < 15625
    assert e.devices == ("fpga", "pixel3")  # a constrained device is always reported
    # the constrained optimum is the best valid accuracy among feasible rows
    acc = e.metric_values("valid")
    arch, best = e.benchmark.optimum("cifar10", "valid")
    assert best == acc[brute].max() and brute[e.hw.row(arch)]
    assert best < acc.max()
    bad = e.hw.arch_at(int(np.flatnonzero(~brute)[0]))
    good = e.hw.arch_at(int(np.flatnonzero(brute)[0]))
    assert not is_feasible(e.evaluate(bad)) and is_feasible(e.evaluate(good))
    p = HWTabularEvaluator("cifar10", constraints="latency:pixel3<=5", devices=[], penalize=True)
    slowest = p.hw.arch_at(int(np.argmax(lat)))
    r = p.evaluate(slowest)
    assert r.metrics["feasible"] == 0.0 and r.score == acc.min() - 1.0
    assert r.metrics["valid"] == acc[int(np.argmax(lat))]


def test_constraint_errors():
    with pytest.raises(SpacenasError, match="no architecture satisfies.*latency:pixel3<=0.001.*best in table"):
        HWTabularEvaluator("cifar10", constraints="latency:pixel3<=0.001")
    with pytest.raises(SpacenasError, match="'pixel3' has latency for dataset.s. cifar10 only"):
        HWTabularEvaluator("ninapro", constraints="latency:pixel3<=5")
    with pytest.raises(SpacenasError, match="unknown metric 'size'"):
        HWTabularEvaluator("cifar10", constraints="size<=5")
    with pytest.raises(SpacenasError, match="unknown dataset"):
        HWTabularEvaluator("svhn")


def _brute_front(points: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Rows among ``cand`` that no row of ``points`` dominates (minimization)."""
    keep = []
    for i in cand:
        dom = np.all(points <= points[i], axis=1) & np.any(points < points[i], axis=1)
        keep.append(not dom.any())
    return np.asarray(keep)


def test_exact_front_matches_brute_force_on_the_table():
    e = HWTabularEvaluator("cifar10", devices=["pixel3"])
    objs = parse_objectives("accuracy,latency:pixel3")
    rows = e.exact_front(objs)
    pts = np.stack([-e.metric_values("valid"), e.metric_values("latency:pixel3")], axis=1)
    assert _brute_front(pts, rows).all()  # nobody dominates a front row
    on_front = np.zeros(len(pts), dtype=bool)
    on_front[rows] = True
    front = pts[rows]
    # every other row is dominated by some front row (dominance is transitive, the table finite)
    others = pts[~on_front]
    dom = np.zeros(len(others), dtype=bool)
    for f in front:
        dom |= np.all(f <= others, axis=1) & np.any(f < others, axis=1)
    assert dom.all()
    assert pts[rows, 0].min() == -e.metric_values("valid").max()  # the accuracy optimum is on it
    # constrained front: only feasible rows
    c = HWTabularEvaluator("cifar10", constraints="flops<=50M", devices=["pixel3"])
    crow = c.exact_front(objs)
    assert c.feasible_mask[crow].all() and len(crow) > 0


def test_shipped_file_is_compact():
    from importlib import resources

    path = resources.files("spacenas.benchmarks") / "data" / "nb201_hw.npz"
    with resources.as_file(path) as p:
        assert p.stat().st_size < 4_000_000


def test_corrupt_table_rejected():
    hw = load_hw_benchmark()
    with pytest.raises(SpacenasError, match="unexpected array shapes"):
        replace(hw, latency=hw.latency[:, :3])


def test_make_hw_evaluator_fronts_and_hypervolume():
    from spacenas.evaluators.constraints import hypervolume_2d, objective_matrix, pareto_front
    from spacenas.evaluators.hw_tabular import make_hw_evaluator

    e = make_hw_evaluator("cifar10", objectives="accuracy,latency:fpga", constraints="params<=1M")
    assert e.devices == ("fpga",)  # only the named device is reported
    objs = parse_objectives("accuracy,latency:fpga")
    ref = e.reference_point(objs)
    feas = e.feasible_mask
    assert ref[0] == -e.metric_values("valid")[feas].min() and ref[1] == e.metric_values("latency:fpga")[feas].max()
    exact = e.exact_hypervolume(objs)
    rng = np.random.default_rng(0)
    results = [e.evaluate(e.hw.arch_at(int(r))) for r in rng.choice(15625, 200, replace=False)]
    front = pareto_front(results, objs)
    assert all(is_feasible(results[i]) for i in front)
    hv = hypervolume_2d(objective_matrix([results[i] for i in front], objs), ref)
    assert 0 < hv < exact
    # evaluating exactly the table's front reaches the exact hypervolume
    top = [e.evaluate(e.hw.arch_at(int(r))) for r in e.exact_front(objs)]
    assert hypervolume_2d(objective_matrix(top, objs), ref) == pytest.approx(exact)
    assert len(pareto_front(top, objs)) == len(top)
