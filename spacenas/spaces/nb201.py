"""NAS-Bench-201 cell space: 4 nodes, 6 edges, 5 operations per edge (5^6 = 15625 archs).

Text form (the benchmark's own): ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` where the three
``+``-separated groups are the incoming edges of nodes 1, 2 and 3 and ``~j`` names the
source node.
"""
from __future__ import annotations

from spacenas.errors import SpacenasError
from spacenas.spaces.base import Arch, Decision, SearchSpace

#: operations, in the order used for choice indices everywhere in spacenas
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: edges (target, source) in text-form order
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
N_NODES = 4

_FORMAT_HINT = "expected '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' with op in " + ", ".join(OPS)


class NB201Space(SearchSpace):
    """The NAS-Bench-201 space."""

    name = "nb201"
    ops = OPS
    edges = EDGES

    def __init__(self) -> None:
        self._decisions = tuple(Decision(f"{t}<-{s}", OPS) for t, s in EDGES)

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return self._decisions

    def parse(self, text: str) -> Arch:
        if not isinstance(text, str):
            raise SpacenasError(f"NB201 arch must be a string, got {type(text).__name__}")
        s = text.strip()
        groups = s.split("+")
        if len(groups) != N_NODES - 1:
            raise SpacenasError(f"bad NB201 arch {text!r}: {len(groups)} node groups, {_FORMAT_HINT}")
        choices = []
        for node, g in enumerate(groups, start=1):
            if not (g.startswith("|") and g.endswith("|")):
                raise SpacenasError(f"bad NB201 arch {text!r}: group {g!r} must start and end with '|', {_FORMAT_HINT}")
            items = g[1:-1].split("|")
            if len(items) != node:
                raise SpacenasError(
                    f"bad NB201 arch {text!r}: node {node} needs {node} incoming edges, got {len(items)}; {_FORMAT_HINT}")
            for src, item in enumerate(items):
                op, sep, j = item.partition("~")
                if not sep or j != str(src):
                    raise SpacenasError(
                        f"bad NB201 arch {text!r}: edge {item!r} of node {node} must read 'op~{src}'; {_FORMAT_HINT}")
                if op not in OPS:
                    raise SpacenasError(f"bad NB201 arch {text!r}: unknown op {op!r} (allowed: {', '.join(OPS)})")
                choices.append(OPS.index(op))
        return Arch(self.name, tuple(choices))

    def format(self, arch: Arch) -> str:
        self.check(arch)
        parts, k = [], 0
        for node in range(1, N_NODES):
            items = []
            for src in range(node):
                items.append(f"{OPS[arch.choices[k]]}~{src}")
                k += 1
            parts.append("|" + "|".join(items) + "|")
        return "+".join(parts)
