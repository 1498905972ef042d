"""Hardware-aware search end to end: constraints, multi-objective fronts, hypervolume, CLI."""
import json

import numpy as np
import pytest

from spacenas import registry
from spacenas.cli.main import main
from spacenas.errors import SpacenasError
from spacenas.evaluators.constraints import Objective, parse_objectives
from spacenas.evaluators.hw_tabular import make_hw_evaluator
from spacenas.evaluators.multiobjective import (ScalarizedEvaluator, found_front, normalized_goodness, parse_weights,
                                                scalarize)
from spacenas.runner import Runner, read_log
from spacenas.strategies.base import QueryStrategy
from spacenas.strategies.query.mo_evolution import MOEvolution, crowded_tournament, rank_and_crowding
from spacenas.sweep import RunSpec, run_search, sweep

LIMIT = "latency:pixel3<=6"
OBJ = "accuracy,latency:pixel3"


@pytest.fixture(scope="module")
def ev_limit():
    return make_hw_evaluator("cifar10", constraints=[LIMIT], penalize=True)


# ----- pure functions, hand-worked ---------------------------------------------------------------
def test_normalized_goodness_and_scalarize_hand_worked():
    # maximized, lo 80, hi 90: 85 -> (85-80)/10 = 0.5; minimized, lo 2, hi 10: 4 -> (10-4)/8 = 0.75
    assert normalized_goodness(np.array([85.0]), 80, 90, True)[0] == pytest.approx(0.5)
    assert normalized_goodness(np.array([4.0]), 2, 10, False)[0] == pytest.approx(0.75)
    assert normalized_goodness(np.array([3.0]), 3, 3, False)[0] == 1.0  # constant objective
    # 100 * (1*0.5 + 3*0.75) / 4 = 100 * 2.75 / 4 = 68.75
    assert scalarize([0.5, 0.75], [1, 3]) == pytest.approx(68.75)
    assert parse_weights(None, 2) == (1.0, 1.0) and parse_weights("1,3", 2) == (1.0, 3.0)
    for bad in ("1", "1,x", "-1,2", "0,0"):
        with pytest.raises(SpacenasError, match="bad weights"):
            parse_weights(bad, 2)


def test_rank_crowding_and_tournament_hand_worked():
    # minimization points: a=(0,3) b=(1,1) c=(3,0) form front 0; d=(2,2) is dominated by b -> front 1;
    # e=(0,0) is infeasible -> rank 2 (after the 2 feasible fronts) although it dominates all.
    pts = np.array([[0, 3], [1, 1], [3, 0], [2, 2], [0, 0]], float)
    rank, crowd = rank_and_crowding(pts, [True, True, True, True, False])
    assert rank.tolist() == [0, 0, 0, 1, 2]
    # crowding of b within front 0: f1 span 3, neighbours 0 and 3 -> 3/3; f2 span 3, neighbours 0, 3 -> 3/3; = 2
    assert np.isinf(crowd[0]) and np.isinf(crowd[2]) and crowd[1] == pytest.approx(2.0)
    assert crowd[4] == 0
    # rank first: d (rank 1) loses to b (rank 0); crowding next: a (inf) beats b (2); ties -> first drawn
    assert crowded_tournament(rank, crowd, [3, 1]) == 1
    assert crowded_tournament(rank, crowd, [1, 0]) == 0
    assert crowded_tournament(rank, crowd, [2, 0]) == 2
    assert crowded_tournament(rank, crowd, [4, 3]) == 3


