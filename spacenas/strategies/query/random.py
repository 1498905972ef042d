"""Random search: uniform samples from the space, never repeating an arch while unseen ones remain."""
from __future__ import annotations

from typing import Any

from spacenas.config import StrictModel
from spacenas.spaces.base import Arch
from spacenas.strategies.base import QueryStrategy


class RandomSearchConfig(StrictModel):
    """Random search has no options."""


class RandomSearch(QueryStrategy):
    """Uniform random sampling (re-draws an arch already proposed, up to 100 times)."""

    Config = RandomSearchConfig

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._proposed: set[tuple[int, ...]] = set()

    def ask(self) -> Arch:
        for _ in range(100):
            arch = self.space.sample(self.rng)
            if arch.choices not in self._proposed:
                break
        self._proposed.add(arch.choices)
        return arch

    def extra_state(self) -> dict[str, Any]:
        return {"proposed": sorted(list(c) for c in self._proposed)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self._proposed = {tuple(int(x) for x in c) for c in state["proposed"]}
