"""Config files, presets and plugins of every subcommand: ``--config FILE``, ``--preset NAME``,
``--print-config``, ``--plugin module:attr``.

A config file (YAML ``.yaml``/``.yml``, TOML ``.toml``, or JSON ``.json`` such as a run dir's
``config.json``) is a mapping of the subcommand's options. Its keys are the long flag names
without dashes (``search_metric``, ``set``, ``constraint``) or the option's name in the parsed
arguments (``options``, ``constraints``); values are what the flag takes (``set`` and
``supernet``: a mapping, nested mappings for dotted keys; repeatable flags: a list; comma lists:
a list or the comma text). ``null`` means "the default". Paths are read relative to the current
directory. The values go through the same conversions and the same ``run(args)`` as flags, so a
file maps onto the same typed configs.

Order (later wins): the defaults, ``--preset NAME`` (a shipped file of :mod:`spacenas.presets`),
``--config FILE``, then the flags given on the command line. To tell a given flag from its
default, the subcommand parsers get :data:`argparse.SUPPRESS` defaults here (only given flags
appear in the parsed namespace) and the real defaults are filled in afterwards; required flags
are checked after the merge, so they may come from the file.

Keys that are bookkeeping of a run dir (``kind``, ``version``, timestamps, see :data:`BOOKKEEPING`)
are accepted and ignored; ``kind`` must fit the subcommand. Any other unknown key is a one-line
error naming it and the allowed keys.

A run dir's ``config.json`` is read by its kind: keys with other names (:data:`KIND_KEYS`), keys
derived from the options (:data:`DERIVED`), and for the AutoSpace kinds nested sections unpacked
into flags (:data:`UNPACK`: the DEA config and the network plan of an ``autospace`` run, the
method and plan options of an ``autospace-search`` run). A flag given on the command line also
drops the file's ``--set`` keys it replaces (:data:`SUPERSEDES`: ``--layers`` the file's
``channels``/``strides``, another ``--method`` the file's method options).
"""
from __future__ import annotations

import argparse
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacenas.cli.options import key_values
from spacenas.errors import SpacenasError
from spacenas.runs import CONFIG, KIND_COMMANDS

#: keys a run dir's config.json (or a preset) carries that are not options: accepted and ignored
BOOKKEEPING = frozenset({"kind", "version", "spacenas_version", "format", "created", "started", "finished",
                         "timestamp", "time", "host", "description", "paper"})
#: run-dir config.json keys that are derived from the options (recomputed by the run), per kind:
#: accepted and ignored by name
DERIVED = {"oneshot": frozenset({"arch_shapes", "loop", "method_config"}),
           "autospace-search": frozenset({"space", "cells"}),
           "supernet": frozenset({"madds_limit"})}  # the resolved limit; the option is supernet.madds_limit

#: AutoSpace network-plan keys an option may set (``spacenas.strategies.autospace.build.PLAN_KEYS``;
#: spelled out so that parsing flags imports no torch) and the plan fields that come from the data
NET_KEYS = ("stem_channels", "channels", "strides")
NET_FROM_DATA = ("in_channels", "image_size", "num_classes")
#: the AutoSpace DEA options that have flags of their own (``--rounds``, ``--population``, ``--k``)
DEA_FLAGS = ("rounds", "population", "k")

#: run-dir config.json / preset keys with another name than the flag, per subcommand
RUN_KEYS = {
    "search": {"method_config": "set"},
    "train": {"dataset": "data", "overrides": "set", "options": "set"},
}

#: keys whose flag depends on the kind: a query run's (or preset's) ``data`` is the table's data set
KIND_KEYS = {"query": {"data": "dataset"}, "train": {"config": "set"}}

#: subcommands that take --config / --preset / --print-config (every one but ``list``)
NOT_CONFIGURABLE = frozenset({"list"})

#: this module's own flags (not part of a resolved config)
OWN = frozenset({"config", "preset", "print_config"})


def add_arguments(p: argparse.ArgumentParser, files: bool = True) -> None:
    """``--plugin`` (every subcommand) and, with ``files``, ``--config``, ``--preset``, ``--print-config``."""
    g = p.add_argument_group("config files and plugins")
    if files:
        g.add_argument("--config", default=None, metavar="FILE",
                       help="read options from a YAML (.yaml/.yml), TOML (.toml) or JSON file (a run dir's "
                            "config.json works); flags given here override it")
        g.add_argument("--preset", default=None, metavar="NAME",
                       help="start from a shipped recipe (then --config, then flags)")
        g.add_argument("--print-config", action="store_true",
                       help="print the resolved config (YAML) and exit without running")
    g.add_argument("--plugin", dest="plugin", action="append", default=None, metavar="MODULE:ATTR",
                   help="load a plugin that registers spaces, methods or evaluators (repeatable; see "
                        "docs/extending.md)")


