"""The run-dir contract (spacenas.runs) for every kind of run, on real subprocesses.

For each kind: an uninterrupted run; a run killed with SIGKILL after a checkpoint, then resumed
(result.json / arch.txt / log.jsonl equal the uninterrupted run's, no temp file left); a copy of
the killed dir with a checkpoint crafted to create a marker file when unpickled (refused: one
line, exit 2, no marker); a copy with an old-style checkpoint.pkl (refused, one line).
"""
import json
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spacenas import runs
from spacenas.errors import SpacenasError
from support import cli_env, kill_when

NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
MB_SHAPE = json.dumps({"stem_width": 4, "widths": [4, 4, 6, 6, 8], "head_width": 8})


def _env():
    return cli_env()


def _cmd(*argv):
    return [sys.executable, "-m", "spacenas", *argv]


def _lines(p: Path) -> int:
    try:
        return len(p.read_bytes().splitlines())
    except OSError:
        return 0


class Payload:
    """Unpickling this creates ``marker`` (a stand-in for any code an attacker would run)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant(run_dir: Path, marker: Path) -> None:
    torch.save({"format": runs.CHECKPOINT_FORMAT, "state": {"run": Payload(str(marker))}},
               run_dir / runs.CHECKPOINT)


def _one_line_refusal(proc, marker: Path, what: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()  # notes of the run's setup (arch_lr scaling) may come first
    assert lines[-1].startswith("spacenas: error: ") and sum(ln.startswith("spacenas: error") for ln in lines) == 1
    assert all(ln.startswith(("arch_lr ", "augmentation")) for ln in lines[:-1]), proc.stderr
    assert "Traceback" not in proc.stderr and what in proc.stderr, proc.stderr
    assert not marker.exists()


def _in_process(capsys, argv):
    """``spacenas ARGV`` in this process (no interpreter start-up): (returncode, stdout, stderr)."""
    from types import SimpleNamespace

    from spacenas.cli.main import main

    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return SimpleNamespace(returncode=rc, stdout=out, stderr=err)


def _kill_after_checkpoint(argv, run_dir: Path, log: Path, lines: int = 2) -> None:
    kill_when(_cmd(*argv), lambda: _lines(log) >= lines)


def _run(argv, check=True):
    p = subprocess.run(_cmd(*argv), env=_env(), capture_output=True, text=True, timeout=600)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def _result(d: Path, drop=()):
    r = json.loads((d / runs.RESULT).read_text())
    return {k: v for k, v in r.items() if k not in drop}


def _log(d: Path, drop=()):
    """log.jsonl less the wall-clock timing fields ``drop`` (the one-shot loop's per-epoch times)."""
    return [{k: v for k, v in json.loads(ln).items() if k not in drop}
            for ln in (d / runs.LOG).read_text().splitlines()]


KINDS = {
    # kind: (argv without the run dir, the run-dir flag, result keys that are wall-clock timings)
    "oneshot": (["search", "--space", "nb201", "--method", "drnas", "--data", "digits", "--epochs", "30",
                 "--set", "max_steps=1", "--set", "C=2", "--set", "N=1", "--set", "batch_size=16", "--no-progress"],
                ("search_seconds", "epoch_seconds")),
    "train": (["train", "--space", "nb201", "--arch", NB201_ARCH, "--data", "digits", "--epochs", "8",
               "--set", "C=2", "--set", "N=1", "--set", "batch_size=512", "--no-progress"], ("seconds",)),
    "autospace": (["autospace", "--layers", "2", "--rounds", "14", "--population", "4", "--k", "2",
                   "--set", "steps_per_round=2", "--set", "stem_channels=8", "--set", "batch_size=64",
                   "--no-progress"], ()),
    "supernet": (["search", "--space", "mobilenet", "--method", "random", "--data", "digits", "--epochs", "1",
                  "--madds-limit", "50%", "--budget", "80", "--checkpoint-every", "1", "--supernet",
                  "train_limit=128", "--supernet", "valid_limit=32", "--supernet", "calib_size=16",
                  "--supernet", "shape=" + MB_SHAPE, "--no-progress"], ()),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_kill_resume_payload_per_kind(tmp_path, kind, capsys):
    argv, timings = KINDS[kind]
    extra = (lambda name: ["--out", str(tmp_path / f"{name}.json")]) if kind == "autospace" else (lambda name: [])
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    _run([*argv, "--run-dir", str(ref), *extra("ref")])
    _kill_after_checkpoint([*argv, "--run-dir", str(cut), *extra("cut")], cut, cut / runs.LOG)
    assert not (cut / runs.RESULT).exists() and (cut / runs.CHECKPOINT).exists()
    assert json.loads((cut / runs.CONFIG).read_text())["kind"] == kind
    # a crafted checkpoint never runs
    marker = tmp_path / "marker"
    shutil.copytree(cut, tmp_path / "pay")
    _plant(tmp_path / "pay", marker)
    p = _in_process(capsys, [*argv, "--run-dir", str(tmp_path / "pay"), "--resume", *extra("pay")])
    _one_line_refusal(p, marker, "refused checkpoint")
    shutil.copytree(cut, tmp_path / "old")
    (tmp_path / "old" / "checkpoint.pkl").write_bytes(pickle.dumps(Payload(str(marker))))
    p = _in_process(capsys, [*argv, "--run-dir", str(tmp_path / "old"), "--resume", *extra("old")])
    _one_line_refusal(p, marker, "older spacenas")
    shutil.copytree(cut, tmp_path / "bare")
    # resume: the same files as the uninterrupted run
    _run([*argv, "--run-dir", str(cut), "--resume", *extra("cut")])
    assert _result(cut, timings) == _result(ref, timings)
    # what the Ctrl-C hint says, and nothing more: the run dir's config.json gives the options
    _run([argv[0], "--resume", "--run-dir", str(tmp_path / "bare"), *extra("bare")])
    assert _result(tmp_path / "bare", timings) == _result(ref, timings)
    assert _result(cut)["kind"] == kind
    if timings:
        assert _log(cut, timings) == _log(ref, timings)
    else:
        assert (cut / runs.LOG).read_text() == (ref / runs.LOG).read_text()
    assert _lines(ref / runs.LOG) >= 2
    if kind != "autospace":  # autospace finds a space (space.json), not an arch
        assert (cut / runs.ARCH).read_text() == (ref / runs.ARCH).read_text() == _result(ref)["arch"] + "\n"
    else:
        assert (cut / "space.json").read_text() == (ref / "space.json").read_text()
    assert not list(cut.glob("*.tmp"))
    if kind == "oneshot":  # the found arch trains directly from the run dir (space from its config)
        p = _in_process(capsys, ["train", "--arch", str(ref), "--data", "digits", "--epochs", "1", "--set", "C=2",
                                 "--set", "N=1", "--set", "batch_size=512", "--no-progress", "--json"])
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout.splitlines()[0])["arch"] == _result(ref)["arch"]


def test_sweep_kill_rerun_payload(tmp_path, capsys):
    base = ["sweep", "--space", "nb201", "--methods", "evolution,random", "--datasets", "cifar10", "--seeds", "1",
            "--budget", "3000", "--workers", "1", "--no-progress"]
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    _run([*base, "--out", str(ref), "--checkpoint-every", "1000"])
    run_dir = cut / "cifar10" / "evolution" / "seed-0"
    _kill_after_checkpoint([*base, "--out", str(cut), "--checkpoint-every", "1"], run_dir, run_dir / runs.LOG, 50)
    assert json.loads((cut / runs.CONFIG).read_text())["kind"] == "sweep"
    marker = tmp_path / "marker"
    shutil.copytree(cut, tmp_path / "pay")
    _plant(tmp_path / "pay" / "cifar10" / "evolution" / "seed-0", marker)
    p = _in_process(capsys, [*base, "--out", str(tmp_path / "pay")])  # a plain re-run resumes: refused
    _one_line_refusal(p, marker, "refused checkpoint")
    # the re-run continues the sweep (the interval is not part of a run's config: rarer checkpoints
    # keep the rest of this 3000-query run fast)
    _run([*base, "--out", str(cut), "--checkpoint-every", "1000"])
    assert (cut / "sweep.json").read_text() == (ref / "sweep.json").read_text()
    for m in ("evolution", "random"):
        a, b = (d / "cifar10" / m / "seed-0" for d in (cut, ref))
        assert _result(a) == _result(b) and (a / runs.LOG).read_text() == (b / runs.LOG).read_text()
        assert (a / runs.ARCH).read_text() == (b / runs.ARCH).read_text()


def test_oneshot_methods_in_a_sweep(tmp_path):
    """methods x data x seeds for one-shot methods; each run is a one-shot run dir; a re-run skips them."""
    from spacenas.sweep import sweep

    opts = {m: {"epochs": 1, "max_steps": 1, "C": 2, "N": 1, "batch_size": 16} for m in ("darts", "gdas")}
    summ = sweep(tmp_path, ["gdas", "darts"], ["digits"], 2, space="nb201", options=opts, workers=1, progress=False)
    assert summ.total == 4 and summ.skipped == 0
    for m in ("gdas", "darts"):
        for seed in (0, 1):
            info = runs.read_run(tmp_path / "digits" / m / f"seed-{seed}")
            assert info.kind == "oneshot" and info.config["data"] == "digits" and info.config["seed"] == seed
            assert info.arch == info.result["arch"] and info.result in summ.results
    assert json.loads((tmp_path / "sweep.json").read_text())["methods"] == ["gdas", "darts"]  # not re-sorted
    again = sweep(tmp_path, ["gdas", "darts"], ["digits"], 2, space="nb201", options=opts, workers=1, progress=False)
    assert again.skipped == 4 and again.results == summ.results


def _holder(run_dir: Path):
    """A process that holds ``run_dir``'s lock until killed."""
    code = ("import sys, time; from spacenas.runs import RunDir; "
            "rd = RunDir.open(sys.argv[1], {'kind': 'query'}); print('ready', flush=True); time.sleep(600)")
    p = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], env=_env(), stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def test_second_process_on_a_run_dir_is_refused_with_the_pid(tmp_path):
    d = tmp_path / "r"
    p = _holder(d)
    try:
        with pytest.raises(SpacenasError, match=f"in use by another process \\(PID {p.pid}\\)"):
            runs.RunDir.open(d, {"kind": "query"})
        q = _run(["search", "--method", "random", "--budget", "5", "--run-dir", str(d), "--no-progress"], check=False)
        assert q.returncode == 2 and q.stderr.count("\n") == 1 and f"PID {p.pid}" in q.stderr and str(d) in q.stderr
    finally:
        p.send_signal(signal.SIGKILL)  # the OS drops the lock: no stale lock after kill -9
        p.wait()
    with runs.RunDir.open(d, {"kind": "query"}, resume=True):
        pass


