"""Modules of AutoSpace's layer-wise networks: open cells, inverted residual blocks, the network.

* :class:`OpenCell` -- one open cell (see :mod:`spacenas.spaces.open_cell`): input node
  ``conv1x1(c_in -> r*c_in, stride) - BN - ReLU``; edges ``conv1x1``/``conv3x3``/``dwconv3x3``
  are ``conv - BN - ReLU`` on ``r*c_in`` channels, ``identity`` passes, ``zero`` is never built;
  nodes aggregate by sum (``add``) or element-wise product (``mul``); output node
  ``conv1x1(r*c_in -> c_out) - BN`` (linear, as in an IRB). Only live edges (on a path from
  the first to the last inner node) are built. A residual ``x + cell(x)`` is added when the
  shapes agree (stride 1, ``c_in == c_out``), as for IRB blocks and ProxylessNAS layers; a cell
  without live edges outputs zero, i.e. the layer is skipped (or zeroed where shapes change).
* :class:`IRBlock` -- ``irb_k{k}_e{e}``: 1x1 expand - BN - ReLU, kxk depthwise (stride) -
  BN - ReLU, 1x1 project - BN, residual when shapes agree. ``zero``: :class:`ZeroBlock`.
* :class:`LayerwiseNet` -- 3x3 conv stem - BN - ReLU, L layers, global average pool, linear
  head (AutoSpace Sec. 3.2). Layers are any modules; the geometry is a :class:`NetPlan`.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import Field, model_validator
from torch import nn

from spacenas.config import StrictModel
from spacenas.errors import SpacenasError
from spacenas.nn.madds import parse_irb
from spacenas.nn.ops import init_parameters_
from spacenas.spaces.open_cell import OpenCellSpace


class NetPlan(StrictModel):
    """Geometry of a layer-wise network (layer ``l`` maps ``channels[l-1]`` to ``channels[l]``)."""

    in_channels: int = Field(1, ge=1)
    image_size: int = Field(8, ge=1)
    num_classes: int = Field(10, ge=2)
    stem_channels: int = Field(16, ge=1)
    channels: list[int] = Field(default_factory=lambda: [16, 16, 16])
    strides: list[int] = Field(default_factory=lambda: [1, 1, 1])

    @model_validator(mode="after")
    def _check(self) -> NetPlan:
        if len(self.channels) != len(self.strides) or not self.channels:
            raise ValueError(f"channels ({len(self.channels)}) and strides ({len(self.strides)}) "
                             "must be non-empty lists of the same length")
        if any(s not in (1, 2) for s in self.strides) or any(c < 1 for c in self.channels):
            raise ValueError("strides must be 1 or 2 and channels >= 1")
        return self

    @property
    def n_layers(self) -> int:
        return len(self.channels)

    def skippable(self) -> list[bool]:
        """Per layer: whether input and output shapes agree (a ``zero`` block is a skip there)."""
        return [self.layer_geometry(l)[0] == c and s == 1 for l, (c, s) in enumerate(zip(self.channels, self.strides))]

    def layer_geometry(self, l: int) -> tuple[int, int, int, int]:
        """``(c_in, c_out, input size, stride)`` of layer ``l``."""
        size = self.image_size
        for s in self.strides[:l]:
            size = (size - 1) // s + 1
        c_in = self.stem_channels if l == 0 else self.channels[l - 1]
        return c_in, self.channels[l], size, self.strides[l]


def conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _edge(op: str, width: int) -> nn.Module:
    if op == "identity":
        return nn.Identity()
    if op == "conv1x1":
        return conv_bn(width, width, 1)
    if op == "conv3x3":
        return conv_bn(width, width, 3)
    if op == "dwconv3x3":
        return conv_bn(width, width, 3, groups=width)
    raise SpacenasError(f"unknown open-cell op {op!r}")


class OpenCell(nn.Module):
    """One open cell (see module docstring)."""

    def __init__(self, text: str, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        space = OpenCellSpace(text.count("+") + 2)
        arch = space.parse(text)
        self.text, self.n_inner, self.c_out, self.stride = text, space.n_inner, c_out, stride
        self.mul = space.aggregation(arch) == "mul"
        self.residual = stride == 1 and c_in == c_out
        live = space.live_edges(arch)
        self.live = [(j, i) for j, i in sorted(live)]
        h = space.ratio(arch) * c_in
        ops = space.edge_ops(arch)
        self.inp = conv_bn(c_in, h, 1, stride) if live else None
        self.out = conv_bn(h, c_out, 1, relu=False) if live else None
        self.edges = nn.ModuleDict({f"{j}_{i}": _edge(ops[(j, i)], h) for j, i in self.live})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inp is None:
            if self.residual:
                return x
            b, _, hh, ww = x.shape
            s = (hh - 1) // self.stride + 1, (ww - 1) // self.stride + 1
            return x.new_zeros(b, self.c_out, *s)
        nodes: dict[int, torch.Tensor] = {0: self.inp(x)}
        for j in range(1, self.n_inner):
            ins = [self.edges[f"{j}_{i}"](nodes[i]) for jj, i in self.live if jj == j]
            if ins:
                y = ins[0]
                for z in ins[1:]:
                    y = y * z if self.mul else y + z
                nodes[j] = y
        y = self.out(nodes[self.n_inner - 1])
        return x + y if self.residual else y


class IRBlock(nn.Module):
    """Inverted residual block ``irb_k{k}_e{e}``."""

    def __init__(self, k: int, e: int, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        h = e * c_in
        self.body = nn.Sequential(conv_bn(c_in, h, 1), conv_bn(h, h, k, stride, groups=h),
                                  conv_bn(h, c_out, 1, relu=False))
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class ZeroBlock(nn.Module):
    """``zero``: the layer is skipped (identity) where shapes agree, else outputs zeros."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.c_out, self.stride, self.residual = c_out, stride, stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.residual:
            return x
        b, _, hh, ww = x.shape
        return x.new_zeros(b, self.c_out, (hh - 1) // self.stride + 1, (ww - 1) // self.stride + 1)


def make_block(text: str, c_in: int, c_out: int, stride: int = 1) -> nn.Module:
    """Build a layer-wise block from its text (``zero``, ``irb_k*_e*`` or an open cell)."""
    if text == "zero":
        return ZeroBlock(c_in, c_out, stride)
    if text.startswith("irb_"):
        return IRBlock(*parse_irb(text), c_in, c_out, stride)
    return OpenCell(text, c_in, c_out, stride)


class LayerwiseNet(nn.Module):
    """Stem, layers, head. ``forward(x, layer_fn)`` lets a supernet run its own layer logic."""

    def __init__(self, plan: NetPlan, layers: Sequence[nn.Module] | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.stem = conv_bn(plan.in_channels, plan.stem_channels, 3)
        self.layers = nn.ModuleList(layers or [])
        self.head = nn.Linear(plan.channels[-1], plan.num_classes)
        init_parameters_(self.stem, generator)
        init_parameters_(self.head, generator)

    @classmethod
    def from_blocks(cls, plan: NetPlan, blocks: Sequence[str], generator: torch.Generator | None = None
                    ) -> LayerwiseNet:
        """A discrete network: one block text per layer."""
        if len(blocks) != plan.n_layers:
            raise SpacenasError(f"{len(blocks)} blocks for a plan with {plan.n_layers} layers")
        layers = []
        for l, b in enumerate(blocks):
            c_in, c_out, _, s = plan.layer_geometry(l)
            m = make_block(b, c_in, c_out, s)
            init_parameters_(m, generator)
            layers.append(m)
        return cls(plan, layers, generator)

    def classify(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(h.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor, layer_fn=None) -> torch.Tensor:
        h = self.stem(x)
        for l in range(self.plan.n_layers):
            h = self.layers[l](h) if layer_fn is None else layer_fn(l, h)
        return self.classify(h)
