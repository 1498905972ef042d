import json
import subprocess
import sys
from pathlib import Path

import pytest

from spacenas import registry
from spacenas.benchmarks import load_nb201
from spacenas.errors import SpacenasError
from spacenas.evaluators import TabularEvaluator
from spacenas.runner import CHECKPOINT, LOG, RESULT, Runner, read_log
from spacenas.strategies.base import QueryStrategy
from spacenas.strategies.query.random import RandomSearch
from spacenas.sweep import RunSpec, build_runner, run_search
from support import cli_env, kill_when



class SameArch(QueryStrategy):
    """Always asks the same arch: only the max-steps cap can stop it."""

    def ask(self):
        return self.space.make([3] * 6)


def test_budget_is_exact_and_log_matches(tmp_path):
    res = run_search(RunSpec("random", "cifar100", seed=1, budget=37), run_dir=tmp_path / "r", progress=False)
    assert res.spent == 37 and res.steps == 37 and res.stopped == "budget"
    events = read_log(tmp_path / "r")
    assert [e["step"] for e in events] == list(range(1, 38))
    assert [e["spent"] for e in events] == [float(i) for i in range(1, 38)]
    best = [e["best_score"] for e in events]
    assert best == sorted(best) and best[-1] == max(e["score"] for e in events)
    # the found arch is the best by the search metric (valid), reported by its test accuracy
    top = max(events, key=lambda e: e["score"])
    assert res.arch == top["arch"] and res.valid == top["metrics"]["valid"] and res.test == top["metrics"]["test"]
    b = load_nb201()
    assert res.optimum_test == b.optimum("cifar100", "test")[1]
    assert res.optimum_valid == b.optimum("cifar100", "valid")[1]
    assert res.gap == pytest.approx(res.optimum_test - res.test)
    stored = json.loads((tmp_path / "r" / RESULT).read_text())
    assert stored == res.to_dict() and "run_dir" not in stored
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["method"] == "random" and cfg["seed"] == 1 and cfg["budget"] == 37 and cfg["dataset"] == "cifar100"
    # the same run in memory gives the same result
    mem = run_search(RunSpec("random", "cifar100", seed=1, budget=37), progress=False)
    assert mem.to_dict() == res.to_dict() and mem.run_dir is None


def test_max_steps_cap_stops_a_strategy_that_only_repeats():
    ev = TabularEvaluator("cifar10")
    res = Runner(SameArch(ev.space, seed=0), ev, budget=3, seed=0, progress=False).run()
    # 1 unique query, then free repeats until the cap of 50 x budget steps
    assert res.stopped == "max_steps" and res.steps == 150 and res.spent == 1


@pytest.mark.parametrize("budget", [0, -5, float("nan"), "10", True])
def test_bad_budget(budget):
    ev = TabularEvaluator("cifar10")
    with pytest.raises(SpacenasError, match="budget"):
        Runner(RandomSearch(ev.space), ev, budget=budget, seed=0)


class Crash(Exception):
    pass


class CrashingEvaluator(TabularEvaluator):
    def __init__(self, *a, crash_at: int, **kw):
        super().__init__(*a, **kw)
        self.calls, self.crash_at = 0, crash_at

    def evaluate(self, arch):
        self.calls += 1
        if self.calls == self.crash_at:
            raise Crash()
        return super().evaluate(arch)


@pytest.mark.parametrize("method", sorted(registry.QUERY_STRATEGIES))
def test_resume_after_crash_equals_uninterrupted_run(tmp_path, method):
    spec = RunSpec(method, "cifar10", seed=5, budget=40)
    ref = run_search(spec, run_dir=tmp_path / "ref", checkpoint_every=0, progress=False)
    cls = registry.query_strategy(method)
    ev = CrashingEvaluator("cifar10", crash_at=29)
    runner = Runner(cls(ev.space, seed=5), ev, 40, 5, run_dir=tmp_path / "cut", checkpoint_every=6,
                    progress=False, config={"method": method})
    with pytest.raises(Crash):
        runner.run()
    assert not (tmp_path / "cut" / RESULT).exists()
    # the log holds exactly the checkpointed steps (lines are written after their checkpoint)
    assert len(read_log(tmp_path / "cut")) == 24
    res = run_search(spec, run_dir=tmp_path / "cut", resume=True, checkpoint_every=6, progress=False)
    assert res.to_dict() == ref.to_dict()
    assert (tmp_path / "cut" / LOG).read_text() == (tmp_path / "ref" / LOG).read_text()


