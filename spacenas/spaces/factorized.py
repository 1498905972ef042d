"""Factorized spaces: a base space whose decisions get extra, independent factors.

A-DARTS (Wang et al., Section 3.2) writes the op set as ``O = O1 x O2``: a working op and an
activation. :class:`FactorizedSpace` does this for any space and any factor: every base
decision the factor applies to gets a second decision ``"<decision>:<factor>"`` with the
factor's choices. ``applies_to`` restricts a factor to some base choices (the activation only
precedes parameterized ops, a kernel size only a convolution); when the base choice of a
decision is not one of them the factor is *not applicable* and its index is canonically 0, so
every architecture has exactly one representation.

Arch choices: the base choices first, then, factor by factor, one index per factored decision.
Text form: the base text form followed by one `` @<factor>=c1,c2,...`` group per factor, one
entry per factored decision and ``-`` where not applicable, e.g.
``|nor_conv_3x3~0|+|skip_connect~0|none~1|+|... @act=selu,-,-,relu,relu,relu``.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from spacenas.errors import SpacenasError
from spacenas.spaces.base import Arch, Decision, SearchSpace
from spacenas.spaces.nb201 import NB201Space

#: the nine activations of A-DARTS (Section 3.3), in the order used for choice indices
ACTIVATIONS: tuple[str, ...] = ("relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "celu", "selu", "swish")


@dataclass(frozen=True)
class Factor:
    """An extra factor: its name, its choices, and the base choices it applies to (None: all)."""

    name: str
    choices: tuple[str, ...]
    applies_to: tuple[str, ...] | None = None

    def applies(self, base_choice: str) -> bool:
        return self.applies_to is None or base_choice in self.applies_to


class FactorizedSpace(SearchSpace):
    """``base`` x ``factors``; see the module docstring for layout and text form."""

    def __init__(self, base: SearchSpace, factors: Sequence[Factor], name: str | None = None,
                 decisions: Sequence[int] | None = None) -> None:
        if not factors:
            raise SpacenasError("a factorized space needs at least one factor")
        names = [f.name for f in factors]
        if len(set(names)) != len(names) or any(not n.isidentifier() for n in names):
            raise SpacenasError(f"factor names must be distinct identifiers, got {names}")
        for f in factors:
            if len(f.choices) < 1 or len(set(f.choices)) != len(f.choices):
                raise SpacenasError(f"factor {f.name!r} needs distinct choices, got {f.choices}")
        self.base = base
        self.factors = tuple(factors)
        self.name = name or base.name + "".join(f"+{f.name}" for f in factors)
        if decisions is None:  # every base decision with at least one applicable choice
            decisions = [i for i, d in enumerate(base.decisions)
                         if any(f.applies(c) for f in factors for c in d.choices)]
        self.factored = tuple(int(i) for i in decisions)
        extra = tuple(Decision(f"{base.decisions[i].name}:{f.name}", f.choices)
                      for f in self.factors for i in self.factored)
        self._decisions = tuple(base.decisions) + extra

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return self._decisions

    # ----- layout helpers ------------------------------------------------------------------
    def _offset(self, f: int) -> int:
        return self.base.n_decisions + f * len(self.factored)

    def factor_index(self, factor: str) -> int:
        for j, f in enumerate(self.factors):
            if f.name == factor:
                return j
        raise SpacenasError(f"unknown factor {factor!r} (allowed: {', '.join(f.name for f in self.factors)})")

    def base_arch(self, arch: Arch) -> Arch:
        """The base-space part of ``arch``."""
        return Arch(self.base.name, arch.choices[: self.base.n_decisions])

    def applicable(self, base_arch: Arch, factor: int) -> list[bool]:
        """Whether factor ``factor`` applies at each factored decision of ``base_arch``."""
        f = self.factors[factor]
        return [f.applies(self.base.decisions[i].choices[base_arch.choices[i]]) for i in self.factored]

    def factor_choices(self, arch: Arch, factor: str) -> tuple[str | None, ...]:
        """Factor choice names per factored decision (``None`` where not applicable)."""
        j = self.factor_index(factor)
        ok = self.applicable(self.base_arch(arch), j)
        vals = arch.choices[self._offset(j): self._offset(j) + len(self.factored)]
        return tuple(self.factors[j].choices[v] if a else None for v, a in zip(vals, ok))

    def compose(self, base_arch: Arch, factor_values: dict[str, Sequence[int]]) -> Arch:
        """Build an arch from a base arch and per-factor indices (one per factored decision;
        not-applicable entries are set to 0). Missing factors default to choice 0."""
        self.base.check(base_arch)
        for k in factor_values:
            self.factor_index(k)
        extra: list[int] = []
        for j, f in enumerate(self.factors):
            vals = list(factor_values.get(f.name, [0] * len(self.factored)))
            if len(vals) != len(self.factored):
                raise SpacenasError(
                    f"factor {f.name!r} needs {len(self.factored)} values, got {len(vals)}")
            ok = self.applicable(base_arch, j)
            extra += [int(v) if a else 0 for v, a in zip(vals, ok)]
        return self.check(Arch(self.name, base_arch.choices + tuple(extra)))

    def canonical(self, arch: Arch) -> Arch:
        """``arch`` with not-applicable factor entries set to 0."""
        base = self.base_arch(arch)
        vals = {f.name: arch.choices[self._offset(j): self._offset(j) + len(self.factored)]
                for j, f in enumerate(self.factors)}
        return self.compose(base, vals)

    def fix_factor(self, arch: Arch, factor: str, choice: str) -> Arch:
        """``arch`` with every applicable entry of ``factor`` set to ``choice`` (e.g. retrain a
        searched cell with one fixed activation, A-DARTS Table 2)."""
        j = self.factor_index(factor)
        if choice not in self.factors[j].choices:
            raise SpacenasError(
                f"unknown {factor} {choice!r} (allowed: {', '.join(self.factors[j].choices)})")
        c = self.factors[j].choices.index(choice)
        vals = {f.name: arch.choices[self._offset(i): self._offset(i) + len(self.factored)]
                for i, f in enumerate(self.factors)}
        vals[factor] = [c] * len(self.factored)
        return self.compose(self.base_arch(arch), vals)

    # ----- SearchSpace ---------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Exact count: a product over decisions when the base space has no extra constraints,
        else by enumerating the base space (small spaces only)."""
        if type(self.base).is_valid is SearchSpace.is_valid:
            total = 1
            for i, d in enumerate(self.base.decisions):
                per = [math.prod(len(f.choices) for f in self.factors if f.applies(c))
                       if i in self.factored else 1 for c in d.choices]
                total *= sum(per)
            return total
        if self.base.size > 1_000_000:
            raise SpacenasError(f"size of factorized space {self.name!r} is too large to enumerate")
        return sum(math.prod(len(f.choices) if a else 1
                             for j, f in enumerate(self.factors) for a in self.applicable(b, j))
                   for b in self.base.enumerate())

    def is_valid(self, arch: Arch) -> bool:
        base = self.base_arch(arch)
        if not self.base.is_valid(base):
            return False
        for j in range(len(self.factors)):
            vals = arch.choices[self._offset(j): self._offset(j) + len(self.factored)]
            if any(v != 0 and not a for v, a in zip(vals, self.applicable(base, j))):
                return False
        return True

    def sample(self, rng: np.random.Generator) -> Arch:
        base = self.base.sample(rng)
        vals = {f.name: [int(rng.integers(len(f.choices))) for _ in self.factored] for f in self.factors}
        return self.compose(base, vals)

    def neighbors(self, arch: Arch) -> list[Arch]:
        """Archs one decision away; a base change that makes a factor inapplicable resets it."""
        out, seen = [], {arch}
        for i, n in enumerate(self.n_choices):
            for c in range(n):
                if c == arch.choices[i]:
                    continue
                b = arch.replace(i, c)
                if not self.base.is_valid(self.base_arch(b)):
                    continue
                b = self.canonical(b)
                if b not in seen:
                    seen.add(b)
                    out.append(b)
        return out

    def enumerate(self) -> Iterator[Arch]:
        """All archs: every valid base arch with every combination of applicable factors."""
        for b in self.base.enumerate():
            ranges = [range(len(f.choices)) if a else range(1)
                      for j, f in enumerate(self.factors) for a in self.applicable(b, j)]
            for combo in itertools.product(*ranges):
                yield Arch(self.name, b.choices + tuple(combo))

    def format(self, arch: Arch) -> str:
        self.check(arch)
        text = self.base.format(self.base_arch(arch))
        for f in self.factors:
            text += f" @{f.name}=" + ",".join(c or "-" for c in self.factor_choices(arch, f.name))
        return text

    def parse(self, text: str) -> Arch:
        if not isinstance(text, str):
            raise SpacenasError(f"{self.name} arch must be a string, got {type(text).__name__}")
        parts = text.strip().split(" @")
        hint = "expected '<base arch>" + "".join(f" @{f.name}=c1,c2,..." for f in self.factors) + "'"
        if len(parts) != len(self.factors) + 1:
            raise SpacenasError(f"bad {self.name} arch {text!r}: {hint}")
        base = self.base.parse(parts[0])
        canonical = self.base.format(base)
        if "".join(canonical.split()) != "".join(parts[0].split()):
            # factor entries follow the canonical decision order; a base written in another order
            # (e.g. DARTS pairs not sorted by input) would silently attach them to the wrong edges
            raise SpacenasError(f"bad {self.name} arch {text!r}: write the base arch in its canonical form "
                                f"{canonical!r} so the factor entries line up with its edges")
        vals: dict[str, list[int]] = {}
        for j, (f, part) in enumerate(zip(self.factors, parts[1:])):
            key, sep, body = part.partition("=")
            if not sep or key != f.name:
                raise SpacenasError(f"bad {self.name} arch {text!r}: group {j + 1} must read '@{f.name}=...'; {hint}")
            items = body.split(",")
            if len(items) != len(self.factored):
                raise SpacenasError(f"bad {self.name} arch {text!r}: {f.name} needs {len(self.factored)} entries, got {len(items)}")
            ok = self.applicable(base, j)
            idx = []
            for it, a in zip(items, ok):
                if not a:
                    if it != "-":
                        raise SpacenasError(f"bad {self.name} arch {text!r}: {f.name} {it!r} given where it does not apply (write '-')")
                    idx.append(0)
                elif it not in f.choices:
                    raise SpacenasError(f"bad {self.name} arch {text!r}: unknown {f.name} {it!r} (allowed: {', '.join(f.choices)})")
                else:
                    idx.append(f.choices.index(it))
            vals[f.name] = idx
        return self.compose(base, vals)


def activation_factor(parameterized: Sequence[str]) -> Factor:
    """The A-DARTS activation factor, applying to the given parameterized ops."""
    return Factor("act", ACTIVATIONS, tuple(parameterized))


class NB201ActSpace(FactorizedSpace):
    """NB201 ops x the 9 A-DARTS activations (on the two convolutions): registry ``nb201-act``."""

    def __init__(self) -> None:
        base = NB201Space()
        super().__init__(base, [activation_factor(("nor_conv_1x1", "nor_conv_3x3"))], name="nb201-act")


class DARTSActSpace(FactorizedSpace):
    """DARTS genotypes x the 9 activations on the sep/dil convolutions: registry ``darts-act``."""

    def __init__(self) -> None:
        from spacenas.spaces.darts import DARTSSpace
        convs = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
        super().__init__(DARTSSpace(), [activation_factor(convs)], name="darts-act")
