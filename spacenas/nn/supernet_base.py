"""The contract every weight-sharing supernet fulfils (DESIGN.md: ``Supernet``).

A supernet groups its mixed edges by *cell type*: NB201 has one (``"cell"``: 6 edges x 5 ops),
DARTS has two (``"normal"`` and ``"reduce"``: 14 edges x 8 ops each). One-shot strategies own
one architecture tensor per cell type of shape ``arch_shapes()[key]`` and pass, on every
forward, the mixing weights and (optionally) a boolean mask of the same shapes:

* ``weights[key][e, o]`` multiplies op ``o`` on edge ``e`` (all cells of a type share them);
* ``masks[key][e, o] == False`` means op ``o`` of edge ``e`` is **not computed at all** (its
  weight is ignored), so time and memory follow the number of active ops;
* ``act_weights[key][e, a]`` (A-DARTS, optional) are the mixing weights of the activation
  mixture applied to the input of every parameterized op of edge ``e``
  (see :mod:`spacenas.nn.activations`); ``None`` keeps each op's own ReLU.

Strategies never look inside the network; they only use this contract.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from spacenas.spaces.base import Arch, SearchSpace

Weights = dict[str, torch.Tensor]


class Supernet(nn.Module, ABC):
    """A weight-sharing network over the ops of a cell space."""

    space: SearchSpace

    @abstractmethod
    def arch_shapes(self) -> dict[str, tuple[int, int]]:
        """``{cell_type: (n_edges, n_ops)}``."""

    @property
    @abstractmethod
    def op_names(self) -> tuple[str, ...]:
        """Names of the candidate ops, in mixing-weight order."""

    @abstractmethod
    def forward(self, x: torch.Tensor, weights: Weights, masks: Weights | None = None,
                act_weights: Weights | None = None) -> torch.Tensor:
        """Logits for ``x`` under the given per-edge mixing weights and masks."""

    @abstractmethod
    def derive(self, scores: Weights, masks: Weights | None = None) -> Arch:
        """Discrete arch from per-edge op scores (NB201: argmax per edge; DARTS: top-2
        incoming edges per node by their best non-``none`` op, then that op). Masked-out ops
        are never chosen."""

    def set_partial_channels(self, k: int) -> None:
        """Use 1/k of the channels in every mixed op (PC-DARTS style); k=1 turns it off."""
        raise NotImplementedError(f"{type(self).__name__} does not support partial channels")

    def widen(self, factor: int, generator: torch.Generator) -> None:
        """Multiply the width of every conv by ``factor`` with DrNAS's random mapping (Eq. 7-8)."""
        raise NotImplementedError(f"{type(self).__name__} does not support widening")

    def widen_to(self, k: int, generator: torch.Generator) -> None:
        """Widen to partial-channel ``k`` (DrNAS Eq. 7-8; ``k`` need not divide the current k)."""
        raise NotImplementedError(f"{type(self).__name__} does not support widening")
