"""Load plugins: a user's own spaces, ask/tell strategies and evaluators.

A plugin is named ``module:attr`` or ``module``. ``attr`` is a function called with the
registration API (the :mod:`spacenas.registry` module: ``register_space``, ``register_method``,
``register_evaluator``) or a module whose import registers; a bare ``module`` registers on import
(one whose first import registers nothing is an error saying what is expected).
Installed packages declare plugins as entry points in the group ``spacenas.plugins``; the CLI
also takes ``--plugin module:attr`` (repeatable). A module that is not importable but is a file
in the current directory is imported from there (as ``python -m`` would). Loading the same
plugin twice is harmless. Errors are one-line :class:`SpacenasError`. See ``docs/extending.md``.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from spacenas import registry
from spacenas.errors import SpacenasError

GROUP = "spacenas.plugins"


def _import(module: str, spec: str) -> types.ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = module.split(".")[0]
        here = os.getcwd()
        if e.name == top and here not in sys.path and (Path(here, top + ".py").is_file() or
                                                       Path(here, top, "__init__.py").is_file()):
            sys.path.insert(0, here)
            return _import(module, spec)
        if e.name and module.startswith(e.name):
            raise SpacenasError(f"plugin {spec!r}: no module named {e.name!r} (give module:attr of an importable "
                                "module, or a module file in the current directory)") from None
        raise SpacenasError(f"plugin {spec!r}: importing {module!r} failed: {e}") from None
    except SpacenasError:
        raise
    except Exception as e:  # a plugin's own bug: name it on one line
        raise SpacenasError(f"plugin {spec!r}: importing {module!r} failed: {type(e).__name__}: {e}") from None


def _apply(obj: Any, spec: str) -> None:
    """Call a registration function with the API; a module registered on import."""
    if isinstance(obj, types.ModuleType):
        return
    if not callable(obj):
        raise SpacenasError(f"plugin {spec!r}: {obj!r} is neither a function nor a module")
    try:
        obj(registry)
    except SpacenasError as e:
        raise SpacenasError(f"plugin {spec!r}: {e}") from None
    except Exception as e:
        raise SpacenasError(f"plugin {spec!r}: registration failed: {type(e).__name__}: {e}") from None


def _registered() -> tuple[frozenset[str], ...]:
    """The names in the tables that plugins register into."""
    return tuple(frozenset(t) for t in (registry.SPACES, registry.QUERY_STRATEGIES, registry.TABLES))


def _registered_nothing(spec: str, module: str, mod: types.ModuleType) -> str:
    """The error for a bare ``module`` plugin whose import registered nothing."""
    if callable(getattr(mod, "register", None)):
        return (f"plugin {spec!r}: importing {module!r} registered nothing; to call its register(api), "
                f"give --plugin {module}:register (the form is module:attr)")
    return (f"plugin {spec!r}: importing {module!r} registered nothing and it has no register function; "
            "give module:attr naming a function that registers (def register(api): api.register_space(...)), "
            "or a module that registers on import (see docs/extending.md)")


def load_plugin(spec: str) -> None:
    """Load one plugin ``module:attr`` (or ``module``)."""
    if not isinstance(spec, str) or not spec.strip() or spec.count(":") > 1:
        raise SpacenasError(f"bad plugin {spec!r}: expected module:attr or module")
    module, _, attr = spec.strip().partition(":")
    if not module or (_ and not attr):
        raise SpacenasError(f"bad plugin {spec!r}: expected module:attr or module")
    fresh = module not in sys.modules  # a module imported before cannot register again (harmless)
    before = _registered()
    mod = _import(module, spec)
    if not attr:
        if fresh and _registered() == before:
            raise SpacenasError(_registered_nothing(spec, module, mod))
        return
    try:
        obj = getattr(mod, attr)
    except AttributeError:
        names = sorted(n for n in vars(mod) if not n.startswith("_"))
        raise SpacenasError(f"plugin {spec!r}: module {module!r} has no attribute {attr!r} "
                            f"(it has: {', '.join(names) or 'nothing public'})") from None
    _apply(obj, spec)


def load_entry_points() -> list[str]:
    """Load every plugin installed under the entry-point group ``spacenas.plugins``; their names."""
    names = []
    for ep in importlib.metadata.entry_points(group=GROUP):
        spec = f"{ep.name} = {ep.value}"
        try:
            obj = ep.load()
        except Exception as e:
            raise SpacenasError(f"plugin entry point {spec!r}: loading failed: {type(e).__name__}: {e}") from None
        _apply(obj, spec)
        names.append(ep.name)
    return names


def load_plugins(specs: Iterable[str] = (), entry_points: bool = True) -> None:
    """Entry-point plugins (unless ``entry_points=False``), then each of ``specs``."""
    if entry_points:
        load_entry_points()
    for spec in specs:
        load_plugin(spec)
