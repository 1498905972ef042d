"""Plugins: a user's own space, ask/tell strategy and evaluator through --plugin module:attr or an
entry point (group spacenas.plugins), in search, sweep (process pool) and report; the registration
API's errors; report on a run made through the public Runner with a user's own space."""
import importlib.metadata
import os
import subprocess
import sys

import pytest

from spacenas import registry
from spacenas.cli.main import main
from spacenas.errors import SpacenasError
from support import ROOT

PLUGIN = '''
from spacenas.errors import SpacenasError
from spacenas.evaluators.base import Evaluator, Result
from spacenas.spaces.base import Arch, Decision, SearchSpace
from spacenas.strategies.base import QueryStrategy

OPS = ("a", "b", "c")


class TriSpace(SearchSpace):
    name = "tri"
    decisions = tuple(Decision(f"d{i}", OPS) for i in range(3))

    def parse(self, text):
        parts = text.split("-")
        if len(parts) != 3 or any(p not in OPS for p in parts):
            raise SpacenasError(f"bad tri arch {text!r}")
        return self.make([OPS.index(p) for p in parts])

    def format(self, arch):
        return "-".join(OPS[c] for c in arch.choices)


class TriEvaluator(Evaluator):
    def __init__(self, dataset="tri", search_metric="valid", with_dataset=True):
        self.space = TriSpace()
        if with_dataset:
            self.dataset, self.search_metric = dataset, search_metric
        self.seen = set()

    def evaluate(self, arch):
        v = float(sum((i + 1) * c for i, c in enumerate(arch.choices)))
        self.seen.add(arch)
        return Result(v, {"valid": v, "test": v + 0.5}, cost=1.0)

    @property
    def spent(self):
        return float(len(self.seen))


class Sweeper(QueryStrategy):
    """Every arch once, in order."""

    def ask(self):
        return list(self.space.enumerate())[len(self.history) % self.space.size]


def register(api):
    api.register_space("tri", TriSpace, "three ternary decisions")
    api.register_method("sweeper", Sweeper, "every arch once, in order")
    api.register_evaluator("tri", TriEvaluator, "sum of weighted choices", default_budget=6)
'''


@pytest.fixture
def clean_registry():
    """Restore the registry tables (plugins register into them) and forget the plugin modules."""
    tables = [registry.SPACES, registry.QUERY_STRATEGIES, registry.TABLES, registry.DEFAULT_BUDGETS,
              registry.SPACE_DESCRIPTIONS, registry.METHOD_DESCRIPTIONS, registry.EVALUATOR_DESCRIPTIONS]
    saved = [dict(t) for t in tables]
    mods = set(sys.modules)
    yield
    for t, s in zip(tables, saved):
        t.clear()
        t.update(s)
    for m in set(sys.modules) - mods:
        if m.startswith(("triplug", "badplug")):
            del sys.modules[m]


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch, clean_registry):
    (tmp_path / "triplug.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_plugin_space_method_and_evaluator_work_in_search_and_list(capsys, plugin_dir):
    rc, out, err = run(capsys, "search", "--plugin", "triplug:register", "--space", "tri", "--method", "sweeper",
                       "--dataset", "tri", "--no-progress")
    assert rc == 0, err
    # budget 6 (the plugin's default): the sweeper sees the first 6 archs in order (a-a-a, a-a-b, a-a-c,
    # a-b-a, a-b-b, a-b-c); the best is a-b-c (2*1 + 3*2 = 8)
    assert "sweeper on tri/tri, seed 0: 6 steps" in out and "found    a-b-c" in out
    assert "valid 8.00  test 8.50" in out and "optimum  n/a" in out
    rc, out, _ = run(capsys, "list", "spaces", "--plugin", "triplug:register")
    assert rc == 0 and any(line.split()[0] == "tri" and "three ternary" in line for line in out.splitlines())
    rc, out, _ = run(capsys, "list", "methods", "--plugin", "triplug:register")
    assert "sweeper" in out


def test_plugin_from_a_config_file(capsys, plugin_dir):
    cfg = plugin_dir / "c.yaml"
    cfg.write_text("plugin: [triplug:register]\nspace: tri\nmethod: random\ndataset: tri\nbudget: 4\nno_progress: true\n")
    rc, out, err = run(capsys, "search", "--config", cfg)
    assert rc == 0 and "random on tri/tri, seed 0: 4 steps" in out, err


def test_a_module_that_registers_on_import(capsys, plugin_dir):
    (plugin_dir / "triplug_mod.py").write_text("from spacenas import registry\nfrom triplug import register\n"
                                               "register(registry)\n")
    rc, out, err = run(capsys, "search", "--plugin", "triplug_mod", "--space", "tri", "--method", "sweeper",
                       "--budget", "3", "--no-progress")
    assert rc == 0 and "3 steps" in out, err


def test_entry_points_register_without_a_flag(capsys, plugin_dir, monkeypatch):
    eps = [importlib.metadata.EntryPoint(name="tri", value="triplug:register", group="spacenas.plugins")]
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **kw: eps if kw.get("group") == "spacenas.plugins" else real(**kw))
    rc, out, err = run(capsys, "search", "--space", "tri", "--method", "sweeper", "--no-progress")
    assert rc == 0 and "found    a-b-c" in out, err


