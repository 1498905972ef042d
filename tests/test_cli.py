import json
import sys
import types

import pytest

from spacenas import registry
from spacenas.cli import main, parse_options
from spacenas.config import StrictModel
from spacenas.errors import SpacenasError
from spacenas.strategies.base import QueryStrategy


class FakeConfig(StrictModel):
    width: int = 3
    mode: str = "a"


class FakeStrategy(QueryStrategy):
    """Random sampling with typed options, to test --set."""

    Config = FakeConfig

    def ask(self):
        return self.space.sample(self.rng)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(registry.QUERY_STRATEGIES, "fake", f"{__name__}:FakeStrategy")


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_search_prints_arch_accuracies_optimum_and_gap(capsys):
    rc, out, _ = run(capsys, "search", "--method", "random", "--dataset", "cifar10", "--seed", "0",
                     "--budget", "30", "--no-progress")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("random on nb201/cifar10, seed 0: 30 steps, spent 30 of 30")
    assert lines[1].startswith("found    |") and "~2|" in lines[1]
    assert "valid" in lines[2] and "test" in lines[2]
    assert "94.37" in lines[4]  # the table's best CIFAR-10 test accuracy
    assert lines[5].startswith("gap      ")


def test_search_json_and_options(capsys, fake, tmp_path):
    rc, out, _ = run(capsys, "search", "--method", "fake", "--budget", "5", "--set", "width=7", "--set", "mode=b",
                     "--no-progress", "--json", "--run-dir", str(tmp_path / "r"))
    assert rc == 0 and json.loads(out)["spent"] == 5
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["method_config"] == {"width": 7, "mode": "b"}


def test_parse_options():
    # values are JSON when they parse, text otherwise; sweeps scope keys by method
    assert parse_options(["a=3", "b=0.5", "c=x", "d=[1,2]"], ["m"], scoped=False) == \
        {"m": {"a": 3, "b": 0.5, "c": "x", "d": [1, 2]}}
    assert parse_options(["dsm.k=4", "random.x=true"], ["random", "dsm"], scoped=True) == \
        {"dsm": {"k": 4}, "random": {"x": True}}
    with pytest.raises(SpacenasError, match="method.key=value"):
        parse_options(["k=4"], ["random", "dsm"], scoped=True)
    with pytest.raises(SpacenasError, match="not run here"):
        parse_options(["foo.k=4"], ["random", "dsm"], scoped=True)
    with pytest.raises(SpacenasError, match="key=value"):
        parse_options(["k"], ["m"], scoped=False)


BAD = [
    (["search", "--method", "nosuch"], "unknown method 'nosuch' (allowed: "),
    (["search", "--method", "random", "--space", "nosuch"], "unknown space 'nosuch'"),
    (["search", "--method", "random", "--dataset", "mnist"], "unknown dataset 'mnist' (allowed: cifar10"),
    (["search", "--method", "random", "--budget", "-3"], "--budget: -3 must be a positive integer"),
    (["search", "--method", "random", "--budget", "0"], "--budget: 0 must be a positive integer"),
    (["search", "--method", "random", "--budget", "ten"], "--budget: 'ten' is not an integer"),
    (["search", "--method", "random", "--budget", "20000"], "more than the 15625 architectures"),
    (["search", "--method", "random", "--search-metric", "train"], "unknown search metric 'train'"),
    (["search", "--method", "fake", "--set", "nope=1"], "unknown option 'nope' (allowed: width, mode)"),
    (["search", "--method", "fake", "--set", "width=wide"], "bad value 'wide' for 'width'"),
    (["search", "--method", "random", "--epochs", "3"], "--epochs: only for one-shot methods"),
    (["search", "--method", "random", "--resume"], "--resume needs --run-dir"),
    (["search"], "required: --method"),
    (["fly"], "invalid choice: 'fly'"),
    (["sweep", "--methods", "random,nosuch", "--seeds", "2", "--budget", "5"], "unknown method 'nosuch'"),
    (["sweep", "--methods", "random", "--seeds", "x", "--budget", "5"], "bad seeds 'x'"),
    (["report", "/nonexistent/spacenas"], "cannot read run dir /nonexistent/spacenas"),
]