@dataclass
class Command:
    """What the merge needs to know of one subcommand's parser."""

    name: str
    parser: argparse.ArgumentParser
    actions: dict[str, argparse.Action] = field(default_factory=dict)  # dest -> action
    keys: dict[str, str] = field(default_factory=dict)  # accepted key -> dest
    canonical: dict[str, str] = field(default_factory=dict)  # dest -> key printed by --print-config
    defaults: dict[str, Any] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)  # dests
    groups: list[tuple[list[str], bool]] = field(default_factory=list)  # exclusive dests, required


def flag_of(action: argparse.Action) -> str:
    longs = [o for o in action.option_strings if o.startswith("--")]
    return longs[0] if longs else (action.option_strings[0] if action.option_strings else action.dest)


def prepare(name: str, parser: argparse.ArgumentParser) -> Command:
    """Record defaults, required flags and exclusive groups of ``parser``; then make every option
    optional with a SUPPRESS default, so the namespace holds only what was given."""
    cmd = Command(name, parser)
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction) or a.dest in (argparse.SUPPRESS, None):
            continue
        cmd.actions[a.dest] = a
        key = flag_of(a).lstrip("-").replace("-", "_")
        cmd.canonical[a.dest] = key
        cmd.keys[key] = cmd.keys[a.dest] = a.dest
        cmd.defaults[a.dest] = a.default
        if a.required:
            cmd.required.append(a.dest)
            a.required = False
            if not a.option_strings:  # a positional: may come from the file
                a.nargs = "?"
        a.default = argparse.SUPPRESS
    for alias, key in RUN_KEYS.get(name, {}).items():
        if key in cmd.keys:
            cmd.keys.setdefault(alias, cmd.keys[key])
    for g in parser._mutually_exclusive_groups:
        cmd.groups.append(([a.dest for a in g._group_actions], g.required))
        g.required = False
    return cmd


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return dict(a.choices)
    return {}


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``: the subcommand's flags over ``--config`` over ``--preset`` over the defaults."""
    cmds = {name: prepare(name, sp) for name, sp in subcommands(parser).items() if name not in NOT_CONFIGURABLE}
    ns = parser.parse_args(argv)
    if ns.command not in cmds:  # list: plain argparse, defaults included
        return ns
    cmd = cmds[ns.command]
    given = {k: v for k, v in vars(ns).items() if k in cmd.actions}
    top = {k: v for k, v in vars(ns).items() if k not in cmd.actions}
    layers: list[tuple[str, dict[str, Any]]] = []
    preset = read_preset(given["preset"]) if given.get("preset") is not None else None
    if preset is not None:
        layers.append((f"preset {given['preset']!r}", preset))
    if given.get("config") is not None:
        layers.append((f"config file {given['config']}", read_file(given["config"])))
    elif given.get("resume") and given.get("run_dir"):  # --resume --run-dir DIR: the run's own options
        run_config = Path(given["run_dir"]).expanduser() / CONFIG
        if run_config.is_file():
            layers.append((f"run dir config {run_config}", read_file(str(run_config))))
    values = dict(cmd.defaults)
    for where, raw in layers:
        merge(cmd, values, drop_superseded(cmd, drop_excluded(cmd, convert(cmd, raw, where), given), given))
    merge(cmd, values, given)
    check_groups(cmd, values, given)
    if preset is not None:
        check_method(cmd, preset, given)
        if not given.get("print_config"):  # --print-config: a template
            check_required(cmd, values, given["preset"])
    missing = [cmd.actions[d] for d in cmd.required if values.get(d) is None]
    if missing:
        names = ", ".join(flag_of(a) for a in missing)
        raise SpacenasError(f"the following arguments are required: {names} (or in --config) "
                            f"(see '{cmd.parser.prog} --help')")
    return argparse.Namespace(**top, **values)