def test_run_dir_lifecycle(tmp_path):
    d = tmp_path / "r"
    cfg = {"kind": "train", "a": 1, "b": {"c": 2}}
    with pytest.raises(SpacenasError, match="nothing to resume"):
        runs.RunDir.open(d, cfg, resume=True)
    with runs.RunDir.open(d, cfg) as rd:  # killed before its first checkpoint: only config.json
        rd.log({"x": 1})
    (d / "result.json.abc123.tmp").write_text("half")
    with runs.RunDir.open(d, cfg) as rd:  # can be re-run without deleting anything by hand
        assert not list(d.glob("*.tmp"))
        rd.log({"x": 1})
        rd.checkpoint({"t": torch.arange(3), "g": torch.Generator().manual_seed(1).get_state()})
        assert _lines(d / runs.LOG) == 1
        rd.log({"x": 2})  # after the last checkpoint: dropped on resume
    with pytest.raises(SpacenasError, match="already holds a run"):
        runs.RunDir.open(d, cfg)
    with pytest.raises(SpacenasError, match="differs in: a, b.c"):
        runs.RunDir.open(d, {"kind": "train", "a": 2, "b": {"c": 3}}, resume=True)
    with runs.RunDir.open(d, cfg, resume=True) as rd:
        assert rd.resumed and torch.equal(rd.state["t"], torch.arange(3))
        assert (d / runs.LOG).read_text() == '{"x": 1}\n'
        rd.log({"x": 2})
        rd.finish({"arch": "A"})
    assert runs.read_run(d).result == {"kind": "train", "arch": "A"} and runs.read_run(d).arch == "A"
    assert (d / runs.LOG).read_text() == '{"x": 1}\n{"x": 2}\n' and not list(d.glob("*.tmp"))
    with pytest.raises(TypeError, match="numpy"):
        import numpy as np
        runs.save_checkpoint(tmp_path / "c.pt", {"a": np.zeros(2)})