@pytest.mark.parametrize("argv,msg", BAD)
def test_bad_input_is_one_line_exit_2_and_writes_no_result(capsys, fake, tmp_path, argv, msg):
    d = tmp_path / "out"
    if argv[0] == "search":
        argv = argv + ([] if "--resume" in argv else ["--run-dir", str(d)]) + ["--no-progress"]
    elif argv[0] == "sweep":
        argv = argv + ["--out", str(d), "--no-progress"]
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("spacenas: error: ") and msg in err, err
    assert "Traceback" not in err and out == ""
    assert not list(tmp_path.rglob("result.json"))


def test_resume_errors_via_cli(capsys, tmp_path):
    d = tmp_path / "r"
    base = ["search", "--method", "random", "--budget", "10", "--run-dir", str(d), "--no-progress"]
    rc, _, err = run(capsys, *base, "--resume")
    assert rc == 2 and "nothing to resume" in err
    assert run(capsys, *base, "--checkpoint-every", "3")[0] == 0
    (d / "result.json").unlink()
    (d / "checkpoint.pt").write_bytes(b"\x80\x04garbage")
    rc, _, err = run(capsys, *base, "--resume")
    assert rc == 2 and err.startswith("spacenas: error: refused checkpoint") and err.count("\n") == 1
    (d / "checkpoint.pkl").write_bytes(b"\x80\x04garbage")  # a run dir of an older spacenas: never unpickled
    rc, _, err = run(capsys, *base, "--resume")
    assert rc == 2 and "older spacenas" in err and err.count("\n") == 1
    (d / "checkpoint.pkl").unlink()
    assert not (d / "result.json").exists()
    rc, _, err = run(capsys, *base)
    assert rc == 2 and "already holds a run" in err


def test_unreadable_run_dir(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    rc, _, err = run(capsys, "search", "--method", "random", "--budget", "5", "--run-dir", str(f / "sub"),
                     "--no-progress")
    assert rc == 2 and "cannot use run dir" in err


def test_oneshot_hook(capsys, monkeypatch):
    monkeypatch.setitem(registry.ONESHOT_STRATEGIES, "fakeshot", "nowhere:Nothing")
    monkeypatch.setitem(sys.modules, "spacenas.oneshot_cli", None)  # module missing
    rc, _, err = run(capsys, "search", "--method", "fakeshot")
    assert rc == 2 and "one-shot methods are not available" in err
    seen = {}
    mod = types.ModuleType("spacenas.oneshot_cli")
    mod.run = lambda args: seen.update(vars(args)) or 0
    monkeypatch.setitem(sys.modules, "spacenas.oneshot_cli", mod)
    rc, _, _ = run(capsys, "search", "--method", "fakeshot", "--epochs", "2", "--progressive")
    assert rc == 0
    assert seen["data"] == "digits" and seen["device"] == "cpu" and seen["epochs"] == 2 and seen["progressive"]
    rc, _, err = run(capsys, "search", "--method", "fakeshot", "--budget", "5")
    assert rc == 2 and "--budget: only for query-based methods" in err


def test_show_and_report_html_subcommands(tmp_path, capsys):
    from spacenas.cli import main as cli_main

    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert cli_main(["show", arch, "--space", "nb201", "--out", str(tmp_path / "cell")]) == 0
    assert (tmp_path / "cell.png").stat().st_size > 1000 and "nor_conv_3x3" in (tmp_path / "cell.svg").read_text()
    run = tmp_path / "run"
    assert cli_main(["search", "--method", "random", "--budget", "5", "--run-dir", str(run), "--no-progress"]) == 0
    assert cli_main(["report", str(run), "--html", str(tmp_path / "r.html")]) == 0
    assert "<table" in (tmp_path / "r.html").read_text()
    assert cli_main(["train", "--arch", "|bad|", "--space", "nb201", "--data", "digits"]) == 2
    assert "bad NB201 arch" in capsys.readouterr().err
