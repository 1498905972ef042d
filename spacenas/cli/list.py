"""``spacenas list spaces|methods|datasets|devices|presets``: one line per name, from the registry
(presets: from the shipped preset files)."""
from __future__ import annotations

import argparse

from spacenas import registry


def spaces() -> list[tuple[str, str]]:
    return [(n, registry.SPACE_DESCRIPTIONS.get(n, "")) for n in registry.SPACES]


def methods() -> list[tuple[str, str]]:
    search = [*registry.QUERY_STRATEGIES, *registry.ONESHOT_STRATEGIES]
    # the AutoSpace search methods run under ``spacenas autospace-search --method``: a name may be
    # both (``random``), so those rows start by saying where they belong
    return [(n, registry.METHOD_DESCRIPTIONS.get(n, "")) for n in search] + \
        [(n, f"[spacenas autospace-search --method {n}] {registry.AUTOSPACE_METHOD_DESCRIPTIONS.get(n, '')}")
         for n in registry.AUTOSPACE_METHODS]


def datasets() -> list[tuple[str, str]]:
    return list(registry.DATASET_DESCRIPTIONS.items())


def devices() -> list[tuple[str, str]]:
    import torch

    have = {"cpu": True, "cuda": torch.cuda.is_available(),
            "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    return [(n, f"{d} [{'available' if have.get(n) else 'not available here'}]")
            for n, d in registry.DEVICE_DESCRIPTIONS.items()]


def presets() -> list[tuple[str, str]]:
    from spacenas import presets as p

    rows = []
    for name in p.list_presets():
        preset = p.load_preset(name)
        rows.append((name, f"{preset['title']} [spacenas {p.COMMANDS[preset['kind']]} --preset {name}]"))
    return rows


#: what ``spacenas list`` lists -> its rows ``(name, one-line description)``
LISTS = {"spaces": spaces, "methods": methods, "datasets": datasets, "devices": devices, "presets": presets}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=list(LISTS), help="what to list")


def run(args: argparse.Namespace) -> int:
    table = LISTS[args.what]()
    width = max(len(n) for n, _ in table)
    for name, desc in table:
        print(f"{name:<{width}}  {desc}".rstrip())
    return 0
