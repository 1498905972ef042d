"""Cells and backbone blocks of the NB201 and DARTS networks.

* :class:`NB201Cell`: 4 nodes, node 0 = input, node ``j = sum_{i<j} edge(i->j)(node i)``,
  output = node 3; edges in :data:`spacenas.spaces.nb201.EDGES` order.
* :class:`ResNetBlock`: the NB201 residual reduction block (the ResNet basic block with
  stride 2): ``ReLUConvBN(3x3, s2) -> ReLUConvBN(3x3)`` plus ``AvgPool2x2 -> Conv1x1``
  shortcut. Its BNs are always affine, as in the benchmark.
* :class:`DARTSCell`: two inputs (previous two cells) preprocessed to ``C`` channels, 4
  intermediate nodes, 14 edges (node ``i`` has inputs ``0..i+1``), output = concat of the last
  ``multiplier`` nodes.

Every edge is a :class:`~spacenas.nn.mixed.MixedOp`; a cell of a discrete network has one
candidate op per edge (``none`` edges then contribute nothing).

Both cells have two forward paths with equal numerics: the **fused** one
(:mod:`spacenas.nn.fused`: edges leaving the same node share ReLU, pooling and one stacked
conv + BN; the default, ``cell.fused = True``) and the **reference** one (every edge on its
own, :meth:`MixedOp.forward`). ``cell.last_path`` tells which one the latest forward used.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spacenas.nn.fused import FUSED, REFERENCE, fusable, run_dag
from spacenas.nn.mixed import MixedOp
from spacenas.nn.ops import FactorizedReduce, ReLUConvBN
from spacenas.spaces.nb201 import EDGES as NB201_EDGES


class ResNetBlock(nn.Module):
    """NB201 residual reduction block ``c_in -> c_out``, stride 2 (affine BN)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1, 1, affine=True)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, 1, affine=True)
        self.down = nn.Sequential(nn.AvgPool2d(2, 2, 0), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(x) + self.conv_b(self.conv_a(x))


class NB201Cell(nn.Module):
    """The NB201 cell on ``C`` channels; ``edge_ops[e]`` are the candidate ops of edge ``e``."""

    def __init__(self, C: int, edge_ops: Sequence[Sequence[str]], *, affine: bool, k: int = 1,
                 act_mixture: bool = False, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            MixedOp(ops, C, 1, affine=affine, pool_bn=False, k=k, act_mixture=act_mixture, generator=generator)
            for ops in edge_ops)
        self.fused, self.last_path, self._index_cache = True, None, {}

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None, active: list | None = None,
                act_weights: torch.Tensor | None = None) -> torch.Tensor:
        why = fusable(self.edges, act_weights) if self.fused else "switched off"
        if why is None:
            self.last_path = FUSED
            return run_dag([x], 3, NB201_EDGES, self.edges, weights, active, self._index_cache)[3]
        self.last_path = REFERENCE if why == "switched off" else f"{REFERENCE} ({why})"
        nodes = [x]
        for j in range(1, 4):
            s = None
            for e, (t, i) in enumerate(NB201_EDGES):
                if t != j:
                    continue
                y = self.edges[e](nodes[i], None if weights is None else weights[e],
                                  None if active is None else active[e],
                                  None if act_weights is None else act_weights[e])
                s = y if s is None else s + y
            nodes.append(s)
        return nodes[3]


def darts_edges(steps: int) -> list[tuple[int, int]]:
    """DARTS edge order: ``(node, input)`` for node ``0..steps-1`` and input ``0..node+1``."""
    return [(i, j) for i in range(steps) for j in range(i + 2)]


class DARTSCell(nn.Module):
    """A DARTS search cell (normal or reduction) with ``steps`` intermediate nodes."""

    def __init__(self, steps: int, multiplier: int, c_pp: int, c_p: int, C: int, reduction: bool,
                 reduction_prev: bool, op_names: Sequence[str], *, affine: bool, k: int = 1,
                 act_mixture: bool = False, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.reduction, self.steps, self.multiplier = reduction, steps, multiplier
        self.pre0 = (FactorizedReduce(c_pp, C, affine=False) if reduction_prev
                     else ReLUConvBN(c_pp, C, 1, 1, 0, 1, affine=False))
        self.pre1 = ReLUConvBN(c_p, C, 1, 1, 0, 1, affine=False)
        self.edges = nn.ModuleList(
            MixedOp(op_names, C, 2 if reduction and j < 2 else 1, affine=affine, pool_bn=True, k=k,
                    act_mixture=act_mixture, generator=generator)
            for _, j in darts_edges(steps))
        #: (target state, source state) of every edge, states numbered from the two inputs
        self.dag = [(2 + i, j) for i, j in darts_edges(steps)]
        self.fused, self.last_path, self._index_cache = True, None, {}

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor | None = None,
                active: list | None = None, act_weights: torch.Tensor | None = None) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        why = fusable(self.edges, act_weights) if self.fused else "switched off"
        if why is None:
            self.last_path = FUSED
            states = run_dag(states, self.steps, self.dag, self.edges, weights, active, self._index_cache)
            return torch.cat(states[-self.multiplier:], dim=1)
        self.last_path = REFERENCE if why == "switched off" else f"{REFERENCE} ({why})"
        for e_start, i in _node_offsets(self.steps):
            s = None
            for j in range(i + 2):
                e = e_start + j
                y = self.edges[e](states[j], None if weights is None else weights[e],
                                  None if active is None else active[e],
                                  None if act_weights is None else act_weights[e])
                s = y if s is None else s + y
            states.append(s)
        return torch.cat(states[-self.multiplier:], dim=1)


def _node_offsets(steps: int) -> list[tuple[int, int]]:
    """``(first edge index, node)`` for each intermediate node."""
    out, off = [], 0
    for i in range(steps):
        out.append((off, i))
        off += i + 2
    return out