def check_method(cmd: Command, preset: dict[str, Any], given: dict[str, Any]) -> None:
    """A preset's options are its method's: another ``--method`` with them is a one-line error
    naming the preset (not an "unknown option" error from deep in the run)."""
    dest = cmd.keys.get("method")
    ours = preset.get("method")
    if dest is None or ours is None or given.get(dest) in (None, ours):
        return
    raise SpacenasError(f"--method {given[dest]} with preset {given['preset']!r}, a recipe for method {ours!r}: "
                        f"its options are {ours}'s; run the preset with its own method, or give the options "
                        f"for {given[dest]} with --set or --config (without --preset)")


def check_required(cmd: Command, values: dict[str, Any], preset: str) -> None:
    """The options a preset cannot hold (Config-A's ``frozen_beta``, a retrain's ``arch``) must come
    from a flag, ``--set`` or ``--config``; else one line naming them."""
    from spacenas import presets

    options: dict[str, Any] = {}
    for dest, action in cmd.actions.items():
        if is_key_value(action) and values.get(dest):
            options.update(key_values(values[dest], flag_of(action)))
    flags = {key: values.get(cmd.keys[key]) for key in cmd.keys if not is_key_value(cmd.actions[cmd.keys[key]])}
    for key in presets.missing_required(presets.load_preset(preset), options, flags):
        dest = cmd.keys.get(key)
        how = flag_of(cmd.actions[dest]) if dest is not None and not is_key_value(cmd.actions[dest]) \
            else f"--set {key}=... (or '{key}' under 'set' in a --config file)"
        raise SpacenasError(f"preset {preset!r} needs {key!r}: give {how}; see its notes in docs/presets.md")


def merge(cmd: Command, values: dict[str, Any], later: dict[str, Any]) -> None:
    """``values.update(later)``, except that ``KEY=VALUE`` lists (``--set``, ``--supernet``) add up:
    a later pair overrides the same key only."""
    for dest, v in later.items():
        if is_key_value(cmd.actions[dest]) and values.get(dest):
            values[dest] = [*values[dest], *v]
        else:
            values[dest] = v