def test_resume_errors(tmp_path):
    spec = RunSpec("random", "cifar10", seed=0, budget=20)
    d = tmp_path / "r"
    with pytest.raises(SpacenasError, match="nothing to resume"):
        run_search(spec, run_dir=d, resume=True, progress=False)
    d.mkdir()
    (d / "config.json").write_text(json.dumps(build_runner(spec).config))
    (d / CHECKPOINT).write_bytes(b"not a pickle at all")
    with pytest.raises(SpacenasError, match="already holds a run"):
        run_search(spec, run_dir=d, progress=False)
    with pytest.raises(SpacenasError, match="refused checkpoint"):
        run_search(spec, run_dir=d, resume=True, progress=False)
    with pytest.raises(SpacenasError, match="other settings.*seed"):
        run_search(RunSpec("random", "cifar10", seed=1, budget=20), run_dir=d, resume=True, progress=False)
    assert not (d / RESULT).exists()


def test_run_killed_before_first_checkpoint_can_be_rerun(tmp_path):
    """config.json but no checkpoint and no result: a re-run (or --resume) starts it over."""
    spec = RunSpec("random", "cifar10", seed=0, budget=20)
    ref = run_search(spec, run_dir=tmp_path / "ref", progress=False)
    for resume in (False, True):
        d = tmp_path / f"r{resume}"
        d.mkdir()
        (d / "config.json").write_text(json.dumps(build_runner(spec).config))
        (d / LOG).write_text('{"step": 1}\n')
        (d / "checkpoint.pt.abc123.tmp").write_bytes(b"half")
        res = run_search(spec, run_dir=d, resume=resume, progress=False)
        assert res.to_dict() == ref.to_dict()
        assert (d / LOG).read_text() == (tmp_path / "ref" / LOG).read_text()
        assert not list(d.glob("*.tmp"))


def test_resume_of_finished_run_returns_its_result(tmp_path):
    spec = RunSpec("random", "cifar10", seed=2, budget=15)
    a = run_search(spec, run_dir=tmp_path / "r", progress=False)
    b = run_search(spec, run_dir=tmp_path / "r", resume=True, progress=False)
    assert a.to_dict() == b.to_dict()


def test_log_shorter_than_checkpoint_is_an_error(tmp_path):
    spec = RunSpec("random", "cifar10", seed=2, budget=15)
    d = tmp_path / "r"
    run_search(spec, run_dir=d, checkpoint_every=5, progress=False)
    (d / RESULT).unlink()
    (d / LOG).write_text("\n".join((d / LOG).read_text().splitlines()[:3]) + "\n")
    with pytest.raises(SpacenasError, match="shorter than its checkpoint"):
        run_search(spec, run_dir=d, resume=True, progress=False)


def _cli(run_dir: Path, ckpt: int) -> list[str]:
    return [sys.executable, "-m", "spacenas", "search", "--method", "random", "--dataset", "cifar10",
            "--seed", "3", "--budget", "3000", "--run-dir", str(run_dir), "--checkpoint-every", str(ckpt),
            "--no-progress", "--json"]


def test_kill_real_subprocess_and_resume(tmp_path):
    """SIGKILL a real `python -m spacenas search` once it has checkpointed, resume, compare."""
    env = cli_env()
    cut, ref = tmp_path / "cut", tmp_path / "ref"
    # checkpointing every step of a 3000-query run (the random strategy's history is copied
    # each time) keeps the process busy for many seconds: it is killed long before it ends
    reference = subprocess.Popen(_cli(ref, 1000), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kill_when(_cli(cut, 1), lambda: ((cut / CHECKPOINT).exists() and (cut / LOG).exists()
                                     and (cut / LOG).stat().st_size > 20_000), env=env, timeout=120)
    assert not (cut / RESULT).exists()
    n_before = len((cut / LOG).read_text().splitlines())
    assert n_before < 3000
    out, err = reference.communicate(timeout=120)
    assert reference.returncode == 0, err
    resumed = subprocess.run(_cli(cut, 1000)[:-2] + ["--resume", "--no-progress", "--json"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == json.loads(out)
    assert (cut / RESULT).read_text() == (ref / RESULT).read_text()
    assert (cut / LOG).read_text() == (ref / LOG).read_text()
    assert (cut / "arch.txt").read_text() == (ref / "arch.txt").read_text() == json.loads(out)["arch"] + "\n"
    assert json.loads((cut / "config.json").read_text())["kind"] == "query"
    assert not list(cut.glob("*.tmp"))  # temp files of the killed process are cleaned on start
