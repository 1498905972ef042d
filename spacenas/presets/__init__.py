"""Presets: the papers' recipes as named, validated configs (issue 12).

One YAML file per preset in this package (``<name>.yaml``, package data), holding:

* ``kind`` -- ``oneshot`` (a one-shot search: ``space``, ``method``, ``data``, ``options``
  routed like ``--set`` to the loop, the method's config and the supernet), ``query``
  (``space``, ``method``, ``data``, ``budget``, ``options`` = the method's config), ``autospace``
  (``options`` = :class:`~spacenas.strategies.autospace.AutoSpaceConfig`) or ``train``
  (``space``, ``options`` = :func:`~spacenas.train.train_config` overrides);
* ``sources`` -- for every option, where its value comes from: ``paper``, ``code`` (the
  authors' code), ``both`` (they agree) or ``spacenas`` (neither gives one); ``other`` says the
  other side's value where paper and code disagree;
* ``required`` -- options the user must give (Config-A's ``frozen_beta``, a retrain's ``arch``);
* ``reported`` -- the paper's numbers; ``reproduces`` -- the tables/figures it reproduces;
  ``needs`` -- what a full run needs beyond this machine (``null``: runs here); ``ours`` -- where
  the docs hold our measured numbers for it (printed by a committed script), if anywhere;
  ``estimate`` -- ``{step: KEY, images: N}``: the measured GPU step time its full-run estimate
  uses (:mod:`spacenas.presets.estimate`).

:func:`list_presets`, :func:`load_preset` (the file, checked), :func:`apply_preset` (the config a
run uses: options with overrides merged, validated against the real typed configs) and
:func:`validate` (the typed configs themselves). The CLI's ``--preset`` calls
:func:`apply_preset`; the Markdown of ``docs/presets.md`` and ``docs/reproduce.md`` comes from
:mod:`spacenas.presets.docs`.
"""
from __future__ import annotations

import copy
import inspect
from importlib import resources
from typing import Any

import yaml

from spacenas.config import build_config
from spacenas.errors import SpacenasError, unknown
from spacenas.runs import KIND_COMMANDS

KINDS = ("oneshot", "query", "autospace", "train")
#: the ``spacenas`` subcommand that runs a preset of each kind (``spacenas <command> --preset NAME``)
COMMANDS = {kind: KIND_COMMANDS[kind] for kind in KINDS}
SOURCES = ("paper", "code", "both", "spacenas")
#: keys of a preset file (the first group is required)
_REQUIRED_KEYS = {"name", "title", "paper", "kind", "options", "sources", "reported", "reproduces", "needs"}
_OPTIONAL_KEYS = {"space", "method", "data", "budget", "other", "required", "notes", "ours", "estimate"}
#: keys that describe the recipe (provenance, the paper's numbers, the time estimate), not options
#: of the run: the CLI's --preset layer drops them
INFO_KEYS = frozenset((_REQUIRED_KEYS | _OPTIONAL_KEYS) - {"kind", "options", "space", "method", "data", "budget"})
#: top-level keys an override may set besides options
_TOP_OVERRIDES = ("data", "budget", "arch", "seed")


def list_presets() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.name[:-5] for p in resources.files(__package__).iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The preset file ``name`` as a dict (a fresh copy), its schema checked."""
    names = list_presets()
    if name not in names:
        raise unknown("preset", name, names)
    text = resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    _check_schema(name, data)
    return copy.deepcopy(data)


def _check_schema(name: str, p: Any) -> None:
    def bad(msg: str) -> SpacenasError:
        return SpacenasError(f"preset {name!r}: {msg}")

    if not isinstance(p, dict):
        raise bad("the file is not a mapping")
    missing, extra = _REQUIRED_KEYS - set(p), set(p) - _REQUIRED_KEYS - _OPTIONAL_KEYS
    if missing or extra:
        raise bad(f"missing keys {sorted(missing)}, unknown keys {sorted(extra)}")
    if p["name"] != name:
        raise bad(f"its name field says {p['name']!r}")
    if p["kind"] not in KINDS:
        raise bad(f"kind {p['kind']!r} (allowed: {', '.join(KINDS)})")
    keys = set(p["options"]) | ({"budget"} if "budget" in p else set())
    if set(p["sources"]) != keys:
        raise bad(f"sources must tag exactly the options (and budget); untagged {sorted(keys - set(p['sources']))}, "
                  f"not options {sorted(set(p['sources']) - keys)}")
    wrong = {k: v for k, v in p["sources"].items() if v not in SOURCES}
    if wrong:
        raise bad(f"sources {wrong} (allowed: {', '.join(SOURCES)})")
    if set(p.get("other") or {}) - keys:
        raise bad(f"'other' names non-options {sorted(set(p['other']) - keys)}")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``; nested mappings (e.g. ``progressive``) merge key by key."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def missing_required(preset: dict[str, Any], options: dict[str, Any], top: dict[str, Any]) -> list[str]:
    """The preset's ``required`` keys that neither ``options`` nor ``top`` (the run's top-level
    fields, e.g. ``arch``) set to something other than None."""
    return [k for k in preset.get("required") or [] if options.get(k) is None and top.get(k) is None]


def apply_preset(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run config of preset ``name`` with ``overrides``: ``{"preset", "kind", "space",
    "method", "data", "budget", "options", ...}``. Override keys ``data``, ``budget``, ``arch``
    and ``seed`` set those fields; every other key is an option (nested mappings merge).
    Validated by :func:`validate`: an unknown option or a bad value is a one-line
    :class:`SpacenasError`; so is a missing required option."""
    p = load_preset(name)
    over = dict(overrides or {})
    top = {k: over.pop(k) for k in _TOP_OVERRIDES if k in over}
    cfg: dict[str, Any] = {"preset": name, "kind": p["kind"]}
    for key in ("space", "method", "data", "budget"):
        if key in p:
            cfg[key] = p[key]
    cfg.update(top)
    cfg["options"] = _merge(p["options"], over)
    for key in missing_required(p, cfg["options"], cfg):
        raise SpacenasError(f"preset {name!r} needs {key!r} (see its notes: docs/presets.md)")
    validate(cfg)
    return cfg


