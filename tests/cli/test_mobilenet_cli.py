"""Query-based search on the MobileNet-like space from the run API, the CLI and sweeps (tiny sizes)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import spacenas.nn.mobilenet_supernet as msn
from spacenas.cli.main import main
from spacenas.errors import SpacenasError
from spacenas.evaluators.supernet_run import CACHE_FILE, SupernetRunEvaluator, parse_madds_limit
from spacenas.nn.madds_mobilenet import subnet_cost
from spacenas.runner import LOG, read_log
from spacenas.sweep import RunSpec, build_runner, run_search, supernet_cache_of, sweep

TINY = {"stem_width": 4, "widths": [4, 4, 6, 6, 8], "head_width": 8}
SN = {"epochs": 2, "train_limit": 256, "valid_limit": 64, "calib_size": 32, "shape": TINY, "madds_limit": "50%"}
CLI_SN = ["--supernet", "train_limit=256", "--supernet", "valid_limit=64", "--supernet", "calib_size=32",
          "--supernet", "shape=" + json.dumps(TINY)]


def spec(method="random", seed=0, budget=10, **kw):
    opts = {"dsm": {"n_subspaces": 3, "radius": 3}, "evolution": {"population_size": 4, "sample_size": 2}}
    return RunSpec(method, "digits", seed, budget, "mobilenet", options=opts.get(method, {}),
                   supernet={**SN, **kw})


@pytest.fixture
def count_training(monkeypatch):
    calls = []
    real = msn.train_supernet

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(msn, "train_supernet", counting)
    return calls


def test_parse_madds_limit_hand_worked():
    assert parse_madds_limit("1.5M") == (1.5e6, None)  # 1.5 * 1e6
    assert parse_madds_limit("800k") == (8e5, None)  # 800 * 1e3
    assert parse_madds_limit(2e6) == (2e6, None) and parse_madds_limit(None) == (None, None)
    assert parse_madds_limit("50%") == (None, 50.0)
    for bad in ("abc", "0", "150%", "-3M"):
        with pytest.raises(SpacenasError, match="bad MAdds limit"):
            parse_madds_limit(bad)


def test_percentile_limit_and_smallest_arch_check():
    ev = SupernetRunEvaluator("digits", 0, {"shape": TINY, "madds_limit": "50%"})
    rng = np.random.default_rng(0)
    sample = [subnet_cost(ev.space.sample(rng), ev.shape, ev.space).madds for _ in range(2000)]
    assert ev.madds_limit == float(np.percentile(sample, 50)) and ev.constraints == [f"madds<={ev.madds_limit:g}"]
    smallest = subnet_cost(ev.space.parse("1100" * 5), ev.shape, ev.space).madds
    assert smallest <= min(sample)  # MAdds grow with depth, kernel, expansion
    SupernetRunEvaluator("digits", 0, {"shape": TINY, "madds_limit": smallest})  # exactly the smallest: allowed
    with pytest.raises(SpacenasError, match="below the smallest architecture's .* no architecture is feasible"):
        SupernetRunEvaluator("digits", 0, {"shape": TINY, "madds_limit": smallest - 1})
    assert ev._inner is None  # nothing trained yet


def test_run_api_result_fields_and_cache(tmp_path, count_training):
    res = run_search(spec("dsm"), run_dir=tmp_path / "r", progress=False)
    assert count_training == [1] and (tmp_path / "r" / CACHE_FILE).exists()
    assert res.space == "mobilenet" and res.dataset == "digits" and res.spent == 10 and res.stopped == "budget"
    assert res.optimum_test is None and res.optimum_valid is None and res.gap is None
    m = res.metrics
    assert res.feasible is True and m["feasible"] == 1.0 and m["madds"] <= json.loads(
        (tmp_path / "r" / "config.json").read_text())["madds_limit"]
    assert res.score == res.valid == m["accuracy"] and res.test == m["test"] and 0 <= res.test <= 100
    assert m["params"] > 0 and len(res.arch) == 20
    # the same run loading the cached supernet (another run dir) gives the same result, no training
    again = run_search(spec("dsm"), run_dir=tmp_path / "r2", progress=False,
                       supernet_cache=tmp_path / "r" / CACHE_FILE)
    assert count_training == [1] and again.to_dict() == res.to_dict()


@pytest.mark.parametrize("method", ["dsm", "evolution"])
def test_resume_equals_uninterrupted_and_does_not_retrain(tmp_path, count_training, method):
    ref = run_search(spec(method), run_dir=tmp_path / "ref", checkpoint_every=0, progress=False)
    runner = build_runner(spec(method), run_dir=tmp_path / "cut", checkpoint_every=3, progress=False)
    real, calls = runner.evaluator.evaluate, []

    def crash(arch):
        calls.append(1)
        if len(calls) == 8:
            raise KeyboardInterrupt
        return real(arch)

    runner.evaluator.evaluate = crash
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    assert count_training == [1, 1]
    res = run_search(spec(method), run_dir=tmp_path / "cut", resume=True, checkpoint_every=3, progress=False)
    assert count_training == [1, 1]  # loaded from cut/supernet.pt
    assert res.to_dict() == ref.to_dict()
    assert read_log(tmp_path / "cut") == read_log(tmp_path / "ref")
    assert (tmp_path / "cut" / LOG).exists()


def test_cache_with_other_settings_is_refused(tmp_path):
    run_search(spec(), run_dir=tmp_path / "r", progress=False)
    with pytest.raises(SpacenasError, match="other settings .*differs in: epochs"):
        run_search(spec(epochs=1), run_dir=tmp_path / "r2", progress=False, supernet_cache=tmp_path / "r" / CACHE_FILE)


def test_cli_search_prints_arch_metrics_and_no_optimum(tmp_path, capsys):
    argv = ["search", "--space", "mobilenet", "--method", "random", "--data", "digits", "--epochs", "2",
            "--madds-limit", "50%", "--budget", "6", "--seed", "1", "--run-dir", str(tmp_path / "r"),
            "--no-progress", *CLI_SN]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "no table optimum for this space" in out and "MAdds" in out and "params" in out
    assert "feasible yes" in out and "held-out" in out
    res = json.loads((tmp_path / "r" / "result.json").read_text())
    assert res["arch"] in out and res["gap"] is None
    assert main([*argv, "--resume", "--json"]) == 0  # finished run: the stored result
    assert json.loads(capsys.readouterr().out)["arch"] == res["arch"]


@pytest.mark.parametrize("extra,msg", [
    (["--madds-limit", "0.1M"], "below the smallest architecture"),
    (["--madds-limit", "lots"], "bad MAdds limit 'lots'"),
    (["--data", "fashion-mnist", "--data-dir", "/no/such/dir"], "bad data dir /no/such/dir: not a directory"),
    (["--data", "nope"], "unknown data set 'nope'"),
    (["--constraint", "params<=1M"], "only for the nb201 table"),
    (["--search-metric", "test"], "bad search metric 'test'"),
    (["--supernet", "epoch=3"], "unknown option 'epoch'"),
    (["--data", "digits", "--dataset", "cifar10"], "disagree"),
    (["--progressive"], "--progressive"),
])
def test_cli_errors_are_one_line(capsys, extra, msg):
    assert main(["search", "--space", "mobilenet", "--method", "random", *extra]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1


@pytest.mark.parametrize("argv,msg", [
    (["search", "--space", "darts", "--method", "random"], "cannot be searched by query-based methods"),
    (["search", "--space", "nb201", "--method", "random", "--madds-limit", "1M"], "only for the supernet spaces"),
    (["sweep", "--space", "nb201", "--methods", "random", "--out", "x", "--epochs", "2"], "only for the supernet"),
    (["search", "--method", "darts", "--madds-limit", "1M"], "only for query-based methods on --space mobilenet"),
])
def test_cli_errors_for_other_spaces(capsys, argv, msg):
    assert main(argv) == 2
    assert msg in capsys.readouterr().err


def test_sweep_trains_one_supernet_per_seed_shared_by_methods(tmp_path, count_training):
    out = tmp_path / "sw"
    summ = sweep(out, ["random", "dsm"], ["digits"], "0:2", budget=6, space="mobilenet", supernet=SN,
                 options={"dsm": {"n_subspaces": 3, "radius": 3}}, workers=1, progress=False)
    assert summ.total == 4 and count_training == [1, 1]
    assert all(supernet_cache_of(out, "digits", s).exists() for s in (0, 1))
    assert all(r.gap is None and r.metrics["feasible"] == 1.0 for r in summ.results)
    # a sweep run equals the single run with the same spec
    r0 = next(r for r in summ.results if r.method == "random" and r.seed == 1)
    single = run_search(spec("random", seed=1, budget=6), progress=False)
    assert r0.to_dict() == single.to_dict()
    again = sweep(out, ["random", "dsm"], ["digits"], "0:2", budget=6, space="mobilenet", supernet=SN,
                  options={"dsm": {"n_subspaces": 3, "radius": 3}}, workers=1, progress=False)
    assert again.skipped == 4 and count_training == [1, 1, 1]  # + the single run above, nothing retrained
