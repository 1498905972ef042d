"""Constraint / objective parsing and Pareto utilities."""
import numpy as np
import pytest

from spacenas.errors import SpacenasError
from spacenas.evaluators.base import Result
from spacenas.evaluators.constraints import (Constraint, Objective, as_constraints, crowding_distance,
                                             dominates, hypervolume_2d, is_feasible, non_dominated_sort,
                                             objective_matrix, parse_constraint, parse_metric,
                                             parse_objectives, pareto_mask)


@pytest.mark.parametrize("text, metric, op, bound", [
    ("latency:pixel3<=10", "latency:pixel3", "<=", 10.0),
    (" latency:raspi4 < 2.5ms ", "latency:raspi4", "<", 2.5),
    ("params<=0.8M", "params", "<=", 800000.0),
    ("params<=800k", "params", "<=", 800000.0),
    ("flops<=1.2e8", "flops", "<=", 1.2e8),
    ("flops>=1G", "flops", ">=", 1e9),
    ("energy:pi5_litert<=3mJ", "energy:pi5_litert", "<=", 3.0),
])
def test_parse_constraint(text, metric, op, bound):
    c = parse_constraint(text)
    assert (c.metric, c.op) == (metric, op) and c.bound == pytest.approx(bound)


@pytest.mark.parametrize("text, msg", [
    ("latency:pixel9<=10", "unknown device 'pixel9'"),
    ("latency<=10", "metric 'latency' needs a device"),
    ("size<=10", "unknown metric 'size'"),
    ("speed:pixel3<=10", "unknown metric 'speed:pixel3'"),
    ("params 10", "bad constraint 'params 10': expected METRIC<=NUMBER \\(or <, >=, >\\) with METRIC one of"),
    ("params=10", "operator '='"),
    ("params<=ten", "'ten' is not a number"),
    ("params<=", "'' is not a number"),
    ("params<=10ms", "unknown suffix 'ms'"),
    ("latency:pixel3<=10mJ", "unknown suffix 'mJ'"),
    ("params<=inf", "is not a number"),
])
def test_bad_constraints(text, msg):
    with pytest.raises(SpacenasError, match=msg):
        parse_constraint(text)


def test_constraint_satisfied():
    c = parse_constraint("latency:pixel3<=10")
    assert c.satisfied({"latency:pixel3": 10.0}) and not c.satisfied({"latency:pixel3": 10.01})
    assert not parse_constraint("latency:pixel3<10").satisfied({"latency:pixel3": 10.0})
    assert parse_constraint("params>=5").satisfied({"params": 5})
    with pytest.raises(SpacenasError, match="needs metric 'latency:pixel3'.*reports: params"):
        c.satisfied({"params": 1.0})
    assert str(c) == "latency:pixel3<=10"
    assert as_constraints(None) == () and as_constraints("params<=5") == (Constraint("params", "<=", 5.0),)
    with pytest.raises(SpacenasError, match="unknown constraint operator"):
        Constraint("params", "!=", 1.0)
    assert is_feasible(Result(1.0)) and not is_feasible(Result(1.0, {"feasible": 0.0}))
    assert parse_metric(" flops ") == "flops"


def test_objectives():
    objs = parse_objectives("accuracy, latency:pixel3")
    assert objs == (Objective("score", True), Objective("latency:pixel3", False))
    rs = [Result(90.0, {"latency:pixel3": 3.0}), Result(80.0, {"latency:pixel3": 1.0})]
    assert objective_matrix(rs, objs).tolist() == [[-90.0, 3.0], [-80.0, 1.0]]
    with pytest.raises(SpacenasError, match="at least two"):
        parse_objectives("accuracy")
    with pytest.raises(SpacenasError, match="listed twice"):
        parse_objectives("accuracy,score")
    with pytest.raises(SpacenasError, match="unknown device"):
        parse_objectives("accuracy,latency:nope")
    with pytest.raises(SpacenasError, match="not reported by the evaluator"):
        objs[1].value(Result(1.0, {"params": 3.0}))


def test_dominance_and_sorting_by_hand():
    assert dominates([1, 1], [1, 2]) and not dominates([1, 1], [1, 1]) and not dominates([1, 3], [2, 2])
    # A(1,1) dominates all; without A, B(2,2) C(1,3) D(3,1) are mutually non-dominated; E(3,3) > B
    pts = np.array([[1, 1], [2, 2], [1, 3], [3, 1], [3, 3]])
    assert non_dominated_sort(pts).tolist() == [0, 1, 1, 1, 2]
    assert pareto_mask(np.array([[1, 1], [1, 1], [1, 2], [0, 5]])).tolist() == [True, True, False, True]
    # crowding on the front (1,3),(2,2),(3,1): middle gets (3-1)/2 + (3-1)/2 = 2, ends infinite
    assert crowding_distance(np.array([[1, 3], [2, 2], [3, 1]])).tolist() == [np.inf, 2.0, np.inf]


def _brute(points):
    n = len(points)
    return np.array([not any(dominates(points[j], points[i]) for j in range(n) if j != i) for i in range(n)])


@pytest.mark.parametrize("m", [2, 3])
def test_pareto_mask_matches_brute_force(m):
    rng = np.random.default_rng(m)
    for _ in range(20):
        pts = rng.integers(0, 6, size=(int(rng.integers(1, 40)), m)).astype(float)  # many ties
        assert np.array_equal(pareto_mask(pts, chunk=7), _brute(pts))
        ranks = non_dominated_sort(pts)
        for i in range(len(pts)):  # a point of rank r is dominated by one of rank r-1
            if ranks[i] > 0:
                assert any(dominates(pts[j], pts[i]) for j in np.flatnonzero(ranks == ranks[i] - 1))


def test_hypervolume_by_hand():
    # front (1,3),(2,2),(3,1), ref (4,4): strips (2-1)*(4-3) + (3-2)*(4-2) + (4-3)*(4-1) = 1 + 2 + 3 = 6
    front = np.array([[1, 3], [2, 2], [3, 1]])
    assert hypervolume_2d(front, (4, 4)) == 6.0
    # dominated, duplicate and out-of-reference points add nothing
    extra = np.array([[2.5, 2.5], [2, 2], [5, 0], [0, 4]])
    assert hypervolume_2d(np.vstack([front, extra]), (4, 4)) == 6.0
    assert hypervolume_2d(np.array([[0, 0]]), (2, 3)) == 6.0 and hypervolume_2d(np.zeros((0, 2)), (1, 1)) == 0.0
    # Monte-Carlo check of a random set
    rng = np.random.default_rng(0)
    pts = rng.random((15, 2))
    u = rng.random((20000, 2))
    covered = (pts[None, :, 0] <= u[:, None, 0]) & (pts[None, :, 1] <= u[:, None, 1])
    assert hypervolume_2d(pts, (1, 1)) == pytest.approx(covered.any(axis=1).mean(), abs=0.02)
