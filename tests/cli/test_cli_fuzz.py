"""Fuzz over the command line: bad values for every flag of every subcommand and every ``--set``
(and ``--supernet``) key of every method, in this process through :func:`spacenas.cli.main.main`.

The contract of every case: exit 2 with exactly one line on stderr (``spacenas: error: ...``) and
no traceback, or the value is accepted. Flags come from the argparse parser
(:func:`~spacenas.cli.main.build_parser`) and keys from the registry's typed configs, so new flags,
methods and options are fuzzed without touching this file. Values are drawn by a seeded
generator (the same cases every run). Time-bounded: the library entry points that start real
work (the query runner, the one-shot loop, the sweep pool, the training loop, the DEA, the
layer-wise search) are replaced by a stub; reaching one counts as "accepted" and stops the case.
Each base command is checked to reach its stub, so a base that breaks fails here instead of
turning every case into a refusal.
"""
from __future__ import annotations

import argparse
import inspect
import random
from pathlib import Path
from typing import Any

import pytest

from spacenas import registry
from spacenas.cli.main import build_parser, main

NB201_ARCH = "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|skip_connect~1|none~2|"
ONESHOT = ["--data", "digits", "--epochs", "1", "--set", "C=4", "--set", "N=1", "--set", "max_steps=2"]
MOBILENET = ["--space", "mobilenet", "--budget", "3", "--epochs", "1", "--supernet", "train_limit=64"]

#: small valid commands per subcommand; each reaches its library entry point (the stub)
BASES: dict[str, list[list[str]]] = {
    "search": [["search", "--no-progress", "--method", "random", "--budget", "3"],
               ["search", "--no-progress", "--method", "darts", *ONESHOT],
               ["search", "--no-progress", "--method", "random", *MOBILENET]],
    "sweep": [["sweep", "--no-progress", "--methods", "random", "--datasets", "cifar10", "--seeds", "1", "--budget",
               "3", "--out", "o"],
              ["sweep", "--no-progress", "--methods", "random", "--space", "mobilenet", "--seeds", "1", "--budget",
               "3", "--epochs", "1", "--out", "o"]],
    "train": [["train", "--no-progress", "--arch", NB201_ARCH, "--space", "nb201", "--data", "digits", "--epochs",
               "1", "--set", "C=4", "--set", "N=1"]],
    "autospace": [["autospace", "--no-progress", "--rounds", "1", "--population", "3", "--k", "2", "--layers", "1",
                   "--out", "s.json"]],
    "autospace-search": [["autospace-search", "--no-progress", "--manual-irb", "--layers", "1", "--method", "random",
                          "--budget", "1", "--train-epochs", "1"]],
    "report": [["report", "sweepdir", "--no-plots"]],
    "show": [["show", NB201_ARCH, "--space", "nb201", "--out", "pic.svg"]],
    "list": [["list", "spaces"]],
}

#: bad values, by what a flag or key takes (never a writable absolute path: tests may run as root)
ANY = ["", " ", "-1", "0", "nan", "inf", "-inf", "1e309", "1.5", "99999999999999999999999", "abc", "a\nb", "[" * 40,
       "{}", "[]", "null", "true", "\u00e9\u4e2d", "x" * 300, "=", "-", "/proc/spacenas_fuzz/x", "/dev/null"]
INTS = ["", "0", "-1", "1.5", "nan", "abc", "99999999999999999999999", "0x10", "1e3", "-0"]
PATHS = ["", " ", "/proc/spacenas_fuzz/x", "/dev/null", "afile/sub", "afile", "no/such/dir/x", "rd\nX", "x" * 300]
JSON_NUMBER = ["NaN", "Infinity", "-Infinity", "-1", "0", "1e309", "-1e9", "99999999999999999999999", "1.5"]
JSON_OTHER = ["", "abc", "[]", "{}", "[1,", "null", "true", '{"a": [1]}', "[" * 40]
PATH_FLAGS = {"--run-dir", "--out", "--data-dir", "--tensorboard", "--export-dir", "--space-file",
              "--init-from-supernet", "--html", "dir"}


class Accepted(BaseException):
    """Raised by the stubs: the command got to real work with these values."""


def _accept(*args: Any, **kwargs: Any):
    raise Accepted


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory) -> Path:
    """A dir holding one finished (tiny, table-backed) query run: what ``report`` reads."""
    import contextlib
    import io

    d = tmp_path_factory.mktemp("sweep")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["search", "--no-progress", "--method", "random", "--budget", "3", "--run-dir",
                     str(d / "run")]) == 0
    return d