# ----- validation against the real typed configs ---------------------------------------------------
def _oneshot_api():
    """``build_search`` and the space -> supernet table."""
    from spacenas import registry
    from spacenas.strategies.oneshot import build as mod
    return mod.build_search, registry.SUPERNETS


def validate(cfg: dict[str, Any]) -> dict[str, Any]:
    """Build the typed configs of a run config (from :func:`apply_preset`); returns them by
    name. Nothing is trained and no data set is loaded."""
    kind, opts = cfg["kind"], dict(cfg["options"])
    where = f"preset {cfg.get('preset', '?')}"
    if kind == "oneshot":
        return _validate_oneshot(cfg, opts, where)
    if kind == "query":
        from spacenas import registry
        cls = registry.query_strategy(cfg["method"])
        registry.get(registry.SPACES, cfg["space"], "space")
        budget = cfg.get("budget")
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0:
            raise SpacenasError(f"{where}: bad budget {budget!r}: must be a positive number")
        return {"method": build_config(cls.Config, opts, where=where)}
    if kind == "autospace":
        from spacenas.strategies.autospace import AutoSpaceConfig
        return {"autospace": build_config(AutoSpaceConfig, opts, where=where)}
    if kind == "train":
        from spacenas.train import train_config
        opts.pop("arch", None)
        return {"train": train_config(cfg["space"], opts)}
    raise SpacenasError(f"{where}: unknown kind {kind!r} (allowed: {', '.join(KINDS)})")


def _validate_oneshot(cfg: dict[str, Any], opts: dict[str, Any], where: str) -> dict[str, Any]:
    from spacenas import registry
    from spacenas.strategies.oneshot.loop import LoopConfig
    _, supernets = _oneshot_api()
    cls = registry.oneshot_strategy(cfg["method"])
    if cfg["space"] not in supernets:
        raise unknown("space for one-shot search", cfg["space"], sorted(supernets))
    net_cls = registry._load(supernets[cfg["space"]])
    net_keys = set(inspect.signature(net_cls).parameters) - {"self", "num_classes", "in_channels", "generator",
                                                              "act_mixture"}
    tables = {"loop": set(LoopConfig.model_fields), "method": set(cls.Config.model_fields), "supernet": net_keys}
    routed: dict[str, dict[str, Any]] = {k: {} for k in tables}
    for key, value in opts.items():
        home = next((k for k, keys in tables.items() if key in keys), None)
        if home is None:
            raise unknown(f"option in {where}", key, sorted(set().union(*tables.values())))
        routed[home][key] = value
    return {"loop": build_config(LoopConfig, routed["loop"], where=where),
            "method": build_config(cls.Config, routed["method"], where=where),
            "supernet": routed["supernet"]}


def oneshot_search(cfg: dict[str, Any], *, seed: int = 0, data: str | None = None, data_dir: str | None = None,
                   device: str = "cpu"):
    """Build a one-shot search (strategy, supernet, data, loop config) from a run config of
    kind ``oneshot`` through the library's builder (``build_search``)."""
    if cfg["kind"] != "oneshot":
        raise SpacenasError(f"preset {cfg.get('preset')!r} is of kind {cfg['kind']!r}, not a one-shot search")
    build_search, _ = _oneshot_api()
    return build_search(cfg["space"], cfg["method"], data or cfg.get("data") or "digits", data_dir=data_dir,
                        seed=int(cfg.get("seed", seed)), options=dict(cfg["options"]), device=device)
