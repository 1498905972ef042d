import json
import sys

import pytest

from spacenas import registry
from spacenas.cli.main import main
from spacenas.cli.options import key_values, method_options
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
    assert method_options(["a=3", "b=0.5", "c=x", "d=[1,2]"], ["m"], scoped=False) == \
        {"m": {"a": 3, "b": 0.5, "c": "x", "d": [1, 2]}}
    assert method_options(["dsm.k=4", "random.x=true"], ["random", "dsm"], scoped=True) == \
        {"dsm": {"k": 4}, "random": {"x": True}}
    with pytest.raises(SpacenasError, match="method.key=value"):
        method_options(["k=4"], ["random", "dsm"], scoped=True)
    with pytest.raises(SpacenasError, match="not run here"):
        method_options(["foo.k=4"], ["random", "dsm"], scoped=True)
    with pytest.raises(SpacenasError, match="key=value"):
        method_options(["k"], ["m"], scoped=False)


def test_nested_keys():
    # search: a dotted key is a nested option of the one method, not a method name
    assert method_options(["progressive.stages=3", "progressive.width=[1,2]", "lr=0.1"], ["drnas"], scoped=False) == \
        {"drnas": {"progressive": {"stages": 3, "width": [1, 2]}, "lr": 0.1}}
    # a JSON object value and dotted keys merge; sweeps take method.a.b=v
    assert method_options(['p={"a": 1}', "p.b=2"], ["m"], scoped=False) == {"m": {"p": {"a": 1, "b": 2}}}
    assert method_options(["dsm.p.q=1"], ["random", "dsm"], scoped=True) == {"dsm": {"p": {"q": 1}}}
    assert key_values(["shape=[1, 2]", "a.b.c=x"], "--supernet") == {"shape": [1, 2], "a": {"b": {"c": "x"}}}
    with pytest.raises(SpacenasError, match="'a' is already set to 1"):
        key_values(["a=1", "a.b=2"])
    with pytest.raises(SpacenasError, match="empty key part"):
        key_values(["a..b=2"])
    with pytest.raises(SpacenasError, match="bad --supernet 'x': expected key=value"):
        key_values(["x"], "--supernet")


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


def fake_oneshot(monkeypatch):
    """Replace the one-shot library call; return the dict its configs are recorded in."""
    from spacenas.strategies.oneshot import build

    monkeypatch.setitem(registry.ONESHOT_STRATEGIES, "fakeshot", "nowhere:Nothing")
    seen = {}

    def run_oneshot(config, **kw):
        seen.update(config.model_dump())
        raise SystemExit(0)
    monkeypatch.setattr(build, "run_oneshot", run_oneshot)
    return seen


def test_oneshot_hook(capsys, monkeypatch):
    seen = fake_oneshot(monkeypatch)
    with pytest.raises(SystemExit):
        main(["search", "--method", "fakeshot", "--epochs", "2", "--progressive"])
    assert seen["data"] == "digits" and seen["device"] == "cpu" and seen["epochs"] == 2 and seen["progressive"]
    rc, _, err = run(capsys, "search", "--method", "fakeshot", "--budget", "5")
    assert rc == 2 and "--budget: only for query-based methods" in err
    rc, _, err = run(capsys, "search", "--method", "fakeshot", "--resume")
    assert rc == 2 and "--resume needs --run-dir" in err


def test_show_and_report_html_subcommands(tmp_path, capsys):
    from spacenas.cli.main import main as cli_main

    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert cli_main(["show", arch, "--space", "nb201", "--out", str(tmp_path / "cell")]) == 0
    assert (tmp_path / "cell.png").stat().st_size > 1000 and "nor_conv_3x3" in (tmp_path / "cell.svg").read_text()
    run = tmp_path / "run"
    assert cli_main(["search", "--method", "random", "--budget", "5", "--run-dir", str(run), "--no-progress"]) == 0
    assert cli_main(["report", str(run), "--html", str(tmp_path / "r.html")]) == 0
    assert "<table" in (tmp_path / "r.html").read_text()
    assert cli_main(["train", "--arch", "|bad|", "--space", "nb201", "--data", "digits"]) == 2
    assert "bad NB201 arch" in capsys.readouterr().err
    # without --space (found by a new user): the run dir's space, or the one space the text fits
    assert cli_main(["show", str(run), "--out", str(tmp_path / "r")]) == 0 and (tmp_path / "r.svg").exists()
    assert cli_main(["show", arch, "--out", str(tmp_path / "c2")]) == 0
    assert (tmp_path / "c2.svg").read_text() == (tmp_path / "cell.svg").read_text()
    genotype = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), "
                "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], "
                "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
                "('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
                "('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])")
    assert cli_main(["show", genotype, "--out", str(tmp_path / "g")]) == 0
    assert "sep_conv_3x3" in (tmp_path / "g.svg").read_text()
    capsys.readouterr()
    assert cli_main(["show", "|foo~0|", "--out", str(tmp_path / "x")]) == 2
    assert "no known space" in capsys.readouterr().err


