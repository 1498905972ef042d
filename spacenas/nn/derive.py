"""Derivation rules: per-edge op scores (+ mask) -> a discrete architecture.

Pure functions over score matrices; ties go to the lower index (op order, then input order).
Masked-out ops get score ``-inf`` and are never chosen; a rule that cannot be satisfied
(every op of an NB201 edge masked; fewer than two inputs of a DARTS node with an active
non-``none`` op) raises :class:`SpacenasError`.
"""
from __future__ import annotations

import numpy as np
import torch

from spacenas.errors import SpacenasError
from spacenas.spaces.base import Arch
from spacenas.spaces.darts import CELL_TYPES, STEPS, DARTSSpace
from spacenas.spaces.nb201 import NB201Space


def masked_scores(scores: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray | None) -> np.ndarray:
    """Scores as float64 numpy with masked-out entries set to ``-inf``."""
    s = (scores.detach().cpu().double().numpy() if isinstance(scores, torch.Tensor)
         else np.array(scores, dtype=np.float64))
    if mask is not None:
        m = (mask.detach().cpu().bool().numpy() if isinstance(mask, torch.Tensor)
             else np.array(mask, dtype=bool))
        if m.shape != s.shape:
            raise SpacenasError(f"mask shape {m.shape} does not match scores shape {s.shape}")
        s = np.where(m, s, -np.inf)
    return s


def argmax_per_edge(scores: np.ndarray) -> list[int]:
    """NB201 rule: the best op of every edge (first on ties); an all-masked edge is an error."""
    out = []
    for e, row in enumerate(scores):
        if not np.isfinite(row).any():
            raise SpacenasError(f"edge {e} has every op masked out; cannot derive an op for it")
        out.append(int(np.argmax(row)))
    return out


def derive_nb201(scores, mask=None, space: NB201Space | None = None) -> Arch:
    """Argmax per edge of ``scores [6, 5]`` (ops in :data:`spacenas.spaces.nb201.OPS` order)."""
    space = space or NB201Space()
    return space.make(argmax_per_edge(masked_scores(scores, mask)))


def top2_node(scores: np.ndarray, none_index: int) -> list[tuple[int, int]]:
    """DARTS rule for one node: ``scores [n_inputs, n_ops]``. Each input's strength is its best
    non-``none`` op score; keep the two strongest inputs and, for each, that op.
    Returns ``[(input, op index in the supernet op order)]`` sorted by input."""
    s = scores.copy()
    s[:, none_index] = -np.inf
    best_op = s.argmax(axis=1)
    strength = s.max(axis=1)
    order = sorted(range(len(s)), key=lambda j: (-strength[j], j))[:2]
    if len(order) < 2 or not np.isfinite(strength[order]).all():
        raise SpacenasError("a DARTS node needs two inputs with an active non-none op; the mask leaves fewer")
    return sorted((j, int(best_op[j])) for j in order)


def derive_darts(scores: dict, masks: dict | None, op_names: tuple[str, ...],
                 space: DARTSSpace | None = None) -> Arch:
    """DARTS rule on ``scores[cell] [14, 8]`` for both cell types -> a DARTS genotype."""
    space = space or DARTSSpace()
    none_index = op_names.index("none")
    cells = {}
    for cell in CELL_TYPES:
        s = masked_scores(scores[cell], None if masks is None else masks[cell])
        pairs, off = [], 0
        for i in range(STEPS):
            for j, o in top2_node(s[off:off + i + 2], none_index):
                pairs.append((op_names[o], j))
            off += i + 2
        cells[cell] = pairs
    return space.from_pairs(cells)
