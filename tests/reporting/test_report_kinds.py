"""``spacenas report`` on run dirs of a user's own space (public Runner) and on malformed files
(cases p_int, p_types, p_budgetstr, p_html_space_bad of the adversarial sweep: one line, exit 2)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spacenas.evaluators.base import Evaluator, Result
from spacenas.reporting.html import write_html_report
from spacenas.reporting.kinds import write_report
from spacenas.runner import Runner
from spacenas.strategies.query.evolution import RegularizedEvolution
from support import LetterSpace, cli_env


class CountingEvaluator(Evaluator):
    """A user's own evaluator: score = sum of the choices, one budget unit per call; no dataset."""

    def __init__(self):
        self.space, self.calls = LetterSpace(), 0

    def evaluate(self, arch):
        self.calls += 1
        return Result(float(sum(arch.choices)), {"test": float(sum(arch.choices))}, 1.0)

    @property
    def spent(self):
        return float(self.calls)


def test_report_of_a_users_own_space_and_strategy(tmp_path):
    """The public Runner on a user's space and evaluator (no dataset): report and --html work and
    show the run's found arch and its test value (was: ValueError: max() arg is an empty sequence)."""
    ev = CountingEvaluator()
    res = Runner(RegularizedEvolution(ev.space, 0, {"population_size": 4, "sample_size": 2}), ev, budget=12, seed=0,
                 run_dir=tmp_path / "run", progress=False).run()
    rep = write_report(tmp_path / "run", out=tmp_path / "rep")
    assert res.arch in rep.markdown and f"{res.test:.2f}" in rep.markdown
    assert any(p.suffix == ".png" for p in rep.files)
    page = write_html_report(tmp_path / "run", tmp_path / "r.html").read_text()
    assert res.arch in page


def _cli(*args, cwd):
    env = cli_env()
    return subprocess.run([sys.executable, "-m", "spacenas", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def query_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("q") / "run"
    p = _cli("search", "--no-progress", "--method", "random", "--budget", "5", "--run-dir", d, cwd=d.parent)
    assert p.returncode == 0, p.stderr
    return d


def _one_line_error(p, *needles):
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def _with_result(src: Path, dst: Path, edit) -> Path:
    import shutil
    shutil.copytree(src, dst)
    res = json.loads((dst / "result.json").read_text())
    (dst / "result.json").write_text(json.dumps(edit(res)))
    return dst


@pytest.mark.parametrize("case, edit, needles", [
    ("p_int", lambda r: 5, ["result.json", "not a JSON object"]),
    ("p_types", lambda r: {**r, "test": "abc"}, ["'test' is 'abc'", "a number or null"]),
    ("p_budgetstr", lambda r: {**r, "budget": "abc", "test": None}, ["'budget' is 'abc'", "a number"]),
    ("seed_str", lambda r: {**r, "seed": "0"}, ["'seed' is '0'", "an integer"]),
    ("constraints_int", lambda r: {**r, "constraints": 3}, ["'constraints' is 3", "a list"]),
])
def test_malformed_result_is_one_line(query_run, tmp_path, case, edit, needles):
    d = _with_result(query_run, tmp_path / case, edit)
    for extra in ([], ["--html", tmp_path / "x.html"]):
        _one_line_error(_cli("report", d, "--no-plots", *extra, cwd=tmp_path), *needles)
    (d / "config.json").unlink()  # a result without its config (older run dirs) is read the same way
    _one_line_error(_cli("report", d, "--no-plots", cwd=tmp_path), *needles)


def test_html_unknown_space_is_one_line(query_run, tmp_path):
    """p_html_space_bad: --space names no registered space (was: exit 0, a page with a note)."""
    p = _cli("report", query_run, "--html", tmp_path / "x.html", "--space", "foo", cwd=tmp_path)
    _one_line_error(p, "unknown space 'foo'", "nb201")
    assert not (tmp_path / "x.html").exists()


def test_bad_config_kind_is_one_line(query_run, tmp_path):
    import shutil
    d = tmp_path / "k"
    shutil.copytree(query_run, d)
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "kind": "banana"}))
    _one_line_error(_cli("report", d, "--no-plots", cwd=tmp_path), "'kind' is 'banana'", "oneshot")


