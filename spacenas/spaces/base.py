"""Discrete search spaces and architecture values.

A :class:`SearchSpace` is a list of *decisions*, each with a tuple of *choices*. An
:class:`Arch` is an immutable, hashable value: the name of its space and one choice index
per decision. Spaces know how to sample, mutate, enumerate neighbours, measure distance
(number of differing decisions, DSM-NAS Eq. 4), one-hot encode, and convert to and from the
space's canonical text form.

Spaces whose decisions are constrained (e.g. DARTS: the two inputs of a node must differ)
override :meth:`SearchSpace.is_valid` and, where cheaper, the sampling helpers.
"""
from __future__ import annotations

from typing import ClassVar

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from spacenas.errors import SpacenasError


@dataclass(frozen=True, order=True)
class Arch:
    """One architecture: the space it belongs to and a choice index per decision."""

    space: str
    choices: tuple[int, ...]

    def replace(self, decision: int, choice: int) -> Arch:
        """Return a copy with one decision changed."""
        c = list(self.choices)
        c[decision] = int(choice)
        return Arch(self.space, tuple(c))


@dataclass(frozen=True)
class Decision:
    """One decision of a space: a name (e.g. an edge ``1<-0``) and its allowed choices."""

    name: str
    choices: tuple[str, ...]

    @property
    def n(self) -> int:
        return len(self.choices)


class SearchSpace(ABC):
    """A discrete architecture space: decisions x choices, plus a canonical text form."""

    #: registry name of the space (``nb201``, ``darts``, ...); stored in every :class:`Arch`.
    name: str = "space"
    #: DrNAS progressive-learning schedules for this space's supernet, by name (the first is the
    #: default): options of :class:`~spacenas.strategies.oneshot.progressive.ProgressiveConfig`.
    #: Empty: the config's own defaults (the authors' NB201 setting).
    progressive_schedules: ClassVar[dict[str, dict]] = {}

    @property
    @abstractmethod
    def decisions(self) -> tuple[Decision, ...]:
        """The decisions of the space, in a fixed order."""

    # ----- text form -------------------------------------------------------------------
    @abstractmethod
    def parse(self, text: str) -> Arch:
        """Parse the canonical text form; raise :class:`SpacenasError` on bad text."""

    @abstractmethod
    def format(self, arch: Arch) -> str:
        """The canonical text form of ``arch``."""

    # ----- structure ---------------------------------------------------------------------
    @property
    def n_decisions(self) -> int:
        return len(self.decisions)

    @property
    def n_choices(self) -> tuple[int, ...]:
        return tuple(d.n for d in self.decisions)

    @property
    def max_choices(self) -> int:
        return max(self.n_choices)

    @property
    def size(self) -> int:
        """Number of architectures in the space."""
        return math.prod(self.n_choices)

    def is_valid(self, arch: Arch) -> bool:
        """Whether ``arch`` satisfies the space's constraints (beyond choice ranges)."""
        return True

    def check(self, arch: Arch) -> Arch:
        """Return ``arch`` if it belongs to this space, else raise :class:`SpacenasError`."""
        if arch.space != self.name:
            raise SpacenasError(f"architecture belongs to space {arch.space!r}, not {self.name!r}")
        if len(arch.choices) != self.n_decisions:
            raise SpacenasError(
                f"architecture has {len(arch.choices)} decisions, space {self.name!r} has {self.n_decisions}")
        for i, (c, d) in enumerate(zip(arch.choices, self.decisions)):
            if not 0 <= c < d.n:
                raise SpacenasError(f"decision {i} ({d.name}) has choice {c}, allowed 0..{d.n - 1}")
        if not self.is_valid(arch):
            raise SpacenasError(f"architecture {arch.choices} violates the constraints of space {self.name!r}")
        return arch

    def make(self, choices: Sequence[int]) -> Arch:
        """Build (and check) an arch from choice indices."""
        return self.check(Arch(self.name, tuple(int(c) for c in choices)))

    # ----- sampling and neighbourhoods -----------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        """A uniformly random valid architecture."""
        while True:
            arch = Arch(self.name, tuple(int(rng.integers(n)) for n in self.n_choices))
            if self.is_valid(arch):
                return arch

    def neighbors(self, arch: Arch) -> list[Arch]:
        """All valid architectures at distance 1 (one decision changed), in a fixed order."""
        out = []
        for i, n in enumerate(self.n_choices):
            for c in range(n):
                if c != arch.choices[i]:
                    b = arch.replace(i, c)
                    if self.is_valid(b):
                        out.append(b)
        return out

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change one uniformly chosen decision to a different choice (uniform over valid ones)."""
        nbrs = self.neighbors(arch)
        if not nbrs:
            raise SpacenasError(f"architecture {self.format(arch)} has no neighbours")
        return nbrs[int(rng.integers(len(nbrs)))]

    def distance(self, a: Arch, b: Arch) -> int:
        """Number of decisions on which ``a`` and ``b`` differ (DSM-NAS Eq. 4)."""
        if len(a.choices) != len(b.choices):
            raise SpacenasError("cannot compare architectures with different numbers of decisions")
        return sum(x != y for x, y in zip(a.choices, b.choices))

    def one_hot(self, arch: Arch) -> np.ndarray:
        """One-hot matrix ``[n_decisions, max_choices]`` (float32); padded choices stay 0."""
        m = np.zeros((self.n_decisions, self.max_choices), dtype=np.float32)
        m[np.arange(self.n_decisions), list(arch.choices)] = 1.0
        return m

    def enumerate(self) -> Iterator[Arch]:
        """All valid architectures (only sensible for small spaces)."""
        for combo in np.ndindex(*self.n_choices):
            arch = Arch(self.name, tuple(int(c) for c in combo))
            if self.is_valid(arch):
                yield arch