@pytest.mark.parametrize("spec,needle", [
    ("nosuchmodule_xyz:register", "plugin 'nosuchmodule_xyz:register': no module named 'nosuchmodule_xyz'"),
    ("triplug:nothere", "module 'triplug' has no attribute 'nothere' (it has: "),
    ("triplug:OPS", "is neither a function nor a module"),
    ("a:b:c", "bad plugin 'a:b:c': expected module:attr or module"),
    ("badplug:clash_space", "cannot register space 'nb201': that name is built in"),
    ("badplug:clash_method", "cannot register method 'random': that name is built in"),
    ("badplug:wrong_name", "TriSpace.name is 'tri'; they must agree"),
    ("badplug:boom", "registration failed: ZeroDivisionError"),
    ("badplug:no_space", "unknown space 'nowhere'"),
    ("badplug:not_a_strategy", "cannot register method 'zz': class object is not a subclass of "
                               "spacenas.strategies.base.QueryStrategy"),
    ("triplug", "importing 'triplug' registered nothing; to call its register(api), give --plugin triplug:register"),
    ("badplug", "importing 'badplug' registered nothing and it has no register function; give module:attr"),
])
def test_plugin_errors_are_one_line(capsys, plugin_dir, spec, needle):
    (plugin_dir / "badplug.py").write_text(
        "from triplug import TriSpace, Sweeper, TriEvaluator\n"
        "def clash_space(api): api.register_space('nb201', TriSpace)\n"
        "def clash_method(api): api.register_method('random', Sweeper)\n"
        "def wrong_name(api): api.register_space('other', TriSpace)\n"
        "def boom(api): 1 / 0\n"
        "def no_space(api): api.register_evaluator('nowhere', TriEvaluator)\n"
        "def not_a_strategy(api): api.register_method('zz', object)\n")
    rc, out, err = run(capsys, "list", "spaces", "--plugin", spec)
    assert rc == 2 and needle in err and err.count("\n") == 1, err


def test_registering_twice_is_harmless_but_another_object_is_an_error(plugin_dir):
    from spacenas.plugins import load_plugin

    load_plugin("triplug:register")
    load_plugin("triplug:register")
    with pytest.raises(SpacenasError, match="already registered by a plugin"):
        registry.register_method("sweeper", type("Other", (), {}))


