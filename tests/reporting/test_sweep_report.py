import csv
import io
import json
import shutil

import numpy as np
import pytest

from spacenas.cli.main import main
from spacenas.errors import SpacenasError
from spacenas.reporting.plots import best_so_far
from spacenas.reporting.report import load_runs, paired_tests, stats, table, wilcoxon_p, write_report
from spacenas.runner import CHECKPOINT, LOG, RESULT, RunResult
from spacenas.sweep import RunSpec, parse_seeds, run_dir_of, run_search, sweep

METHODS, DATASETS = ["random", "evolution"], ["cifar10", "cifar100"]


def _results(out):
    return {p.relative_to(out).as_posix(): json.loads(p.read_text()) for p in sorted(out.rglob(RESULT))}


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    summ = sweep(out, METHODS, DATASETS, 3, budget=20, workers=1, progress=False, checkpoint_every=7)
    return out, summ


def test_sweep_layout_and_results(small_sweep):
    out, summ = small_sweep
    assert summ.total == 12 and summ.skipped == 0 and len(summ.results) == 12
    for r in summ.results:
        spec = RunSpec(r.method, r.dataset, r.seed, 20)
        assert r.run_dir == str(run_dir_of(out, spec)) and r.spent == 20
        # each sweep run is exactly the stand-alone run with the same seed
        assert r.to_dict() == run_search(spec, progress=False).to_dict()
    assert json.loads((out / "sweep.json").read_text())["seeds"] == [0, 1, 2]


def test_sweep_skips_finished_resumes_checkpointed_and_restarts_partial(small_sweep, tmp_path):
    src, _ = small_sweep
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    before = _results(out)
    # a run killed at step 17 (checkpoints at steps 7 and 14; the one at 14 is kept) ...
    a = out / "cifar10" / "random" / "seed-1"
    (a / RESULT).unlink()
    (a / LOG).write_text("".join((a / LOG).read_text().splitlines(keepends=True)[:17]))
    # ... and one interrupted before its first checkpoint
    b = out / "cifar100" / "evolution" / "seed-2"
    (b / RESULT).unlink()
    (b / CHECKPOINT).unlink()
    (b / LOG).write_text("garbage\n")
    summ = sweep(out, METHODS, DATASETS, 3, budget=20, workers=1, progress=False, checkpoint_every=7)
    assert summ.skipped == 10
    assert _results(out) == before
    assert (a / LOG).read_text() == (src / "cifar10" / "random" / "seed-1" / LOG).read_text()
    assert (b / LOG).read_text() == (src / "cifar100" / "evolution" / "seed-2" / LOG).read_text()


def test_process_pool_gives_the_same_results(small_sweep, tmp_path):
    src, _ = small_sweep
    sweep(tmp_path, METHODS, ["cifar10"], 3, budget=20, workers=2, progress=False)
    assert _results(tmp_path) == {k: v for k, v in _results(src).items() if k.startswith("cifar10/")}


def test_ray_local_gives_the_same_results(small_sweep, tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'spacenas[ray]')")
    src, _ = small_sweep
    sweep(tmp_path, ["random"], ["cifar100"], 3, budget=20, workers=2, ray="local", progress=False)
    assert _results(tmp_path) == {k: v for k, v in _results(src).items() if k.startswith("cifar100/random/")}


def test_sweep_validates_before_writing(tmp_path):
    with pytest.raises(SpacenasError, match="unknown method 'nosuch'"):
        sweep(tmp_path / "a", ["random", "nosuch"], ["cifar10"], 2, budget=5, workers=1, progress=False)
    with pytest.raises(SpacenasError, match="unknown option"):
        sweep(tmp_path / "a", ["random"], ["cifar10"], 2, budget=5, options={"random": {"x": 1}}, progress=False)
    assert not (tmp_path / "a").exists()
    sweep(tmp_path / "b", ["random"], ["cifar10"], 1, budget=5, workers=1, progress=False)
    with pytest.raises(SpacenasError, match="different budget"):
        sweep(tmp_path / "b", ["random"], ["cifar10"], 1, budget=6, workers=1, progress=False)


def test_parse_seeds():
    assert parse_seeds(3) == [0, 1, 2]
    assert parse_seeds("5:8") == [5, 6, 7]
    assert parse_seeds("4,9") == [4, 9]
    for bad in ("x", "0", "-1,2", "3:1"):
        with pytest.raises(SpacenasError, match="bad seeds"):
            parse_seeds(bad)


