"""The DARTS cell space: a normal and a reduction cell, each with 4 intermediate nodes.

Node ``i`` (0..3, named 2..5 in genotypes) takes two ``(input, op)`` pairs, inputs from its
``i + 2`` predecessors (0 and 1 are the cell inputs), the two inputs distinct, ops from the 7
non-``none`` DARTS ops. Decisions, per cell type and node: ``in0, op0, in1, op1``, stored in
canonical order ``in0 < in1`` (which :meth:`DARTSSpace.is_valid` enforces), 32 decisions in all.

Text form (the DARTS code's ``Genotype``, concat written as a list)::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
             reduce=[...], reduce_concat=[2, 3, 4, 5])

:meth:`parse` also accepts ``range(2, 6)`` for the concat and pairs of a node in any order.
"""
from __future__ import annotations

import ast
import math

import numpy as np

from spacenas.errors import SpacenasError
from spacenas.spaces.base import Arch, Decision, SearchSpace

#: candidate ops of the supernet (mixing-weight order), ``none`` first
SUPERNET_OPS: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                                 "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
#: ops of a genotype (no ``none``), in choice-index order
OPS: tuple[str, ...] = SUPERNET_OPS[1:]
CELL_TYPES: tuple[str, ...] = ("normal", "reduce")
STEPS = 4
CONCAT: tuple[int, ...] = (2, 3, 4, 5)

_HINT = ("expected Genotype(normal=[(op, input), ... 8 pairs], normal_concat=[2, 3, 4, 5], "
         "reduce=[...], reduce_concat=[2, 3, 4, 5])")


class DARTSSpace(SearchSpace):
    """Genotypes of the DARTS space (about 1.1e18 of them)."""

    name = "darts"
    ops = OPS
    #: DrNAS progressive learning here: the paper's (Section 4.1) k 6 -> 3, ops 8 -> 4, and the
    #: authors' code's k 6 -> 4, ops 7 -> 4 (their DARTS code has no ``none`` op)
    progressive_schedules = {
        "paper": {"partial_k": [6, 3], "keep_ops": [8, 4]},
        "code": {"partial_k": [6, 4], "keep_ops": [7, 4], "drop_ops": ["none"]},
    }

    def __init__(self) -> None:
        ds = []
        for cell in CELL_TYPES:
            for i in range(STEPS):
                inputs = tuple(str(j) for j in range(i + 2))
                for slot in (0, 1):
                    ds.append(Decision(f"{cell}.node{i + 2}.in{slot}", inputs))
                    ds.append(Decision(f"{cell}.node{i + 2}.op{slot}", OPS))
        self._decisions = tuple(ds)

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return self._decisions

    # ----- constraints and counting -------------------------------------------------------
    def is_valid(self, arch: Arch) -> bool:
        c = arch.choices
        return all(c[4 * n] < c[4 * n + 2] for n in range(len(CELL_TYPES) * STEPS))

    @property
    def size(self) -> int:
        """Valid genotypes: per cell ``prod_i C(i+2, 2) * 7^2``, squared for two cells."""
        per_cell = math.prod(math.comb(i + 2, 2) * len(OPS) ** 2 for i in range(STEPS))
        return per_cell ** len(CELL_TYPES)

    def sample(self, rng: np.random.Generator) -> Arch:
        """Uniform over valid genotypes: a uniform pair of distinct inputs per node, then ops."""
        out = []
        for _ in CELL_TYPES:
            for i in range(STEPS):
                a, b = sorted(int(v) for v in rng.choice(i + 2, size=2, replace=False))
                out += [a, int(rng.integers(len(OPS))), b, int(rng.integers(len(OPS)))]
        return Arch(self.name, tuple(out))

    # ----- structured view ---------------------------------------------------------------
    def genotype(self, arch: Arch) -> dict[str, list[tuple[str, int]]]:
        """``{"normal": [(op, input) x 8], "reduce": [...]}`` in canonical order."""
        self.check(arch)
        c, out = arch.choices, {}
        for t, cell in enumerate(CELL_TYPES):
            pairs = []
            for i in range(STEPS):
                base = 4 * (t * STEPS + i)
                pairs += [(OPS[c[base + 1]], c[base]), (OPS[c[base + 3]], c[base + 2])]
            out[cell] = pairs
        return out

    def from_pairs(self, cells: dict[str, list[tuple[str, int]]]) -> Arch:
        """Build an arch from ``(op, input)`` pairs (two per node, any order within a node)."""
        choices = []
        for cell in CELL_TYPES:
            pairs = cells.get(cell)
            if not isinstance(pairs, (list, tuple)) or len(pairs) != 2 * STEPS:
                raise SpacenasError(f"bad DARTS genotype: {cell} needs {2 * STEPS} (op, input) pairs; {_HINT}")
            for i in range(STEPS):
                node = []
                for p in pairs[2 * i:2 * i + 2]:
                    if not (isinstance(p, (list, tuple)) and len(p) == 2):
                        raise SpacenasError(f"bad DARTS genotype: {p!r} in {cell} is not an (op, input) pair")
                    op, j = p
                    if op not in OPS:
                        raise SpacenasError(
                            f"bad DARTS genotype: unknown op {op!r} in {cell} (allowed: {', '.join(OPS)})")
                    if not isinstance(j, int) or isinstance(j, bool) or not 0 <= j <= i + 1:
                        raise SpacenasError(
                            f"bad DARTS genotype: node {i + 2} of {cell} has input {j!r}, allowed 0..{i + 1}")
                    node.append((j, OPS.index(op)))
                if node[0][0] == node[1][0]:
                    raise SpacenasError(
                        f"bad DARTS genotype: node {i + 2} of {cell} uses input {node[0][0]} twice; inputs must differ")
                node.sort()
                choices += [node[0][0], node[0][1], node[1][0], node[1][1]]
        return self.make(choices)

    # ----- text form ---------------------------------------------------------------------
    def format(self, arch: Arch) -> str:
        g = self.genotype(arch)
        concat = list(CONCAT)
        return (f"Genotype(normal={g['normal']!r}, normal_concat={concat!r}, "
                f"reduce={g['reduce']!r}, reduce_concat={concat!r})")

    def parse(self, text: str) -> Arch:
        if not isinstance(text, str):
            raise SpacenasError(f"DARTS genotype must be a string, got {type(text).__name__}")
        try:
            tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError:
            raise SpacenasError(f"bad DARTS genotype {text[:60]!r}: not parseable; {_HINT}") from None
        if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"
                and not tree.args):
            raise SpacenasError(f"bad DARTS genotype {text[:60]!r}: {_HINT}")
        fields = {}
        for kw in tree.keywords:
            fields[kw.arg] = _literal(kw.value, kw.arg)
        expected = {"normal", "normal_concat", "reduce", "reduce_concat"}
        if set(fields) != expected:
            raise SpacenasError(f"bad DARTS genotype: fields {sorted(fields)}, expected {sorted(expected)}")
        for cell in CELL_TYPES:
            concat = fields[f"{cell}_concat"]
            if list(concat) != list(CONCAT):
                raise SpacenasError(f"bad DARTS genotype: {cell}_concat is {list(concat)}, must be {list(CONCAT)}")
        return self.from_pairs({c: fields[c] for c in CELL_TYPES})


def _literal(node: ast.expr, field: str | None):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and not node.keywords):
        try:
            return list(range(*[ast.literal_eval(a) for a in node.args]))
        except (ValueError, TypeError):
            pass
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        raise SpacenasError(f"bad DARTS genotype: field {field!r} is not a literal; {_HINT}") from None
