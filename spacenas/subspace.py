"""Subspaces: a boolean mask over decisions x choices, optionally cut to a Hamming ball.

* DDSAS's sampled subspace Z (e x m) and DrNAS's pruned op sets are plain masks.
* DSM-NAS's Omega_alpha (archs within distance M of a center, Eq. 4) is ``Subspace.ball``.
* AutoSpace's layer-wise populations (top-K cells per layer) are masks over layer decisions.

Sizes and uniform sampling inside a ball are exact: the number of archs that differ from the
center in exactly d decisions is the coefficient of x^d in prod_i (a_i + b_i x), where a_i is 1
if the center's choice is allowed at decision i and b_i counts the other allowed choices.
Spaces with extra constraints (``SearchSpace.is_valid``) are handled by rejection sampling.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spacenas.errors import SpacenasError
from spacenas.spaces.base import Arch, SearchSpace


@dataclass(eq=False)
class Subspace:
    """A subset of a space: allowed choices per decision, optionally within ``radius`` of ``center``."""

    space: SearchSpace
    mask: np.ndarray  # bool [n_decisions, max_choices]
    center: Arch | None = None
    radius: int | None = None
    _counts: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        m = np.array(self.mask, dtype=bool, copy=True)  # never write into the caller's array
        shape = (self.space.n_decisions, self.space.max_choices)
        if m.shape != shape:
            raise SpacenasError(f"subspace mask has shape {m.shape}, space {self.space.name!r} needs {shape}")
        # choices beyond a decision's range are never allowed
        for i, n in enumerate(self.space.n_choices):
            m[i, n:] = False
        if not m.any(axis=1).all():
            empty = [self.space.decisions[i].name for i in np.flatnonzero(~m.any(axis=1))]
            raise SpacenasError(f"subspace leaves no choice for decision(s) {', '.join(empty)}")
        self.mask = m
        if (self.center is None) != (self.radius is None):
            raise SpacenasError("a ball subspace needs both center and radius")
        if self.radius is not None and self.radius < 0:
            raise SpacenasError(f"ball radius must be >= 0, got {self.radius}")

    # ----- constructors ---------------------------------------------------------------
    @classmethod
    def full(cls, space: SearchSpace) -> Subspace:
        return cls(space, np.ones((space.n_decisions, space.max_choices), dtype=bool))

    @classmethod
    def ball(cls, space: SearchSpace, center: Arch, radius: int) -> Subspace:
        """All archs within ``radius`` decisions of ``center`` (DSM-NAS's Omega_alpha)."""
        space.check(center)
        return cls(space, np.ones((space.n_decisions, space.max_choices), dtype=bool), center, int(radius))

    # ----- set operations ---------------------------------------------------------------
    def shrink(self, remove: np.ndarray) -> Subspace:
        """Drop the choices marked True in ``remove`` (each decision keeps at least one)."""
        return Subspace(self.space, self.mask & ~np.asarray(remove, dtype=bool), self.center, self.radius)

    def expand(self, add: np.ndarray) -> Subspace:
        """Allow the choices marked True in ``add``."""
        return Subspace(self.space, self.mask | np.asarray(add, dtype=bool), self.center, self.radius)

    def contains(self, arch: Arch) -> bool:
        if arch.space != self.space.name or len(arch.choices) != self.space.n_decisions:
            return False
        if not all(self.mask[i, c] for i, c in enumerate(arch.choices)):
            return False
        if self.center is not None and self.space.distance(arch, self.center) > self.radius:
            return False
        return self.space.is_valid(arch)

    __contains__ = contains

    # ----- counting and sampling ----------------------------------------------------------
    def _distance_counts(self) -> np.ndarray:
        """counts[d] = number of mask-allowed archs at exactly distance d from the center."""
        if self._counts is None:
            poly = np.array([1], dtype=object)
            for i in range(self.space.n_decisions):
                a = int(self.mask[i, self.center.choices[i]])
                b = int(self.mask[i].sum()) - a
                poly = np.convolve(poly, np.array([a, b], dtype=object))
            self._counts = poly
        return self._counts

    @property
    def size(self) -> int:
        """Number of archs in the subspace (ignoring constraints of ``is_valid``)."""
        if self.center is None:
            return int(np.prod([int(r.sum()) for r in self.mask], dtype=object))
        return int(sum(self._distance_counts()[: self.radius + 1]))

    def sample(self, rng: np.random.Generator, max_tries: int = 10_000) -> Arch:
        """A uniformly random arch of the subspace."""
        for _ in range(max_tries):
            arch = self._sample_unconstrained(rng)
            if self.space.is_valid(arch):
                return arch
        raise SpacenasError("could not sample a valid architecture from this subspace")

    def _sample_unconstrained(self, rng: np.random.Generator) -> Arch:
        allowed = [np.flatnonzero(r) for r in self.mask]
        if self.center is None:
            return Arch(self.space.name, tuple(int(rng.choice(a)) for a in allowed))
        counts = self._distance_counts()[: self.radius + 1]
        d = int(rng.choice(len(counts), p=np.array(counts, dtype=float) / float(sum(counts))))
        # choose which decisions change, uniformly among mask-consistent ways to change exactly d
        n = self.space.n_decisions
        a = [int(self.mask[i, self.center.choices[i]]) for i in range(n)]
        b = [len(allowed[i]) - a[i] for i in range(n)]
        # suffix[i][k] = ways to have exactly k changes among decisions i..n-1
        suffix = [[0] * (d + 1) for _ in range(n + 1)]
        suffix[n][0] = 1
        for i in range(n - 1, -1, -1):
            for k in range(d + 1):
                suffix[i][k] = a[i] * suffix[i + 1][k] + (b[i] * suffix[i + 1][k - 1] if k else 0)
        choices, k = [], d
        for i in range(n):
            keep = a[i] * suffix[i + 1][k]
            change = b[i] * suffix[i + 1][k - 1] if k else 0
            if rng.random() * (keep + change) < change:
                others = [c for c in allowed[i] if c != self.center.choices[i]]
                choices.append(int(rng.choice(others)))
                k -= 1
            else:
                choices.append(self.center.choices[i])
        return Arch(self.space.name, tuple(choices))