def test_default_run_dir_is_fresh_and_printed_last(tmp_path):
    env = {**_env(), "SPACENAS_RUNS": str(tmp_path / "runs")}
    outs = [subprocess.run(_cmd("search", "--method", "random", "--budget", "3", "--no-progress"), env=env,
                           capture_output=True, text=True, timeout=120) for _ in range(2)]
    paths = [o.stdout.splitlines()[-1].removeprefix("run dir: ") for o in outs]
    assert all(o.returncode == 0 for o in outs) and paths[0] != paths[1]
    for p in paths:
        assert Path(p).parent == tmp_path / "runs" and Path(p).name.startswith("query-random-")
        assert runs.read_run(p).result["arch"] == runs.read_run(p).arch


def test_autospace_search_kill_rerun_payload(tmp_path, capsys):
    """No checkpoint inside an autospace-search: a killed run is redone by --resume (same result)."""
    argv = ["autospace-search", "--manual-irb", "--layers", "2", "--method", "random", "--budget", "3",
            "--train-epochs", "1", "--set", "arch_epochs=1", "--no-progress"]
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    _run([*argv, "--run-dir", str(ref)])
    _kill_after_checkpoint([*argv, "--run-dir", str(cut)], cut, cut / runs.CONFIG, lines=1)
    assert not (cut / runs.RESULT).exists()
    shutil.copytree(cut, tmp_path / "pay")
    marker = tmp_path / "marker"
    _plant(tmp_path / "pay", marker)
    _one_line_refusal(_in_process(capsys, [*argv, "--run-dir", str(tmp_path / "pay"), "--resume"]), marker,
                      "refused checkpoint")
    _run([*argv, "--run-dir", str(cut), "--resume"])
    assert _result(cut) == _result(ref) and _result(ref)["kind"] == "autospace-search"
    assert (cut / runs.ARCH).read_text() == (ref / runs.ARCH).read_text()
