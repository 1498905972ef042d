"""MobileNet-like space of DSM-NAS (Sec. IV-C; the OFA / MobileNetV3 space).

5 units x up to 4 layers. Every present layer is an MBConv (inverted residual) block with a
kernel size R in {3, 5, 7} and an expansion ratio E in {3, 4, 6}; every unit has a depth in
{2, 3, 4}, so only the *trailing* layers of a unit (its 3rd and 4th) may be absent.

Text form (the paper's length-20 string, one character per layer, unit after unit)::

    '0'  absent layer
    '1' E=3 R=3   '2' E=3 R=5   '3' E=3 R=7
    '4' E=4 R=3   '5' E=4 R=5   '6' E=4 R=7
    '7' E=6 R=3   '8' E=6 R=5   '9' E=6 R=7

i.e. ``token = 1 + 3 * index(E) + index(R)`` (expansion-major). The paper writes '2' = "E=3 and
R=4", a typo for R=5 (R=4 is not a candidate); the rest of the order is our reading of "and so
on". ``parse`` also accepts ``_`` as a visual separator (``'7799_1234_...'``); ``format``
writes the plain 20 digits.

Decisions: one per layer (20). Layers 1-2 of a unit are always present and have the 9 choices
'1'..'9'; layers 3-4 have the 10 choices '0'..'9'. Within a decision, choice index equality is
token equality, so :meth:`SearchSpace.distance` (number of differing decisions) is exactly the
paper's Eq. 4 on the 20-character strings, with '0' as the placeholder of absent layers: it
works across depths (a unit of depth 2 vs the same unit at depth 4 differs in 2 positions).
:meth:`is_valid` rejects a present 4th layer after an absent 3rd one.
"""
from __future__ import annotations

import numpy as np

from spacenas.errors import SpacenasError
from spacenas.spaces.base import Arch, Decision, SearchSpace

KERNELS: tuple[int, ...] = (3, 5, 7)
EXPANSIONS: tuple[int, ...] = (3, 4, 6)
DEPTHS: tuple[int, ...] = (2, 3, 4)
N_UNITS = 5
MAX_DEPTH = 4
MIN_DEPTH = 2
LENGTH = N_UNITS * MAX_DEPTH  # 20

#: one MBConv setting per token '1'..'9', as (expansion, kernel)
BLOCKS: tuple[tuple[int, int], ...] = tuple((e, k) for e in EXPANSIONS for k in KERNELS)
_BLOCK_NAMES: tuple[str, ...] = tuple(f"e{e}k{k}" for e, k in BLOCKS)
_HINT = (f"expected {LENGTH} digits (5 units x 4 layers): '0' = absent layer, '1'..'9' = MBConv "
         "(E,R) = (3,3),(3,5),(3,7),(4,3),(4,5),(4,7),(6,3),(6,5),(6,7); each unit needs depth 2-4")

Layers = tuple[tuple[tuple[int, int], ...], ...]  # per unit: ((kernel, expansion), ...) of present layers


def token_of(kernel: int, expansion: int) -> str:
    """The text token of an MBConv layer: ``1 + 3 * index(E) + index(R)``."""
    if kernel not in KERNELS:
        raise SpacenasError(f"kernel size {kernel} not allowed (allowed: {', '.join(map(str, KERNELS))})")
    if expansion not in EXPANSIONS:
        raise SpacenasError(f"expansion ratio {expansion} not allowed (allowed: {', '.join(map(str, EXPANSIONS))})")
    return str(1 + 3 * EXPANSIONS.index(expansion) + KERNELS.index(kernel))


def block_of(token: str) -> tuple[int, int] | None:
    """``(kernel, expansion)`` of a token, or ``None`` for the absent layer '0'."""
    if token == "0":
        return None
    e, k = BLOCKS[int(token) - 1]
    return k, e