# ----- hard constraints end to end -----------------------------------------------------------------
@pytest.mark.parametrize("method", ["random", "evolution", "reinforce", "local", "dsm", "mo-evolution"])
def test_constrained_runs_return_feasible_arch_and_constrained_optimum(method, ev_limit, tmp_path):
    res = run_search(RunSpec(method, "cifar10", seed=3, budget=25, constraints=(LIMIT,)),
                     run_dir=tmp_path / "r", progress=False)
    lat = ev_limit.hw.latency_values("pixel3", "cifar10")
    assert res.constraints == [LIMIT] and res.feasible is True
    assert lat[ev_limit.hw.row(ev_limit.space.parse(res.arch))] <= 6
    test = ev_limit.hw.column_values("cifar10", "test")
    assert res.optimum_test == pytest.approx(test[lat <= 6].max()) and res.optimum_test < test.max()
    assert res.gap == pytest.approx(res.optimum_test - res.test)
    # the answer is the best *feasible* arch evaluated, by the search metric
    ok = [e for e in read_log(tmp_path / "r") if e["metrics"]["feasible"] == 1.0]
    if method != "dsm":  # DSM-NAS answers with its best center
        assert res.valid == max(e["metrics"]["valid"] for e in ok)
    assert json.loads((tmp_path / "r" / "config.json").read_text())["constraints"] == [LIMIT]


def test_dsm_centers_are_always_feasible():
    """Only archs within the constraints may become DSM-NAS subspace centers, initial ones included."""
    ev = make_hw_evaluator("cifar10", constraints=["latency:fpga<=2.5"], penalize=True)
    strat = registry.query_strategy("dsm")(ev.space, seed=0)
    Runner(strat, ev, budget=100, seed=0, progress=False).run()
    assert strat.n_init_redraws > 0  # the random initial draw did hit infeasible archs
    lat = ev.hw.latency_values("fpga", "cifar10")
    assert all(lat[ev.hw.row(c)] <= 2.5 for c in strat.centers)
    assert all(s is not None for s in strat.center_scores)


class AlwaysInfeasible(QueryStrategy):
    def ask(self):
        return self.space.make([3] * 6)  # all nor_conv_3x3: the slowest kind of arch


def test_nothing_feasible_evaluated_returns_no_arch(ev_limit):
    res = Runner(AlwaysInfeasible(ev_limit.space), ev_limit, budget=1, seed=0, progress=False).run()
    assert res.arch is None and res.feasible is False and res.test is None and res.gap is None


def test_penalized_score_is_below_every_feasible_score(ev_limit):
    r = ev_limit.evaluate(ev_limit.space.make([3] * 6))
    assert r.metrics["feasible"] == 0.0 and r.score < ev_limit.hw.column_values("cifar10", "valid").min()


# ----- multi-objective -------------------------------------------------------------------------------
def brute_force_front(events, names):
    """Feasible evaluated archs that no other evaluated feasible arch dominates (O(n^2))."""
    pts = {}
    for e in events:
        if e["metrics"].get("feasible", 1.0) == 1.0:
            pts[e["arch"]] = (-e["metrics"]["valid"], e["metrics"][names[1]])
    out = set()
    for a, p in pts.items():
        if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in pts.values()):
            out.add(a)
    return out


@pytest.mark.parametrize("method", ["random", "mo-evolution", "dsm"])
def test_front_matches_brute_force_and_hv_ratio_in_unit_interval(method, tmp_path):
    res = run_search(RunSpec(method, "cifar10", seed=1, budget=30, objectives=OBJ), run_dir=tmp_path / "r",
                     progress=False)
    events = read_log(tmp_path / "r")
    assert {row["arch"] for row in res.front} == brute_force_front(events, ["accuracy", "latency:pixel3"])
    assert 0.0 < res.hv_ratio <= 1.0
    assert res.hv_ratio == pytest.approx(res.hypervolume / res.exact_hypervolume)
    assert res.objectives == ["accuracy", "latency:pixel3"]


def test_front_with_constraint_keeps_only_feasible(tmp_path):
    res = run_search(RunSpec("random", "cifar10", seed=2, budget=40, constraints=("latency:pixel3<=8",),
                             objectives=OBJ), progress=False)
    assert res.front and all(row["latency:pixel3"] <= 8 for row in res.front)
    assert 0.0 < res.hv_ratio <= 1.0