def test_sweep_workers_see_plugins_and_report_reads_the_sweep(tmp_path, clean_registry):
    """A spawn pool's workers start bare: the sweep passes the plugin list. The plugin file lies in
    the working directory, not on PYTHONPATH (imported from there, as python -m would)."""
    (tmp_path / "triplug.py").write_text(PLUGIN)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "spacenas", "sweep", "--plugin", "triplug:register", "--space", "tri",
           "--methods", "sweeper,random", "--datasets", "tri", "--seeds", "2", "--workers", "2", "--out", "sw",
           "--no-progress"]
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "4 runs in sw" in p.stdout
    p = subprocess.run([sys.executable, "-m", "spacenas", "report", "sw", "--plugin", "triplug:register"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = {line.split("|")[1].strip(): line for line in p.stdout.splitlines() if line.startswith("| ")}
    assert rows["sweeper"].split("|")[2].strip() == "8.50 +- 0.00 (2)"  # the same 6 archs for every seed
    assert (tmp_path / "sw" / "best_so_far_tri.png").is_file()


@pytest.mark.parametrize("with_dataset", [True, False])
def test_report_on_a_runner_run_of_an_own_space(capsys, plugin_dir, with_dataset):
    """Used to end in 'ValueError: max() arg is an empty sequence' when the evaluator had no dataset."""
    from triplug import Sweeper, TriEvaluator

    from spacenas.runner import Runner

    ev = TriEvaluator(with_dataset=with_dataset)
    res = Runner(Sweeper(ev.space, seed=0), ev, budget=5, seed=0, run_dir=plugin_dir / "runs" / "s0",
                 progress=False).run()
    assert res.arch == "a-a-c" and res.test == 6.5  # the best of the first 5 archs in order: 3*2 = 6
    rc, out, err = run(capsys, "report", plugin_dir / "runs")
    assert rc == 0 and "| Sweeper | 6.50 +- 0.00 (1) |" in out, err
    rc, out, err = run(capsys, "report", plugin_dir / "runs", "--html", plugin_dir / "r.html")
    assert rc == 0 and (plugin_dir / "r.html").stat().st_size > 0, err


SLASH_PLUGIN = '''
from spacenas.errors import SpacenasError
from spacenas.spaces.base import Decision, SearchSpace

DEPTHS, WIDTHS, ACTS = ("1", "2", "3"), ("16", "32"), ("relu", "gelu")


class SlashSpace(SearchSpace):
    """A user's own space whose text holds '/': depth/width/activation, e.g. 2/32/relu."""
    name = "slash"
    decisions = (Decision("depth", DEPTHS), Decision("width", WIDTHS), Decision("act", ACTS))

    def parse(self, text):
        parts = text.split("/")
        if len(parts) != 3:
            raise SpacenasError(f"bad slash arch {text!r}: expected depth/width/activation")
        return self.make([opts.index(p) for opts, p in zip((DEPTHS, WIDTHS, ACTS), parts)])

    def format(self, arch):
        return "/".join(o[c] for o, c in zip((DEPTHS, WIDTHS, ACTS), arch.choices))


def register(api):
    api.register_space("slash", SlashSpace, "depth/width/activation")
'''


@pytest.fixture
def slash_plugin(tmp_path, monkeypatch, clean_registry):
    (tmp_path / "slashplug.py").write_text(SLASH_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("slashplug", None)


@pytest.mark.parametrize("space", [[], ["--space", "slash"]], ids=["inferred", "given"])
def test_an_arch_text_with_a_slash_is_parsed_before_it_is_taken_for_a_path(capsys, slash_plugin, space):
    """'2/32/relu' used to be refused as 'no such file or run dir' before the space could parse it."""
    rc, out, err = run(capsys, "show", "2/32/relu", *space, "--out", "a.png", "--plugin", "slashplug:register")
    assert rc == 0 and (slash_plugin / "a.png").is_file(), err
    from spacenas.archsource import resolve_arch, space_of_arch
    assert space_of_arch("2/32/relu") == "slash"
    assert resolve_arch("2/32/relu", registry.space("slash")).choices == (1, 1, 0)


def test_a_missing_path_that_no_space_parses_is_still_named_as_such(capsys, slash_plugin):
    for space in ([], ["--space", "slash"]):
        rc, out, err = run(capsys, "show", "runs/nothere", *space, "--plugin", "slashplug:register")
        assert rc == 2 and "no such file or run dir" in err and "Traceback" not in err, err


def test_a_plugin_parsers_own_exception_is_one_line_naming_the_space():
    from spacenas.archsource import resolve_arch
    from support import LetterSpace

    with pytest.raises(SpacenasError, match="space 'letters' cannot parse architecture 'xyz': ValueError"):
        resolve_arch("xyz", LetterSpace())  # LetterSpace.parse: 'abc'.index('x') raises ValueError


def test_a_method_whose_ask_returns_no_arch_is_one_line(capsys, plugin_dir):
    """Used to end in "AttributeError: 'str' object has no attribute 'space'"."""
    (plugin_dir / "strplug.py").write_text(
        "from spacenas.strategies.base import QueryStrategy\n"
        "class Stringy(QueryStrategy):\n"
        "    def ask(self):\n"
        "        return 'a-b-c'\n"
        "def register(api):\n"
        "    api.register_method('stringy', Stringy)\n")
    rc, out, err = run(capsys, "search", "--plugin", "triplug:register", "--plugin", "strplug:register", "--space",
                       "tri", "--method", "stringy", "--budget", "3", "--no-progress")
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "strategy Stringy: ask() returned a str ('a-b-c'), not an Arch" in err


def test_a_space_without_evaluator_says_how_to_make_it_searchable(capsys, plugin_dir):
    (plugin_dir / "spaceonly.py").write_text("from triplug import TriSpace\n"
                                             "def register(api):\n    api.register_space('tri', TriSpace)\n")
    rc, out, err = run(capsys, "search", "--plugin", "spaceonly:register", "--space", "tri", "--method", "random",
                       "--budget", "3", "--no-progress")
    assert rc == 2 and err.count("\n") == 1, err
    assert "cannot be searched by query-based methods" in err and "register its evaluator: " \
        "api.register_evaluator('tri', factory) in a plugin (see docs/extending.md)" in err