@pytest.fixture
def stubs(monkeypatch, tmp_path, finished_runs):
    import shutil

    import spacenas.runner
    import spacenas.strategies.autospace.build as lw
    import spacenas.strategies.autospace.evolution as dea
    import spacenas.strategies.oneshot.build as oneshot
    import spacenas.sweep
    import spacenas.train.loop

    monkeypatch.setattr(spacenas.runner.Runner, "run", _accept)
    monkeypatch.setattr(oneshot, "search", _accept)
    monkeypatch.setattr(spacenas.sweep, "_sweep", _accept)
    monkeypatch.setattr(spacenas.train.loop, "train", _accept)
    monkeypatch.setattr(dea.AutoSpace, "run", _accept)
    monkeypatch.setattr(lw, "_search_work", _accept)
    (tmp_path / "afile").write_text("x")
    shutil.copytree(finished_runs, tmp_path / "sweepdir")
    n = iter(range(10**9))

    def fresh() -> None:
        """Each case in its own working dir (no case sees another's files): ``afile`` and ``sweepdir``."""
        d = tmp_path / f"case{next(n)}"
        d.mkdir()
        for name in ("afile", "sweepdir"):
            (d / name).symlink_to(tmp_path / name)
        monkeypatch.chdir(d)
    return fresh


def run_case(argv: list[str], capsys, fresh) -> tuple[str, str]:
    """("accepted" | "handled" | "failure", detail) for ``spacenas ARGV`` in a fresh working dir."""
    fresh()
    capsys.readouterr()
    try:
        rc = main(list(argv))
    except Accepted:
        capsys.readouterr()
        return "accepted", ""
    except BaseException as e:  # noqa: BLE001 - a traceback (or an exit) is what this test looks for
        err = capsys.readouterr().err
        return "failure", f"{type(e).__name__}: {str(e)[:300]} (stderr {err[-300:]!r})"
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if rc == 0:
        return "accepted", ""  # finished (list, report, show): the value was usable
    if rc == 2 and len(lines) == 1 and lines[0].startswith("spacenas: error: ") and "Traceback" not in err:
        return "handled", lines[0]
    return "failure", f"rc={rc} stderr={err[-600:]!r}"


# ----- what to fuzz, from the parser and the registry ----------------------------------------------
def _subparsers() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _flags(sp: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in sp._actions if not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]


def _flag_values(action: argparse.Action, rng: random.Random, n: int) -> list[str]:
    name = action.option_strings[-1] if action.option_strings else action.dest
    if name in PATH_FLAGS:
        pool = PATHS
    elif action.type is not None and getattr(action.type, "__name__", "") in ("positive_int", "nonneg_int", "seed"):
        pool = INTS
    else:
        pool = ANY
    if action.choices:
        pool = [v for v in pool if v not in action.choices]
    return rng.sample(pool, n)


def _replace(base: list[str], flag: str, value: str) -> list[str]:
    """``base`` with ``flag value`` (its value replaced where ``base`` has the flag)."""
    if flag in base and flag not in ("--set", "--supernet", "--constraint"):
        i = base.index(flag)
        return [*base[: i + 1], value, *base[i + 2:]]
    return [*base, flag, value]


def flag_cases(command: str, seed: int = 0, per_flag: int = 2) -> list[tuple[str, list[str]]]:
    """(case id, argv): every flag (and positional) of ``command`` with bad values, on every base."""
    sp, rng, cases = _subparsers()[command], random.Random(f"{command}:{seed}"), []
    for action in _flags(sp):
        for b, base in enumerate(BASES[command]):
            if not action.option_strings:  # a positional: replace the base's value
                pos = [a for a in _flags(sp) if not a.option_strings].index(action)
                i = 1 + pos
                for v in _flag_values(action, rng, per_flag):
                    cases.append((f"{action.dest}={v!r}@{b}", [*base[:i], v, *base[i + 1:]]))
                continue
            flag = action.option_strings[-1]
            if action.nargs == 0:  # store_true: the flag itself, in a context it may not fit
                cases.append((f"{flag}@{b}", base if flag in base else [*base, flag]))
                continue
            for v in _flag_values(action, rng, per_flag):
                cases.append((f"{flag}={v!r}@{b}", _replace(base, flag, v)))
    return cases


def _key_values(annotation: Any, rng: random.Random, n: int) -> list[str]:
    text = str(annotation)
    pool = JSON_NUMBER + ["abc", "[]", "true"] if ("int" in text or "float" in text) else JSON_OTHER + ["5", "-1"]
    return rng.sample(pool, n)


def _fields(model) -> dict[str, Any]:
    return {k: f.annotation for k, f in model.model_fields.items()}


