"""Supernets of the NB201 and DARTS spaces (the :class:`~spacenas.nn.supernet_base.Supernet`
contract), and the discrete NB201 network built by the same code.

NB201 (the benchmark's network; Dong & Yang 2020): stem ``Conv3x3 + BN``, three stages of ``N``
cells on ``C, 2C, 4C`` channels with a residual reduction block between stages, then
``BN -> ReLU -> global average pool -> Linear``. ``bn_affine`` applies to the cell ops only
(DrNAS searches with non-affine BN in the cells); the stem, reduction blocks and last BN are
always affine, as in the benchmark. With ``bn_affine=True`` and one op per edge,
:class:`NB201Net` has exactly the benchmark's parameter count (tests/nn/test_supernets.py).

DARTS (Liu et al. 2019): stem ``Conv3x3(3C) + BN``, ``layers`` cells with reductions at 1/3 and
2/3 (channels doubled there), 14 mixed edges per cell, ``GAP -> Linear``.

Partial channels and widening act on the mixed edges only: the backbone (stem, preprocessing,
reduction blocks, classifier) has its full width from the start, as DrNAS's progressive
learning builds the supernet at evaluation size and widens the ops (Sec. 2.4).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spacenas.config import check_dims
from spacenas.errors import SpacenasError
from spacenas.nn.activations import check_edge_activations
from spacenas.nn.cells import DARTSCell, NB201Cell, ResNetBlock
from spacenas.nn.derive import derive_darts, derive_nb201
from spacenas.nn.fused import fast_layout
from spacenas.nn.mixed import MixedOp
from spacenas.nn.ops import init_parameters_
from spacenas.nn.supernet_base import Supernet, Weights
from spacenas.spaces import nb201
from spacenas.spaces.base import Arch
from spacenas.spaces.darts import SUPERNET_OPS as DARTS_OPS, DARTSSpace


def _cells(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (NB201Cell, DARTSCell))]


def set_fused(net: nn.Module, fused: bool) -> None:
    """Switch every cell of ``net`` to the fused (``True``) or reference forward path."""
    for cell in _cells(net):
        cell.fused = bool(fused)


def last_path(net: nn.Module) -> str | None:
    """Which forward path the latest forward of ``net``'s cells used: ``"fused"``,
    ``"reference"`` or ``"reference (<why fusion did not apply>)"`` (several: joined by ``+``)."""
    paths = sorted({c.last_path for c in _cells(net) if c.last_path is not None})
    return "+".join(paths) if paths else None


class _CellSupernet(Supernet):
    """Shared plumbing: argument checks, partial channels, widening, the forward path switch."""

    def _mixed(self) -> list[MixedOp]:
        return [m for m in self.modules() if isinstance(m, MixedOp)]

    @property
    def fused(self) -> bool:
        """True when the cells use the fused forward path where it applies (the default)."""
        return all(c.fused for c in _cells(self))

    @fused.setter
    def fused(self, value: bool) -> None:
        set_fused(self, value)

    @property
    def last_path(self) -> str | None:
        """The forward path of the latest forward (for the run log); see :func:`last_path`."""
        return last_path(self)

    @property
    def partial_k(self) -> int:
        """Current partial-channel k (1/k of the channels go through the ops)."""
        return self._mixed()[0].k

    def set_partial_channels(self, k: int, generator: torch.Generator | None = None) -> None:
        """Use 1/k of the channels in every mixed op. A *change* of k rebuilds the ops with
        fresh weights (from ``generator`` when given); to keep trained weights while raising
        the fraction, use :meth:`widen`. Parameters are replaced: rebuild the optimizer."""
        ms = self._mixed()
        for m in ms:
            m._check_k(k)
        for m in ms:
            m.set_partial_channels(k, generator)

    def widen(self, factor: int, generator: torch.Generator) -> None:
        """DrNAS progressive step (Eq. 7-8): ``k -> k / factor`` in every mixed op, each op's
        convs and BNs widened ``factor`` times by the random mapping (old weights kept, new
        channels copied from random old ones, no division). Parameters are replaced: rebuild
        the weight optimizer afterwards."""
        ms = self._mixed()
        if not isinstance(factor, int) or factor < 1:
            raise SpacenasError(f"widen factor must be a positive integer, got {factor!r}")
        for m in ms:
            if m.k % factor:
                raise SpacenasError(f"cannot widen by {factor}: partial-channel k={m.k} is not divisible by it "
                                    "(widening raises the channel fraction 1/k, at most to 1)")
        self.widen_to(ms[0].k // factor, generator)

    def widen_to(self, k: int, generator: torch.Generator) -> None:
        """Widen every mixed op to partial-channel ``k`` (any ``k`` up to the current one that
        divides every edge width, e.g. 6 -> 4 at C=36; see :meth:`MixedOp.widen_to`)."""
        ms = self._mixed()
        for m in ms:
            if not isinstance(k, int) or k < 1 or k > m.k:
                raise SpacenasError(f"cannot widen from partial-channel k={m.k} to k={k!r}: "
                                    "widening lowers k (raises the fraction 1/k), at least to 1")
            m._check_k(k)
        for m in ms:
            m.widen_to(k, generator)

    def _unpack(self, name: str, given: Weights | None, cols: int | None, boolean: bool = False) -> dict:
        if given is None:
            return {key: None for key in self.arch_shapes()}
        shapes = self.arch_shapes()
        if set(given) != set(shapes):
            raise SpacenasError(f"{name} must have keys {sorted(shapes)}, got {sorted(given)}")
        out = {}
        for key, (e, n) in shapes.items():
            t = given[key]
            want = (e, n if cols is None else cols)
            if tuple(t.shape) != want:
                raise SpacenasError(f"{name}[{key!r}] must have shape {want}, got {tuple(t.shape)}")
            out[key] = t.bool().tolist() if boolean else t  # one host sync per forward for masks
        return out

    def _args(self, weights: Weights, masks: Weights | None, act_weights: Weights | None):
        from spacenas.nn.activations import ACTIVATIONS
        return (self._unpack("weights", weights, None), self._unpack("masks", masks, None, True),
                self._unpack("act_weights", act_weights, len(ACTIVATIONS)))


class NB201Body(nn.Module):
    """The NB201 network with ``edge_ops[e]`` as the candidate ops of edge ``e`` in every cell."""

    def __init__(self, edge_ops, C: int, N: int, num_classes: int, in_channels: int, bn_affine: bool,
                 act_mixture: bool = False, fused: bool = True, channels_last: bool | None = None) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers, c = [], C
        for stage in range(3):
            if stage:
                layers.append(ResNetBlock(c, 2 * c))
                c *= 2
            layers += [NB201Cell(c, edge_ops, affine=bn_affine, act_mixture=act_mixture) for _ in range(N)]
        self.layers = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU())
        self.classifier = nn.Linear(c, num_classes)
        set_fused(self, fused)

    def forward(self, x, weights=None, active=None, act_weights=None) -> torch.Tensor:
        fused = any(c.fused for c in self.layers if isinstance(c, NB201Cell))
        x = self.stem(fast_layout(x, self.channels_last, fused))
        for layer in self.layers:
            x = layer(x, weights, active, act_weights) if isinstance(layer, NB201Cell) else layer(x)
        x = self.lastact(x).mean(dim=(2, 3))
        return self.classifier(x)


class NB201Supernet(_CellSupernet):
    """NB201 supernet; ``arch_shapes() == {"cell": (6, 5)}`` (edges and ops in
    :mod:`spacenas.spaces.nb201` order)."""

    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3,
                 bn_affine: bool = False, *, act_mixture: bool = False, fused: bool = True,
                 channels_last: bool | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__()
        check_dims(C=C, N=N)  # --set C=0 / N=4.5: one line, not a shape error deep in torch
        self.space = nb201.NB201Space()
        self.body = NB201Body([nb201.OPS] * len(nb201.EDGES), C, N, num_classes, in_channels, bn_affine,
                              act_mixture, fused, channels_last)
        init_parameters_(self, generator)

    @property
    def channels_last(self) -> bool | None:
        """Memory format of the forward: True, False or None (auto, :func:`~spacenas.nn.fused.fast_layout`)."""
        return self.body.channels_last

    @channels_last.setter
    def channels_last(self, value: bool | None) -> None:
        self.body.channels_last = value

    def arch_shapes(self) -> dict[str, tuple[int, int]]:
        return {"cell": (len(nb201.EDGES), len(nb201.OPS))}

    @property
    def op_names(self) -> tuple[str, ...]:
        return nb201.OPS

    def forward(self, x, weights, masks=None, act_weights=None) -> torch.Tensor:
        w, m, a = self._args(weights, masks, act_weights)
        return self.body(x, w["cell"], m["cell"], a["cell"])

    def derive(self, scores: Weights, masks: Weights | None = None) -> Arch:
        return derive_nb201(scores["cell"], None if masks is None else masks["cell"], self.space)


class ActEdge(nn.Module):
    """A one-op edge of a discrete network whose op takes ``act`` in place of its leading ReLU
    (A-DARTS retraining). It holds the op under the same ``ops.<key>`` name as the
    :class:`MixedOp` it replaces, so the op's state-dict keys do not change; the activation's
    parameters (PReLU slope, Swish coefficient) are added as ``act.*``."""

    def __init__(self, edge: MixedOp, act: nn.Module) -> None:
        super().__init__()
        if len(edge.ops) != 1 or edge.k != 1:
            raise SpacenasError("an activation edge needs a one-op edge without partial channels")
        self.ops = edge.ops
        self.key = next(iter(edge.ops.keys()))
        self.act = act

    def forward(self, x, weights=None, active=None, act_weights=None) -> torch.Tensor:
        return self.ops[self.key](x, act=self.act)


class NB201Net(nn.Module):
    """The discrete NB201 network of ``arch`` (benchmark defaults: affine BN everywhere).

    ``activations`` (A-DARTS retraining, optional): one activation name (see
    :data:`spacenas.nn.activations.ACTIVATIONS`) or ``None`` per edge, in edge order; a named
    activation replaces the leading ReLU of that edge's convolution in every cell (it must be a
    parameterized op: ``nor_conv_1x1``/``nor_conv_3x3``). Each cell gets its own activation
    modules (own PReLU slope / Swish coefficient). ``None`` (the default) keeps the ops' ReLUs,
    i.e. exactly the plain network. ``rrelu`` draws its training-mode slopes from ``generator``
    (no generator: the fixed eval-mode slope; see :mod:`spacenas.nn.activations`). ``fused=True``
    runs the cells on the fused path; the default reference path keeps retraining bit-identical."""

    def __init__(self, arch: Arch, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3,
                 bn_affine: bool = True, *, generator: torch.Generator | None = None,
                 activations: Sequence[str | None] | None = None, fused: bool = False) -> None:
        super().__init__()
        space = nb201.NB201Space()
        space.check(arch)
        self.arch = arch
        ops = [nb201.OPS[c] for c in arch.choices]
        self.body = NB201Body([[o] for o in ops], C, N, num_classes, in_channels, bn_affine, fused=fused)
        self.activations = check_edge_activations(activations, ops, ("nor_conv_1x1", "nor_conv_3x3"))
        if self.activations is not None:
            from spacenas.nn.activations import make_activation
            for cell in (m for m in self.body.layers if isinstance(m, NB201Cell)):
                for e, name in enumerate(self.activations):
                    if name is not None:
                        cell.edges[e] = ActEdge(cell.edges[e], make_activation(name, generator))
        init_parameters_(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class DARTSSupernet(_CellSupernet):
    """DARTS search network; ``arch_shapes() == {"normal": (14, 8), "reduce": (14, 8)}``."""

    def __init__(self, C: int = 16, layers: int = 8, steps: int = 4, multiplier: int = 4,
                 num_classes: int = 10, in_channels: int = 3, stem_multiplier: int = 3,
                 bn_affine: bool = False, *, act_mixture: bool = False, fused: bool = True,
                 channels_last: bool | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__()
        check_dims(C=C, layers=layers)  # --set C=0 / layers=4.5: one line, not a shape error deep in torch
        self.channels_last = channels_last
        if steps != 4 or not 1 <= multiplier <= steps:
            raise SpacenasError(f"DARTS supernet supports steps=4 (the darts space) and 1 <= multiplier <= 4, "
                                f"got steps={steps}, multiplier={multiplier}")
        if layers < 3:
            raise SpacenasError(f"DARTS supernet needs layers >= 3 (two reduction cells), got {layers}")
        self.space = DARTSSpace()
        self.n_edges = sum(i + 2 for i in range(steps))
        c_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, C
        cells, reduction_prev = [], False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cells.append(DARTSCell(steps, multiplier, c_pp, c_p, c_curr, reduction, reduction_prev, DARTS_OPS,
                                   affine=bn_affine, act_mixture=act_mixture))
            reduction_prev = reduction
            c_pp, c_p = c_p, multiplier * c_curr
        self.cells = nn.ModuleList(cells)
        self.classifier = nn.Linear(c_p, num_classes)
        set_fused(self, fused)
        init_parameters_(self, generator)

    def arch_shapes(self) -> dict[str, tuple[int, int]]:
        return {"normal": (self.n_edges, len(DARTS_OPS)), "reduce": (self.n_edges, len(DARTS_OPS))}

    @property
    def op_names(self) -> tuple[str, ...]:
        return DARTS_OPS

    def forward(self, x, weights, masks=None, act_weights=None) -> torch.Tensor:
        w, m, a = self._args(weights, masks, act_weights)
        s0 = s1 = self.stem(fast_layout(x, self.channels_last, self.fused))
        for cell in self.cells:
            key = "reduce" if cell.reduction else "normal"
            s0, s1 = s1, cell(s0, s1, w[key], m[key], a[key])
        return self.classifier(s1.mean(dim=(2, 3)))

    def derive(self, scores: Weights, masks: Weights | None = None) -> Arch:
        return derive_darts(scores, masks, DARTS_OPS, self.space)