class AskList(QueryStrategy):
    def __init__(self, space, archs):
        super().__init__(space)
        self.archs = archs

    def ask(self):
        return self.archs[len(self.history) % len(self.archs)]


def test_evaluating_the_exact_front_gives_hv_ratio_one():
    ev = make_hw_evaluator("cifar10", objectives=OBJ)
    objs = parse_objectives(OBJ)
    from spacenas.evaluators.multiobjective import report_objectives

    rows = ev.exact_front(report_objectives(objs, "valid"))
    archs = [ev.hw.arch_at(int(r)) for r in rows]
    res = Runner(AskList(ev.space, archs), ev, budget=len(set(a.choices for a in archs)), seed=0, progress=False,
                 objectives=objs).run()
    assert res.hv_ratio == pytest.approx(1.0)


def test_found_front_dedupes_and_sorts():
    ev = make_hw_evaluator("cifar10", objectives=OBJ)
    a, b = ev.space.make([3] * 6), ev.space.make([1] * 6)
    ra, rb = ev.evaluate(a), ev.evaluate(b)
    objs = (Objective("valid", True), Objective("latency:pixel3", False))
    front = found_front([(a, ra), (b, rb), (a, ra)], objs)
    assert len({x.choices for x, _ in front}) == len(front)
    assert [x for x, _ in front] == sorted([x for x, _ in front], key=lambda x: -ev.evaluate(x).metrics["valid"])


def test_scalarized_evaluator_scores_and_delegates():
    inner = make_hw_evaluator("cifar10", constraints=[LIMIT], objectives=OBJ, penalize=True)
    ev = ScalarizedEvaluator(inner, parse_objectives(OBJ))
    r = ev.evaluate(ev.space.make([3] * 6))
    assert r.score == -1.0 and r.metrics["valid"] > 80  # infeasible: below every feasible arch
    ok = ev.evaluate(ev.space.make([1, 0, 1, 0, 0, 1]))
    assert ok.metrics["feasible"] == 1.0 and 0.0 <= ok.score <= 100.0
    assert ev.spent == 2 and ev.dataset == "cifar10" and ev.benchmark is inner.benchmark


def test_mo_evolution_population_and_resume_state():
    ev = make_hw_evaluator("cifar10", objectives=OBJ)
    s = MOEvolution(ev.space, seed=0, config={"objectives": OBJ, "population_size": 5})
    for _ in range(12):
        a = s.ask()
        s.tell(a, ev.evaluate(a))
    assert len(s.population) == 5
    assert s.population[0][1] == (-s.history[7][1].score, s.history[7][1].metrics["latency:pixel3"])
    with pytest.raises(SpacenasError, match="sample_size"):
        MOEvolution(ev.space, config={"objectives": OBJ, "population_size": 2, "sample_size": 3})


# ----- NAS-Bench-360 tasks ---------------------------------------------------------------------------
def test_ninapro_and_darcy_runs():
    for ds in ("ninapro", "darcy"):
        res = run_search(RunSpec("evolution", ds, seed=0, budget=20), progress=False)
        assert res.dataset == ds and res.feasible is None and res.gap >= 0
    res = run_search(RunSpec("random", "ninapro", seed=0, budget=20, constraints=("latency:pixel_litert<=2",)),
                     progress=False)
    assert res.feasible


def test_sweep_with_constraints(tmp_path):
    summ = sweep(tmp_path / "s", ["random", "dsm"], ["cifar10"], 2, budget=10, workers=1, progress=False,
                 constraints=["params<=0.5M"])
    assert all(r.feasible for r in summ.results)
    assert json.loads((tmp_path / "s" / "sweep.json").read_text())["constraints"] == ["params<=0.5M"]
    with pytest.raises(SpacenasError, match="different constraints"):
        sweep(tmp_path / "s", ["random"], ["cifar10"], 2, budget=10, workers=1, progress=False)


# ----- CLI ---------------------------------------------------------------------------------------------
def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