def test_version(capsys):
    from spacenas import __version__

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"spacenas {__version__}"


@pytest.mark.parametrize("what, names", [
    ("spaces", lambda: list(registry.SPACES)),
    ("methods", lambda: [*registry.QUERY_STRATEGIES, *registry.ONESHOT_STRATEGIES, *registry.AUTOSPACE_METHODS]),
    ("datasets", lambda: list(registry.DATASET_DESCRIPTIONS)),
    ("devices", lambda: ["cpu", "cuda", "mps"]),
    ("presets", lambda: __import__("spacenas.presets", fromlist=["x"]).list_presets()),
])
def test_list(capsys, what, names):
    assert main(["list", what]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == names()
    assert all(len(ln.split()) > 2 for ln in lines)  # every name has a description
    if what == "methods":  # `random` is also an AutoSpace method: that row says where it belongs
        assert [ln for ln in lines if "[spacenas autospace-search --method" in ln] == lines[-len(registry.AUTOSPACE_METHODS):]


def test_top_help_names_everything_list_lists():
    from spacenas.cli.list import LISTS
    from spacenas.cli.main import COMMANDS

    help_ = COMMANDS["list"][0].replace("data sets", "datasets")
    assert [w for w in LISTS if w not in help_] == []


def test_list_datasets_covers_every_loadable_and_table_data_set():
    from spacenas.benchmarks.hw import ALL_DATASETS
    from spacenas.data import DATASETS

    assert set(registry.DATASET_DESCRIPTIONS) == set(DATASETS) | set(ALL_DATASETS)


def test_quiet_and_verbose(tmp_path, capsys):
    run_dir = str(tmp_path / "r")
    assert main(["search", "--method", "random", "--budget", "5", "--run-dir", run_dir, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["report", run_dir, "--no-plots"]) == 0
    assert "wrote" in capsys.readouterr().err
    assert main(["-q", "report", run_dir, "--no-plots"]) == 0
    out = capsys.readouterr()
    assert "wrote" not in out.err and "random" in out.out  # the table still prints
    assert main(["-v", "report", run_dir, "--no-plots"]) == 0
    assert "wrote" in capsys.readouterr().err
    rc, _, err = run(capsys, "-q", "-v", "list", "spaces")
    assert rc == 2 and "not allowed with" in err


def test_help_imports_neither_torch_nor_matplotlib():
    import os
    import subprocess

    code = ("import sys\nfrom spacenas.cli.main import main\n"
            "for argv in (['--help'], ['search', '--help'], ['train', '--help'], ['list', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print('HEAVY', sorted(m for m in ('torch', 'matplotlib', 'numpy', 'pydantic') if m in sys.modules))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "usage: spacenas" in p.stdout and "usage: spacenas search" in p.stdout
    assert p.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_registry_says_which_spaces_have_a_table():
    from spacenas.spaces.nb201 import NB201Space

    arch = NB201Space().sample(__import__("numpy").random.default_rng(0))
    entry = registry.benchmark_entry("nb201", "cifar10", arch)
    assert set(entry) == {"valid", "test"} and 0 < entry["test"] <= 100
    assert registry.benchmark_entry("nb201", "digits", arch) is None  # not a table data set
    assert registry.benchmark_entry("darts", "cifar10", arch) is None  # no table
    with pytest.raises(SpacenasError, match="cannot be searched by query-based methods"):
        registry.table_evaluator("darts", "cifar10")
    with pytest.raises(SpacenasError, match="through a trained supernet"):
        registry.table_evaluator("mobilenet", "digits")
    assert registry.table_evaluator("nb201", "cifar10").__class__.__name__ == "TabularEvaluator"


def test_a_closed_pipe_is_no_traceback(tmp_path):
    """Found by a new user: ``spacenas report DIR | head`` ended in a BrokenPipeError traceback."""
    import subprocess
    import sys

    script = ("import sys; from spacenas.cli.main import main\n"
              "sys.exit(main(['list', 'methods']))\n")
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=tmp_path)
    p.stdout.close()  # the reader is gone before the first line
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141 and "Traceback" not in err, err
