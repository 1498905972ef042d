"""``spacenas list spaces|methods|datasets|devices``: one line per name, from the registry."""
from __future__ import annotations

import argparse

from spacenas import registry


def spaces() -> list[tuple[str, str]]:
    return [(n, registry.SPACE_DESCRIPTIONS.get(n, "")) for n in registry.SPACES]


def methods() -> list[tuple[str, str]]:
    search = [*registry.QUERY_STRATEGIES, *registry.ONESHOT_STRATEGIES]
    return [(n, registry.METHOD_DESCRIPTIONS.get(n, "")) for n in search] + \
        [(n, registry.AUTOSPACE_METHOD_DESCRIPTIONS.get(n, "")) for n in registry.AUTOSPACE_METHODS]


def datasets() -> list[tuple[str, str]]:
    return list(registry.DATASET_DESCRIPTIONS.items())


def devices() -> list[tuple[str, str]]:
    import torch

    have = {"cpu": True, "cuda": torch.cuda.is_available(),
            "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    return [(n, f"{d} [{'available' if have.get(n) else 'not available here'}]")
            for n, d in registry.DEVICE_DESCRIPTIONS.items()]


#: what ``spacenas list`` lists -> its rows ``(name, one-line description)``
LISTS = {"spaces": spaces, "methods": methods, "datasets": datasets, "devices": devices}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=list(LISTS), help="what to list")


def run(args: argparse.Namespace) -> int:
    table = LISTS[args.what]()
    width = max(len(n) for n, _ in table)
    for name, desc in table:
        print(f"{name:<{width}}  {desc}".rstrip())
    return 0
