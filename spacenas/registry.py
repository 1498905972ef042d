"""Names -> classes, so the CLI, sweeps and configs stay thin.

Entries are ``"module:attribute"`` strings imported on first use: adding a component is one
line here, and importing spacenas does not import every strategy.
"""
from __future__ import annotations

import importlib
from typing import Any

from spacenas.errors import unknown

SPACES: dict[str, str] = {
    "nb201": "spacenas.spaces.nb201:NB201Space",
    "darts": "spacenas.spaces.darts:DARTSSpace",
    "nb201-act": "spacenas.spaces.factorized:NB201ActSpace",
    "darts-act": "spacenas.spaces.factorized:DARTSActSpace",
    "open-cell": "spacenas.spaces.open_cell:OpenCellSpace",
    "mobilenet": "spacenas.spaces.mobilenet:MobileNetSpace",
}

#: ask/tell strategies (query-based search)
QUERY_STRATEGIES: dict[str, str] = {
    "random": "spacenas.strategies.query.random:RandomSearch",
    "evolution": "spacenas.strategies.query.evolution:RegularizedEvolution",
    "reinforce": "spacenas.strategies.query.reinforce:Reinforce",
    "local": "spacenas.strategies.query.local:LocalSearch",
    "dsm": "spacenas.strategies.query.dsm:DSMNAS",
    "dsm-random": "spacenas.strategies.query.dsm_random:DSMRandomSearch",
    "mo-evolution": "spacenas.strategies.query.mo_evolution:MOEvolution",
}

#: one-shot (gradient) strategies
ONESHOT_STRATEGIES: dict[str, str] = {
    "darts": "spacenas.strategies.oneshot.darts:DARTS",
    "gdas": "spacenas.strategies.oneshot.gdas:GDAS",
    "drnas": "spacenas.strategies.oneshot.drnas:DrNAS",
    "ddsas": "spacenas.strategies.oneshot.ddsas:DDSAS",
    "adarts": "spacenas.strategies.oneshot.adarts:ADARTS",
}


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def get(table: dict[str, str], name: str, kind: str) -> Any:
    """Resolve ``name`` in ``table``; unknown names raise a one-line :class:`SpacenasError`."""
    if name not in table:
        raise unknown(kind, name, sorted(table))
    return _load(table[name])


def space(name: str):
    """Instantiate a search space by name."""
    return get(SPACES, name, "space")()


def query_strategy(name: str):
    return get(QUERY_STRATEGIES, name, "method")


def oneshot_strategy(name: str):
    return get(ONESHOT_STRATEGIES, name, "method")


def methods() -> list[str]:
    return sorted({*QUERY_STRATEGIES, *ONESHOT_STRATEGIES})