def set_keys() -> list[tuple[str, list[str], str, dict[str, Any]]]:
    """(label, base argv, flag, {key: annotation}) for every method's options, from the registry."""
    from spacenas.evaluators.supernet_run import SupernetRunConfig
    from spacenas.strategies.autospace import AutoSpaceConfig
    from spacenas.strategies.autospace.build import PLAN_KEYS, RandomSearchConfig, method_option_keys
    from spacenas.strategies.oneshot.build import NET_FIXED
    from spacenas.strategies.oneshot.loop import LoopConfig
    from spacenas.train.config import TrainConfig

    out = []
    for m in registry.QUERY_STRATEGIES:
        out.append((f"search:{m}", ["search", "--no-progress", "--method", m, "--budget", "3"], "--set",
                    _fields(registry.query_strategy(m).Config)))
    for m in registry.ONESHOT_STRATEGIES:
        net = registry.load(registry.SUPERNETS["nb201"])
        keys = {**{k: p.annotation for k, p in inspect.signature(net).parameters.items() if k not in NET_FIXED},
                **_fields(LoopConfig), **_fields(registry.oneshot_strategy(m).Config)}
        out.append((f"search:{m}", ["search", "--no-progress", "--method", m, *ONESHOT], "--set", keys))
    out.append(("search:supernet", ["search", "--no-progress", "--method", "random", *MOBILENET], "--supernet",
                _fields(SupernetRunConfig)))
    out.append(("train", BASES["train"][0], "--set", _fields(TrainConfig)))
    out.append(("autospace", BASES["autospace"][0], "--set",
                {**_fields(AutoSpaceConfig), **{k: "list[int]" for k in PLAN_KEYS}}))
    for m in registry.AUTOSPACE_METHODS:
        base = [a if a != "random" else m for a in BASES["autospace-search"][0]]
        keys = {k: "int|float" if k != "mode" else "str" for k in method_option_keys(m)}
        if m == "random":
            keys = _fields(RandomSearchConfig)
        out.append((f"autospace-search:{m}", base, "--set", {**keys, **{k: "list[int]" for k in PLAN_KEYS}}))
    return out


def key_cases(seed: int = 0, per_key: int = 1) -> list[tuple[str, list[str]]]:
    cases = []
    for label, base, flag, keys in set_keys():
        rng = random.Random(f"{label}:{seed}")
        for key, ann in keys.items():
            for v in _key_values(ann, rng, per_key):
                cases.append((f"{label}:{key}={v!r}", [*base, flag, f"{key}={v}"]))
    return cases


# ----- the tests ------------------------------------------------------------------------------------
def _run_all(cases, capsys, fresh) -> dict[str, list]:
    tally: dict[str, list] = {"accepted": [], "handled": [], "failure": []}
    for cid, argv in cases:
        status, detail = run_case(argv, capsys, fresh)
        tally[status].append((cid, detail))
    with capsys.disabled():
        print(f"\n[cli fuzz] tried {len(cases)}: handled {len(tally['handled'])}, accepted "
              f"{len(tally['accepted'])}, failures {len(tally['failure'])}")
    return tally


@pytest.mark.parametrize("command", sorted(BASES))
def test_every_base_command_reaches_its_entry_point(command, stubs, capsys):
    for base in BASES[command]:
        status, detail = run_case(base, capsys, stubs)
        assert status == "accepted", (base, detail)


def test_every_flag_of_every_subcommand_is_fuzzed():
    subs = _subparsers()
    assert set(subs) == set(BASES)
    for command, sp in subs.items():
        ids = {cid.split("=")[0].split("@")[0] for cid, _ in flag_cases(command)}
        names = {a.option_strings[-1] if a.option_strings else a.dest for a in _flags(sp)}
        assert names == ids, (command, names ^ ids)


@pytest.mark.parametrize("command", sorted(BASES))
def test_bad_flag_values(command, stubs, capsys):
    tally = _run_all(flag_cases(command), capsys, stubs)
    assert not tally["failure"], tally["failure"]
    assert tally["handled"] or command == "list"  # the cases are not all accepted


def test_bad_set_values_of_every_method(stubs, capsys):
    labels = {label for label, *_ in set_keys()}
    assert {f"search:{m}" for m in [*registry.QUERY_STRATEGIES, *registry.ONESHOT_STRATEGIES]} <= labels
    cases = key_cases()
    tally = _run_all(cases, capsys, stubs)
    assert not tally["failure"], tally["failure"]
    # numbers that cannot be right (NaN, +-inf) are never accepted for a numeric option (autospace-search
    # checks its method options inside the search function, which the stub replaces)
    bad = [cid for cid, _ in tally["accepted"] if not cid.startswith("autospace-search") and
           any(f"={v!r}" in cid for v in ("NaN", "Infinity", "-Infinity", "1e309"))]
    assert not bad, bad