class MobileNetSpace(SearchSpace):
    """DSM-NAS / OFA MobileNet-like space: 20 layer decisions, depth 2-4 per unit."""

    name = "mobilenet"
    n_units = N_UNITS
    max_depth = MAX_DEPTH

    def __init__(self) -> None:
        decs = []
        for u in range(N_UNITS):
            for l in range(MAX_DEPTH):
                opts = _BLOCK_NAMES if l < MIN_DEPTH else ("none", *_BLOCK_NAMES)
                decs.append(Decision(f"unit{u + 1}.layer{l + 1}", opts))
        self._decisions = tuple(decs)

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return self._decisions

    # ----- tokens <-> choice indices ---------------------------------------------------------
    @staticmethod
    def _optional(i: int) -> bool:
        return i % MAX_DEPTH >= MIN_DEPTH

    def _token(self, i: int, choice: int) -> str:
        return str(choice if self._optional(i) else choice + 1)

    def _choice(self, i: int, token: str) -> int:
        return int(token) if self._optional(i) else int(token) - 1

    def tokens(self, arch: Arch) -> str:
        """The 20-character string (no validity check; see :meth:`format`)."""
        return "".join(self._token(i, c) for i, c in enumerate(arch.choices))

    # ----- text form ------------------------------------------------------------------------
    def parse(self, text: str) -> Arch:
        if not isinstance(text, str):
            raise SpacenasError(f"MobileNet arch must be a string, got {type(text).__name__}")
        s = text.strip().replace("_", "")
        if len(s) != LENGTH:
            raise SpacenasError(f"bad MobileNet arch {text!r}: {len(s)} layer tokens; {_HINT}")
        for pos, ch in enumerate(s):
            if ch not in "0123456789":
                raise SpacenasError(f"bad MobileNet arch {text!r}: token {ch!r} at position {pos + 1}; {_HINT}")
        for u in range(N_UNITS):
            unit = s[u * MAX_DEPTH:(u + 1) * MAX_DEPTH]
            problem = _unit_problem(unit)
            if problem:
                raise SpacenasError(f"bad MobileNet arch {text!r}: unit {u + 1} {unit!r} {problem}; {_HINT}")
        return Arch(self.name, tuple(self._choice(i, ch) for i, ch in enumerate(s)))

    def format(self, arch: Arch) -> str:
        return self.tokens(self.check(arch))

    def is_valid(self, arch: Arch) -> bool:
        s = self.tokens(arch)
        return all(not _unit_problem(s[u * MAX_DEPTH:(u + 1) * MAX_DEPTH]) for u in range(N_UNITS))

    # ----- structure ---------------------------------------------------------------------------
    def layers(self, arch: Arch) -> Layers:
        """Per unit, the ``(kernel, expansion)`` of its present layers, in order."""
        s = self.format(arch)
        return tuple(tuple(block_of(t) for t in s[u * MAX_DEPTH:(u + 1) * MAX_DEPTH] if t != "0")
                     for u in range(N_UNITS))

    def depths(self, arch: Arch) -> tuple[int, ...]:
        return tuple(len(u) for u in self.layers(arch))

    def from_layers(self, layers: Layers) -> Arch:
        """Inverse of :meth:`layers`: build the arch from per-unit ``(kernel, expansion)`` lists."""
        if len(layers) != N_UNITS:
            raise SpacenasError(f"a MobileNet arch has {N_UNITS} units, got {len(layers)}")
        s = ""
        for u, unit in enumerate(layers):
            if len(unit) not in DEPTHS:
                raise SpacenasError(f"unit {u + 1} has depth {len(unit)} (allowed: 2, 3, 4)")
            s += "".join(token_of(k, e) for k, e in unit) + "0" * (MAX_DEPTH - len(unit))
        return self.parse(s)

    @property
    def size(self) -> int:
        """Number of valid archs: (9^2 + 9^3 + 9^4)^5 = 7371^5 (about 2.2e19)."""
        per_unit = sum(len(BLOCKS) ** d for d in DEPTHS)
        return per_unit ** N_UNITS

    def sample(self, rng: np.random.Generator) -> Arch:
        """Uniform over *valid* archs (so a unit has depth 4 with probability 6561/7371).

        Per unit: depth d with probability 9^d / (9^2 + 9^3 + 9^4), then each present layer
        uniform over the 9 blocks. Draws: one ``rng.random()`` per unit, one integer per layer.
        """
        weights = np.array([len(BLOCKS) ** d for d in DEPTHS], dtype=float)
        cdf = np.cumsum(weights / weights.sum())
        choices = []
        for _ in range(N_UNITS):
            d = DEPTHS[int(np.searchsorted(cdf, rng.random(), side="right"))]
            for l in range(MAX_DEPTH):
                if l < d:
                    b = int(rng.integers(len(BLOCKS)))
                    choices.append(b if l < MIN_DEPTH else b + 1)
                else:
                    choices.append(0)
        return Arch(self.name, tuple(choices))


def _unit_problem(unit: str) -> str:
    """Why a unit's 4 tokens are invalid ('' if valid)."""
    if "0" in unit[:MIN_DEPTH]:
        return f"has an absent layer among its first {MIN_DEPTH} (depth must be at least {MIN_DEPTH})"
    if unit[2] == "0" and unit[3] != "0":
        return "has an absent layer 3 before a present layer 4 (only trailing layers may be absent)"
    return ""
