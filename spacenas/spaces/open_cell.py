"""AutoSpace's open cell space and layer-wise spaces of cells (AutoSpace Sec. 3.1, 4.3).

**Open cell.** A DAG with an input node, ``n_inner`` inner nodes and an output node. The input
node is a 1x1 convolution that changes the width from ``c_in`` to ``r * c_in`` (ratio
``r`` in {1, 3, 6}); the output node is a 1x1 convolution back to ``c_out``. Between the
inner nodes every edge ``i -> j`` (``i < j``) takes one of :data:`OPEN_OPS`: ``zero``,
``conv1x1``, ``conv3x3``, ``dwconv3x3`` (depthwise), ``identity``. Inner node 0 is the input
node's output, the last inner node feeds the output node; a node aggregates its incoming
non-zero edges by ``add`` or ``mul`` (the paper's "dot product": element-wise product).
With the paper's 6 nodes (4 inner) there are 6 edges and ``5^6 * 3 * 2 = 93750`` cells
(Sec. 4.3).

Decisions, in order: the edges ``j<-i`` (grouped by target node, as in NB201), ``ratio``,
``aggregation``. Text form::

    r6:add:|dwconv3x3~0|+|zero~0|identity~1|+|zero~0|zero~1|identity~2|

(``+``-separated groups are the incoming edges of inner nodes 1, 2, 3; ``~i`` names the
source). :func:`hamming_distance` is Eq. 2 over the ``[n_inner, n_inner]`` op matrices.

**Layer-wise space.** :class:`LayerwiseSpace`: one decision per layer of a network, its choices
are block texts (open cells, ``irb_k{k}_e{e}`` inverted residual blocks, ``zero``). It is the
output of AutoSpace (top-K cells per layer) and the manual IRB baseline; saved and loaded as
JSON (:meth:`LayerwiseSpace.save`, :func:`load_layerwise`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from spacenas.errors import SpacenasError
from spacenas.spaces.base import Arch, Decision, SearchSpace

OPEN_OPS: tuple[str, ...] = ("zero", "conv1x1", "conv3x3", "dwconv3x3", "identity")
RATIOS: tuple[int, ...] = (1, 3, 6)
AGGREGATIONS: tuple[str, ...] = ("add", "mul")
#: the inverted residual block as an open cell (expand 6, dwconv3x3, project); default reference DAG
IRB_REFERENCE = "r6:add:|dwconv3x3~0|+|zero~0|identity~1|+|zero~0|zero~1|identity~2|"
LAYERWISE_FORMAT = "spacenas.layerwise/1"


def hamming_distance(g: np.ndarray, g_ref: np.ndarray) -> float:
    """AutoSpace Eq. 2: ``sum_ij [G_ij != G_ref_ij] / (V (V - 1))`` for ``V x V`` matrices.

    For 0/1 adjacency matrices ``[a != b] == |a - b|``, the paper's literal formula; for op
    matrices (entries = op indices) we count differing entries (a Hamming distance), since
    ``|a - b|`` of op indices would depend on the arbitrary op order.
    """
    g, g_ref = np.asarray(g), np.asarray(g_ref)
    if g.shape != g_ref.shape or g.ndim != 2 or g.shape[0] != g.shape[1] or g.shape[0] < 2:
        raise SpacenasError(f"Hamming distance needs two equal square matrices (V >= 2), got {g.shape} and {g_ref.shape}")
    v = g.shape[0]
    return float(np.count_nonzero(g != g_ref)) / (v * (v - 1))


class OpenCellSpace(SearchSpace):
    """The open cell space with ``n_inner`` inner nodes (default 4: the paper's 6-node DAG)."""

    name = "open-cell"

    def __init__(self, n_inner: int = 4) -> None:
        if n_inner < 2:
            raise SpacenasError(f"an open cell needs n_inner >= 2 inner nodes, got {n_inner}")
        self.n_inner = n_inner
        self.edges: tuple[tuple[int, int], ...] = tuple((j, i) for j in range(1, n_inner) for i in range(j))
        self._decisions = (*(Decision(f"{j}<-{i}", OPEN_OPS) for j, i in self.edges),
                           Decision("ratio", tuple(str(r) for r in RATIOS)),
                           Decision("aggregation", AGGREGATIONS))

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return self._decisions

    # ----- views of a cell -------------------------------------------------------------
    def edge_ops(self, arch: Arch) -> dict[tuple[int, int], str]:
        """``{(target, source): op name}`` for all edges (zero edges included)."""
        return {e: OPEN_OPS[c] for e, c in zip(self.edges, arch.choices)}

    def ratio(self, arch: Arch) -> int:
        return RATIOS[arch.choices[len(self.edges)]]

    def aggregation(self, arch: Arch) -> str:
        return AGGREGATIONS[arch.choices[len(self.edges) + 1]]

    def op_matrix(self, arch: Arch) -> np.ndarray:
        """``M[i, j]`` = op index of edge ``i -> j`` (0 = zero; lower triangle 0)."""
        m = np.zeros((self.n_inner, self.n_inner), dtype=np.int64)
        for (j, i), c in zip(self.edges, arch.choices):
            m[i, j] = c
        return m

    def adjacency(self, arch: Arch) -> np.ndarray:
        """0/1 adjacency matrix of the non-zero edges."""
        return (self.op_matrix(arch) != 0).astype(np.int64)

    def live_edges(self, arch: Arch) -> list[tuple[int, int]]:
        """Non-zero edges ``(target, source)`` on a path from inner node 0 to the last inner node.

        Only these are built and computed (and counted in MAdds); an empty list means the cell
        outputs zero (a skipped layer where a residual exists)."""
        ops = self.edge_ops(arch)
        fwd = {0}
        for j in range(1, self.n_inner):
            if any(ops[(j, i)] != "zero" and i in fwd for i in range(j)):
                fwd.add(j)
        bwd = {self.n_inner - 1}
        for i in range(self.n_inner - 2, -1, -1):
            if any(ops[(j, i)] != "zero" and j in bwd for j in range(i + 1, self.n_inner)):
                bwd.add(i)
        return [(j, i) for (j, i), op in ops.items() if op != "zero" and i in fwd and j in bwd]

    def distance_to(self, arch: Arch, ref: Arch) -> float:
        """Eq. 2 between the op matrices of two cells."""
        return hamming_distance(self.op_matrix(arch), self.op_matrix(ref))

    # ----- text form -------------------------------------------------------------------
    def _hint(self) -> str:
        groups = "+".join("|" + "|".join(f"op~{i}" for i in range(j)) + "|" for j in range(1, self.n_inner))
        return (f"expected 'r<ratio>:<aggregation>:{groups}' with ratio in {', '.join(map(str, RATIOS))}, "
                f"aggregation in {', '.join(AGGREGATIONS)}, op in {', '.join(OPEN_OPS)}")

    def parse(self, text: str) -> Arch:
        if not isinstance(text, str):
            raise SpacenasError(f"open cell must be a string, got {type(text).__name__}")
        parts = text.strip().split(":")
        if len(parts) != 3:
            raise SpacenasError(f"bad open cell {text!r}: {self._hint()}")
        r, agg, dag = parts
        if not r.startswith("r") or r[1:] not in {str(x) for x in RATIOS}:
            raise SpacenasError(f"bad open cell {text!r}: ratio {r!r} must be one of "
                                f"{', '.join('r' + str(x) for x in RATIOS)}")
        if agg not in AGGREGATIONS:
            raise SpacenasError(f"bad open cell {text!r}: aggregation {agg!r} (allowed: {', '.join(AGGREGATIONS)})")
        groups = dag.split("+")
        if len(groups) != self.n_inner - 1:
            raise SpacenasError(f"bad open cell {text!r}: {len(groups)} node groups, need {self.n_inner - 1}; "
                                f"{self._hint()}")
        choices = []
        for j, g in enumerate(groups, start=1):
            if not (len(g) >= 2 and g.startswith("|") and g.endswith("|")):
                raise SpacenasError(f"bad open cell {text!r}: group {g!r} must start and end with '|'")
            items = g[1:-1].split("|")
            if len(items) != j:
                raise SpacenasError(f"bad open cell {text!r}: node {j} needs {j} incoming edges, got {len(items)}")
            for i, item in enumerate(items):
                op, sep, src = item.partition("~")
                if not sep or src != str(i):
                    raise SpacenasError(f"bad open cell {text!r}: edge {item!r} of node {j} must read 'op~{i}'")
                if op not in OPEN_OPS:
                    raise SpacenasError(f"bad open cell {text!r}: unknown op {op!r} (allowed: {', '.join(OPEN_OPS)})")
                choices.append(OPEN_OPS.index(op))
        choices += [RATIOS.index(int(r[1:])), AGGREGATIONS.index(agg)]
        return Arch(self.name, tuple(choices))

    def format(self, arch: Arch) -> str:
        self.check(arch)
        ops = self.edge_ops(arch)
        groups = "+".join("|" + "|".join(f"{ops[(j, i)]}~{i}" for i in range(j)) + "|"
                          for j in range(1, self.n_inner))
        return f"r{self.ratio(arch)}:{self.aggregation(arch)}:{groups}"


class LayerwiseSpace(SearchSpace):
    """A network's layer-wise space: decision ``l`` = layer ``l``, choices = block texts.

    Arch text form: the chosen block of each layer, joined by ``' ; '``. Space text form
    (:meth:`describe`): one line per layer, ``layer l: block, block, ...``.
    """

    def __init__(self, layers: list[list[str]] | tuple[tuple[str, ...], ...], name: str = "layerwise",
                 meta: dict[str, Any] | None = None) -> None:
        if not layers:
            raise SpacenasError("a layer-wise space needs at least one layer")
        for l, ch in enumerate(layers):
            if not ch:
                raise SpacenasError(f"layer {l} of the layer-wise space has no choices")
            if len(set(ch)) != len(ch):
                raise SpacenasError(f"layer {l} of the layer-wise space lists a block twice")
            for c in ch:
                if ";" in c or "," in c:
                    raise SpacenasError(f"block text {c!r} may not contain ';' or ','")
        self.name = name
        self.layers = tuple(tuple(ch) for ch in layers)
        self.meta = dict(meta or {})
        self._decisions = tuple(Decision(f"layer{l}", ch) for l, ch in enumerate(self.layers))

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return self._decisions

    def blocks(self, arch: Arch) -> list[str]:
        self.check(arch)
        return [self.layers[l][c] for l, c in enumerate(arch.choices)]

    def parse(self, text: str) -> Arch:
        if not isinstance(text, str):
            raise SpacenasError(f"layer-wise arch must be a string, got {type(text).__name__}")
        items = [s.strip() for s in text.split(";")]
        if len(items) != len(self.layers):
            raise SpacenasError(f"bad layer-wise arch: {len(items)} blocks, space {self.name!r} has "
                                f"{len(self.layers)} layers (blocks are separated by ' ; ')")
        choices = []
        for l, item in enumerate(items):
            if item not in self.layers[l]:
                raise SpacenasError(f"bad layer-wise arch: block {item!r} is not a choice of layer {l} "
                                    f"(allowed: {', '.join(self.layers[l])})")
            choices.append(self.layers[l].index(item))
        return Arch(self.name, tuple(choices))

    def format(self, arch: Arch) -> str:
        return " ; ".join(self.blocks(arch))

    def describe(self) -> str:
        """The space's text form: one line ``layer l: a, b, c`` per layer."""
        return "\n".join(f"layer {l}: {', '.join(ch)}" for l, ch in enumerate(self.layers))

    @classmethod
    def from_description(cls, text: str, name: str = "layerwise") -> LayerwiseSpace:
        """Inverse of :meth:`describe`."""
        layers = []
        for n, line in enumerate(s for s in text.strip().splitlines() if s.strip()):
            head, sep, rest = line.partition(":")
            if not sep or head.strip() != f"layer {n}":
                raise SpacenasError(f"bad layer-wise space line {line!r}: expected 'layer {n}: block, block, ...'")
            layers.append([c.strip() for c in rest.split(",") if c.strip()])
        return cls(layers, name)

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> None:
        """Write the space as JSON (``format``, ``name``, ``layers``, ``meta`` and ``extra``)."""
        doc = {"format": LAYERWISE_FORMAT, "name": self.name, "layers": [list(c) for c in self.layers],
               "meta": self.meta, **(extra or {})}
        Path(path).write_text(json.dumps(doc, indent=1))


def load_layerwise(path: str | Path) -> LayerwiseSpace:
    """Load a space written by :meth:`LayerwiseSpace.save`; clear errors on a bad file."""
    p = Path(path)
    if not p.is_file():
        raise SpacenasError(f"layer-wise space file {str(p)!r} does not exist")
    try:
        doc = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise SpacenasError(f"layer-wise space file {str(p)!r} is not JSON: {e.msg}") from None
    if not isinstance(doc, dict) or doc.get("format") != LAYERWISE_FORMAT:
        raise SpacenasError(f"file {str(p)!r} is not a layer-wise space (expected format {LAYERWISE_FORMAT!r})")
    return LayerwiseSpace(doc["layers"], doc.get("name", "layerwise"), doc.get("meta"))


def irb_space(n_layers: int, kernels: tuple[int, ...] = (3, 5, 7), expansions: tuple[int, ...] = (3, 6),
              zero: bool = True, skippable: list[bool] | None = None) -> LayerwiseSpace:
    """The manual baseline (AutoSpace Sec. 4.1): IRB with kernel x expansion, plus ``zero``.

    ``skippable[l] = False`` leaves ``zero`` out of layer ``l`` (as ProxylessNAS does for layers
    that change the shape, where skipping is impossible); default: every layer may be skipped."""
    if skippable is not None and len(skippable) != n_layers:
        raise SpacenasError(f"skippable has {len(skippable)} entries for {n_layers} layers")
    blocks = [f"irb_k{k}_e{e}" for k in kernels for e in expansions]
    layers = [blocks + (["zero"] if zero and (skippable is None or skippable[l]) else [])
              for l in range(n_layers)]
    return LayerwiseSpace(layers, name="irb-manual")