BAD = [
    (["--constraint", "latency:nosuch<=3"], "unknown device 'nosuch'"),
    (["--constraint", "speed<=3"], "unknown metric 'speed'"),
    (["--objectives", "accuracy,speed"], "unknown metric 'speed'"),
    (["--constraint", "latency:pixel3<=0.001"], "no architecture satisfies the constraints"),
    (["--constraint", "params<=lots"], "bad constraint"),
    (["--dataset", "ninapro", "--constraint", "latency:pixel3<=3"], "has latency for dataset(s) cifar10 only"),
    (["--objectives", "accuracy"], "at least two"),
    (["--weights", "1,1"], "weights are for a multi-objective run"),
    (["--objectives", OBJ, "--weights", "1"], "bad weights"),
    (["--dataset", "mnist"], "unknown dataset 'mnist'"),
]


@pytest.mark.parametrize("extra,msg", BAD)
def test_cli_errors_are_one_line(capsys, tmp_path, extra, msg):
    rc, out, err = run(capsys, "search", "--method", "random", "--budget", "5", "--no-progress",
                       "--run-dir", str(tmp_path / "r"), *extra)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("spacenas: error: ") and msg in err, err
    assert not list(tmp_path.rglob("result.json"))


def test_cli_constrained_and_multiobjective_output(capsys, tmp_path):
    rc, out, _ = run(capsys, "search", "--method", "random", "--budget", "20", "--no-progress",
                     "--constraint", LIMIT)
    assert rc == 0 and "subject to latency:pixel3<=6" in out
    rc, out, err = run(capsys, "search", "--method", "mo-evolution", "--objectives", OBJ, "--budget", "20",
                       "--no-progress", "--run-dir", str(tmp_path / "m"))
    assert rc == 0 and "Pareto front of the" in out and "ratio" in out
    stored = json.loads((tmp_path / "m" / "result.json").read_text())
    assert 0 < stored["hv_ratio"] <= 1 and stored["front"]
    assert (tmp_path / "m" / "pareto.png").stat().st_size > 1000


def test_oneshot_dataset_feeds_data(capsys, monkeypatch):
    from spacenas.strategies.oneshot import build

    monkeypatch.setitem(registry.ONESHOT_STRATEGIES, "fakeshot", "nowhere:Nothing")
    seen = {}
    monkeypatch.setattr(build, "run_oneshot", lambda config, **kw: seen.update(config.model_dump()) or
                        (_ for _ in ()).throw(SystemExit(0)))

    def go(*argv):
        seen.clear()
        with pytest.raises(SystemExit):
            main(["search", "--method", "fakeshot", *argv])
    go()
    assert seen["data"] == "digits"
    go("--dataset", "cifar100")
    assert seen["data"] == "cifar100" and not seen["options"]
    go("--data", "digits", "--dataset", "cifar10")
    assert seen["data"] == "digits" and seen["options"] == {"dataset": "cifar10"}
    rc, _, err = run(capsys, "search", "--method", "fakeshot", "--constraint", LIMIT)
    assert rc == 2 and "only for query-based methods" in err


def test_constrained_multiobjective_run_resumes_exactly(tmp_path):
    spec = RunSpec("dsm", "cifar10", seed=4, budget=20, constraints=("latency:pixel3<=10",), objectives=OBJ)
    ref = run_search(spec, run_dir=tmp_path / "a", checkpoint_every=0, progress=False)
    run_search(spec, run_dir=tmp_path / "b", checkpoint_every=7, progress=False)
    (tmp_path / "b" / "result.json").unlink()  # as if killed after the step-14 checkpoint
    res = run_search(spec, run_dir=tmp_path / "b", resume=True, checkpoint_every=7, progress=False)
    assert res.to_dict() == ref.to_dict() and res.feasible and res.front
    assert json.loads((tmp_path / "a" / "config.json").read_text())["weights"] == [1.0, 1.0]