def test_report_of_autospace_and_autospace_search_runs(tmp_path):
    """An AutoSpace run dir shows its learned space and loss curve; an autospace-search run dir its
    found arch and measured test accuracy; the directory holding both gets a section per kind."""
    _ok = lambda p: p.returncode == 0 or pytest.fail(p.stderr[-2000:])  # noqa: E731
    _ok(_cli("autospace", "--layers", "2", "--rounds", "2", "--population", "4", "--k", "2", "--set", "steps_per_round=3",
             "--set", "stem_channels=8", "--set", "batch_size=128", "--no-progress", "--out", "as_out",
             "--run-dir", "runs/as", cwd=tmp_path))
    _ok(_cli("autospace-search", "--space-file", "runs/as/space.json", "--method", "random", "--budget", "2",
             "--train-epochs", "1", "--no-progress", "--run-dir", "runs/ass", cwd=tmp_path))
    res = json.loads((tmp_path / "runs/as/result.json").read_text())
    p = _cli("report", "runs/as", cwd=tmp_path)
    _ok(p)
    row = next(line for line in p.stdout.splitlines() if line.startswith("| . |"))
    assert f"| {len(res['layers'])} |" in row and f"{res['losses'][-1]:.2f}" in row
    assert (tmp_path / "runs/as/autospace_loss.png").is_file()
    found = json.loads((tmp_path / "runs/ass/result.json").read_text())
    p = _cli("report", "runs/ass", "--no-plots", cwd=tmp_path)
    _ok(p)
    assert found["arch"].split(" ; ")[0].replace("|", "\\|") in p.stdout and str(found["madds"]) in p.stdout
    p = _cli("report", "runs", "--no-plots", cwd=tmp_path)
    _ok(p)
    assert "Learned search spaces" in p.stdout and "Searches in learned spaces" in p.stdout
    _ok(_cli("report", "runs", "--html", "all.html", cwd=tmp_path))
    assert "Learned search spaces" in (tmp_path / "all.html").read_text()


# ----- one-shot search time: recorded by the loop, else a labelled wall-time estimate --------------
@pytest.fixture(scope="module")
def oneshot_run(tmp_path_factory):
    from spacenas.strategies.oneshot.build import OneShotSearchConfig, run_oneshot
    d = tmp_path_factory.mktemp("o") / "run"
    run_oneshot(OneShotSearchConfig(method="darts", data="digits", epochs=2, run_dir=str(d), progress=False,
                                    options={"C": 2, "N": 1, "max_steps": 1, "batch_size": 32}))
    return d


def test_oneshot_report_shows_the_recorded_search_time(oneshot_run, tmp_path):
    secs = json.loads((oneshot_run / "result.json").read_text())["search_seconds"]
    assert secs > 0
    md = write_report(oneshot_run, out=tmp_path / "rep", plots=False).markdown
    row = next(ln for ln in md.splitlines() if ln.startswith("| . |"))
    assert f"| {secs:.1f} |" in row and "wall est." not in md
    assert "search seconds: the search epochs as the loop recorded them" in md


def test_oneshot_report_labels_the_wall_estimate_of_an_older_run_dir(oneshot_run, tmp_path):
    """A result.json without search_seconds (older run dirs): config.json -> result.json wall time,
    marked in the cell and explained above the table; single run and mean +- std over runs."""
    import shutil
    old = _with_result(oneshot_run, tmp_path / "runs" / "old", lambda r: {k: v for k, v in r.items()
                                                                           if k != "search_seconds"})
    md = write_report(old, out=tmp_path / "rep1", plots=False).markdown
    row = next(ln for ln in md.splitlines() if ln.startswith("| . |"))
    assert "(wall est.)" in row and "estimated as the wall time from config.json to result.json" in md
    shutil.copytree(oneshot_run, tmp_path / "runs" / "new")
    md = write_report(tmp_path / "runs", out=tmp_path / "rep2", plots=False).markdown
    row = next(ln for ln in md.splitlines() if ln.startswith("| darts |"))
    assert "(2)" in row and "(wall est.: 1 of 2)" in row


def test_line_plots_of_the_kinds(tmp_path):
    """The training curve (two panels) and the per-round curve share one line-plot helper: a PNG
    where there is data, None where there is none; non-numbers are gaps, not errors."""
    from types import SimpleNamespace

    from spacenas.reporting.kinds import curve_plot, train_curve_plot
    assert curve_plot({"a": "not a list", "b": []}, "round", "loss", tmp_path / "none.png") is None
    p = curve_plot({"a": [3.0, None, 1.0], "b": [2, "x"]}, "round", "loss", tmp_path / "sub" / "c.png")
    assert p == tmp_path / "sub" / "c.png" and p.read_bytes()[:4] == b"\x89PNG"
    runs = [SimpleNamespace(path=tmp_path / "r1", result={"history": [{"epoch": 1, "train_loss": 1.0, "train_acc": 50},
                                                                      {"epoch": 2, "train_loss": None}]}),
            SimpleNamespace(path=tmp_path / "r2", result={"history": "garbage"})]
    assert train_curve_plot(runs[1:], tmp_path, tmp_path / "t0.png") is None
    assert train_curve_plot(runs, tmp_path, tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