# ----- the AutoSpace kinds' config.json ------------------------------------------------------------
def _section(raw: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    v = raw.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise SpacenasError(f"{where}: {key!r} must be a mapping, got {v!r}")
    return v


def _plan_options(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The settable keys of a run's ``plan`` (the rest comes from the data); unknown keys are errors."""
    plan = _section(raw, "plan", where)
    bad = sorted(k for k in plan if k not in NET_KEYS + NET_FROM_DATA)
    if bad:
        raise SpacenasError(f"{where}: unknown key 'plan.{bad[0]}' (allowed: {', '.join(NET_KEYS + NET_FROM_DATA)})")
    return {k: plan[k] for k in NET_KEYS if k in plan}


def unpack_autospace(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """An ``autospace`` run's config.json: ``config`` (the DEA's :class:`AutoSpaceConfig`) -> ``--rounds``,
    ``--population``, ``--k`` and ``--set``; ``plan`` -> ``--set stem_channels/channels/strides``."""
    out = {k: v for k, v in raw.items() if k not in ("config", "plan")}
    dea = dict(_section(raw, "config", where))
    out.update({k: dea.pop(k) for k in DEA_FLAGS if k in dea})
    options = {**dea, **_plan_options(raw, where)}
    if options:
        out["set"] = options
    return out


def unpack_autospace_search(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """An ``autospace-search`` run's config.json: ``options`` (``{"method": ..., "plan": ...}``) ->
    ``--set``; with ``manual_irb`` the depth of the run's ``plan`` -> ``--layers`` unless the plan
    options fix it (a space file brings its own plan)."""
    out = {k: v for k, v in raw.items() if k not in ("options", "plan")}
    sections = _section(raw, "options", where)
    bad = sorted(k for k in sections if k not in ("method", "plan"))
    if bad:
        raise SpacenasError(f"{where}: unknown key 'options.{bad[0]}' (allowed: method, plan)")
    options = {**_section(sections, "method", where), **_section(sections, "plan", where)}
    plan = _plan_options(raw, where)
    if raw.get("manual_irb") and "channels" not in options and isinstance(plan.get("channels"), list):
        out["layers"] = len(plan["channels"])
    if options:
        out["set"] = options
    return out


#: run-dir kinds whose config.json nests options: kind -> function(mapping, where) -> flag mapping
UNPACK = {"autospace": unpack_autospace, "autospace-search": unpack_autospace_search}

#: per subcommand, a flag given on the command line (with another value than the file's) -> what of
#: the file it replaces: ``--set`` keys, or flags (names of the subcommand's options); ``None``:
#: every ``--set`` key but the network plan's
SUPERSEDES: dict[str, dict[str, tuple[str, ...] | None]] = {
    "search": {"data": ("dataset",), "dataset": ("data",)},  # either one alone names both (cli.md)
    "autospace": {"layers": ("channels", "strides")},
    "autospace-search": {"layers": ("channels", "strides"), "space_file": NET_KEYS + ("layers",), "method": None},
}


def drop_superseded(cmd: Command, file_values: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Leave out the file's values and ``--set`` pairs that a flag given on the command line replaces:
    a ``--set`` key named like the flag (``--epochs`` over ``set: {epochs: ...}``, ``--rounds`` over
    ``set: {rounds: ...}``), and what :data:`SUPERSEDES` lists."""
    out = dict(file_values)
    flags = {cmd.canonical[d] for d in given if not is_key_value(cmd.actions[d])}
    for d, a in cmd.actions.items():
        if is_key_value(a) and out.get(d):
            out[d] = [pair for pair in out[d] if pair.partition("=")[0].strip().split(".")[0] not in flags]
    for dest, names in SUPERSEDES.get(cmd.name, {}).items():
        if dest not in given or given[dest] == file_values.get(dest):
            continue
        for name in names or ():
            if name in cmd.actions and not is_key_value(cmd.actions[name]) and name not in given:
                out.pop(name, None)
        for d, a in cmd.actions.items():
            if is_key_value(a) and out.get(d):
                out[d] = [pair for pair in out[d] if not _replaced(pair.partition("=")[0].strip(), names)]
    return out


def _replaced(key: str, names: tuple[str, ...] | None) -> bool:
    return key not in NET_KEYS if names is None else key in names


# ----- reading ----------------------------------------------------------------------------------
def read_file(path: str) -> dict[str, Any]:
    """A config file as a mapping, by its extension."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml", ".json"):
        raise SpacenasError(f"config file {path}: unknown format {suffix or '(no extension)'!r} "
                            "(allowed: .yaml, .yml, .toml, .json)")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpacenasError(f"cannot read config file {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        if suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:  # yaml / toml / json syntax errors: one line with the position
        msg = " ".join(str(e).split())
        raise SpacenasError(f"config file {path} is not valid {suffix[1:].upper()}: {msg}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpacenasError(f"config file {path}: expected a mapping of options at the top, got {type(data).__name__}")
    return data


def read_preset(name: str) -> dict[str, Any]:
    """A shipped preset as a config mapping (``spacenas.presets.load_preset``)."""
    try:
        presets = importlib.import_module("spacenas.presets")
    except ModuleNotFoundError as e:
        if e.name in ("spacenas.presets", "spacenas"):
            raise SpacenasError("presets not available") from None
        raise
    data = presets.load_preset(name)
    if not isinstance(data, dict):
        raise SpacenasError(f"preset {name!r} is not a mapping of options")
    # the keys that describe the recipe (provenance, the paper's numbers, the time estimate):
    # accepted and ignored by name in the --preset layer only
    return {k: v for k, v in data.items() if k not in presets.INFO_KEYS}


# ----- converting a file's values to what the flags give ----------------------------------------------
def is_key_value(a: argparse.Action) -> bool:
    return isinstance(a, argparse._AppendAction) and "KEY=VALUE" in str(a.metavar or "")


def flatten(d: dict[str, Any], prefix: str = "") -> list[str]:
    """``{"a": {"b": 1}, "c": "x"}`` -> ``["a.b=1", "c=\"x\""]`` (the ``--set`` form, values as JSON)."""
    out: list[str] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out += flatten(v, key + ".")
        else:
            out.append(f"{key}={json.dumps(v)}")
    return out


def convert(cmd: Command, raw: dict[str, Any], where: str) -> dict[str, Any]:
    """A file's mapping -> ``{dest: value}`` as the flags would give them."""
    kind = raw.get("kind")
    if kind is not None:
        want = KIND_COMMANDS.get(str(kind))
        if want is None:
            raise SpacenasError(f"{where}: unknown kind {kind!r} (allowed: {', '.join(KIND_COMMANDS)})")
        if want != cmd.name:
            raise SpacenasError(f"{where} is the config of a run of kind {kind!r}; use it with 'spacenas {want}', "
                                f"not 'spacenas {cmd.name}'")
    if str(kind) in UNPACK:
        raw = UNPACK[str(kind)](raw, where)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in BOOKKEEPING or key in DERIVED.get(str(kind), ()):
            continue
        key = KIND_KEYS.get(str(kind), {}).get(key, key)
        dest = cmd.keys.get(str(key).replace("-", "_"))
        if dest is None or dest in OWN:
            allowed = sorted({cmd.canonical[d] for d in cmd.actions if d not in OWN})
            raise SpacenasError(f"{where}: unknown key {key!r} for 'spacenas {cmd.name}' "
                                f"(allowed: {', '.join(allowed)})")
        if value is None:
            continue
        if dest in out:
            raise SpacenasError(f"{where}: {key!r} given twice (as {cmd.canonical[dest]!r} and an alias)")
        out[dest] = convert_value(cmd.actions[dest], value, f"{where}: {key!r}")
    return out


def convert_value(a: argparse.Action, value: Any, where: str) -> Any:
    if a.nargs == 0:  # store_true
        if not isinstance(value, bool):
            raise SpacenasError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(a, argparse._AppendAction):
        if is_key_value(a) and isinstance(value, dict):
            return flatten(value)
        items = value if isinstance(value, list) else [value]
        return [one(a, x, where) for x in items]
    if isinstance(value, list) and getattr(a.type, "__name__", "") == "csv_list":
        if not value or not all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in value):
            raise SpacenasError(f"{where}: expected a non-empty list of names, got {value!r}")
        return [str(x) for x in value]
    if isinstance(value, list) and a.type is None and all(isinstance(x, (str, int, float)) for x in value):
        value = ",".join(str(x) for x in value)  # comma-list flags read as text (--seeds, --export, --weights)
    return one(a, value, where)


def one(a: argparse.Action, value: Any, where: str) -> Any:
    if isinstance(value, (dict, list)):
        raise SpacenasError(f"{where}: expected a single value, got {value!r}")
    if isinstance(value, bool) and a.type is not None:
        raise SpacenasError(f"{where}: expected {a.metavar or 'a value'}, got {value!r}")
    if a.type is not None:
        try:
            value = a.type(str(value) if not isinstance(value, str) else value)
        except (argparse.ArgumentTypeError, TypeError, ValueError) as e:
            raise SpacenasError(f"{where}: bad value {value!r}: {e}") from None
    elif not isinstance(value, str):
        value = str(value).lower() if isinstance(value, bool) else str(value)
    if a.choices is not None and value not in a.choices:
        raise SpacenasError(f"{where}: bad value {value!r} (allowed: {', '.join(map(str, a.choices))})")
    return value


def drop_excluded(cmd: Command, file_values: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """A flag given on the command line also overrides the file's value for the other members of its
    mutually exclusive group (``--manual-irb`` over the file's ``space_file``)."""
    out = dict(file_values)
    for dests, _ in cmd.groups:
        if any(d in given for d in dests):
            for d in dests:
                if d not in given:
                    out.pop(d, None)
    return out


def is_set(cmd: Command, dest: str, v: Any) -> bool:
    return v is not None and v is not False and v != cmd.defaults.get(dest)


def check_groups(cmd: Command, values: dict[str, Any], given: dict[str, Any]) -> None:
    for dests, required in cmd.groups:
        on = [d for d in dests if is_set(cmd, d, values.get(d))]
        flags = [flag_of(cmd.actions[d]) for d in dests]
        if len(on) > 1:
            raise SpacenasError(f"{', '.join(flag_of(cmd.actions[d]) for d in on)}: not allowed together "
                                "(from the command line and --config)")
        if required and not on:
            raise SpacenasError(f"one of the arguments {' '.join(flags)} is required (or in --config) "
                                f"(see '{cmd.parser.prog} --help')")


# ----- --print-config -----------------------------------------------------------------------------
def resolved(cmd_name: str, parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """The full resolved config of ``args``: every option of the subcommand under its file key."""
    out: dict[str, Any] = {}
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction) or a.dest in OWN or not hasattr(args, a.dest):
            continue
        v = getattr(args, a.dest)
        key = flag_of(a).lstrip("-").replace("-", "_")
        if is_key_value(a):
            v = key_values(v, flag_of(a)) if v else {}
        out[key] = v
    return out


def dump(cmd_name: str, parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    import yaml

    body = yaml.safe_dump(resolved(cmd_name, parser, args), sort_keys=False, default_flow_style=False)
    return (f"# spacenas {cmd_name}: resolved config (use with --config FILE.yaml); null: the default, "
            f"which may depend on the space or method\n{body}")