def _rr(method, dataset, seed, test):
    return RunResult(method, "nb201", dataset, seed, 10, "valid", "a", test, test, test, None, None,
                     None, 94.37, None, 94.37 - test, 10, 10, "budget")


def test_stats_and_paired_test_hand_worked():
    # population std: values 93, 94 -> mean 93.5, deviations +-0.5 -> std 0.5
    s = stats([93.0, 94.0])
    assert (s.n, s.mean, s.std) == (2, 93.5, 0.5)
    # Wilcoxon, 5 pairs, all differences positive (1..5): W- = 0; the exact two-sided p-value is
    # 2 * P(W- = 0) = 2 * (1 / 2^5) = 0.0625
    assert wilcoxon_p([2, 4, 6, 8, 10], [1, 2, 3, 4, 5]) == pytest.approx(0.0625)
    assert wilcoxon_p([1, 2], [1, 2]) == 1.0  # every difference zero
    runs = [_rr("dsm", "cifar10", s, 94.0 + s) for s in range(5)] + \
        [_rr("random", "cifar10", s, 93.0) for s in range(6)]
    t = table(runs)
    assert t[("random", "cifar10")].n == 6 and t[("dsm", "cifar10")].mean == 96.0
    (pt,) = paired_tests(runs)
    # pairs on the 5 shared seeds: differences 1..5 -> mean 3, p 0.0625
    assert (pt.a, pt.b, pt.n) == ("dsm", "random", 5)
    assert pt.mean_diff == pytest.approx(3.0) and pt.p == pytest.approx(0.0625)


def test_best_so_far_hand_worked():
    # spent stays at 2 on a free repeat; best_test is a running value from the log
    events = [{"spent": 1.0, "best_test": 80.0}, {"spent": 2.0, "best_test": 85.0},
              {"spent": 2.0, "best_test": 85.0}, {"spent": 3.0, "best_test": 90.0}]
    got = best_so_far(events, np.array([0.0, 1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(got, [np.nan, 80.0, 85.0, 90.0, 90.0])


def test_report_files_and_cli(small_sweep, tmp_path, capsys):
    out, _ = small_sweep
    rep = write_report(out, out=tmp_path)
    names = sorted(p.name for p in rep.files)
    assert names == ["best_so_far_cifar10.png", "best_so_far_cifar100.png", "report.csv", "report.md"]
    assert (tmp_path / "best_so_far_cifar10.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = rep.markdown.splitlines()
    assert "| method | cifar10 | cifar100 |" in md
    assert any(ln.startswith("| random | ") and ln.count("+-") == 2 for ln in md)
    assert any(ln.startswith("| evolution vs random | ") for ln in md)
    rows = list(csv.DictReader(io.StringIO(rep.csv)))
    assert len(rows) == 4 and {r["n"] for r in rows} == {"3"}
    runs = load_runs(out)
    mean_c10 = np.mean([r.test for r in runs if r.method == "random" and r.dataset == "cifar10"])
    row = next(r for r in rows if (r["method"], r["dataset"]) == ("random", "cifar10"))
    assert float(row["test_mean"]) == pytest.approx(mean_c10, abs=1e-4)
    assert main(["report", str(out), "--out", str(tmp_path / "r2"), "--no-plots"]) == 0
    assert "| method | cifar10 | cifar100 |" in capsys.readouterr().out


def test_report_errors(tmp_path):
    with pytest.raises(SpacenasError, match="not a directory"):
        load_runs(tmp_path / "missing")
    with pytest.raises(SpacenasError, match="no finished runs"):
        load_runs(tmp_path)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / RESULT).write_text("{broken")
    with pytest.raises(SpacenasError, match="cannot read run result"):
        load_runs(tmp_path)


def test_report_refuses_to_pool_different_budgets(tmp_path):
    from spacenas.cli.main import main as cli_main

    for name, budget in (("a", "5"), ("b", "7")):
        assert cli_main(["search", "--method", "random", "--budget", budget, "--seed", "0",
                         "--run-dir", str(tmp_path / "mix" / name), "--no-progress"]) == 0
    assert cli_main(["report", str(tmp_path / "mix"), "--no-plots"]) == 2
    assert cli_main(["report", str(tmp_path / "mix" / "a"), "--no-plots"]) == 0
