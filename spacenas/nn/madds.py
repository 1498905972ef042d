"""Exact MAdds and parameter counts of the AutoSpace blocks and layer-wise networks.

Conventions (those of MobileNet/ProxylessNAS tables):

* **MAdds** = multiply-accumulates of convolutions and linear layers per image:
  ``k * k * (c_in / groups) * c_out * H_out * W_out`` for a conv, ``n_in * n_out`` for a linear
  layer. BatchNorm, ReLU, pooling, residual adds, node aggregations (add/mul) and biases are
  not counted.
* **params** = conv weights (no conv biases), BatchNorm affine weight and bias (2 per channel),
  linear weight and bias.

Spatial size after a conv with kernel ``k``, padding ``k // 2`` and stride ``s``:
``(n - 1) // s + 1``. The counts follow exactly what :mod:`spacenas.nn.open_cell_net` builds
and runs (only the live edges of an open cell; ``zero`` blocks cost nothing);
:func:`measure` counts the same quantities with forward hooks on a real module, and the tests
check that both agree.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from spacenas.errors import SpacenasError


@dataclass(frozen=True)
class Cost:
    madds: int = 0
    params: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.madds + other.madds, self.params + other.params)


def out_size(n: int, stride: int) -> int:
    """Spatial size after a 'same'-padded conv of stride ``stride``."""
    return (n - 1) // stride + 1


def conv_cost(c_in: int, c_out: int, k: int, size_out: int, groups: int = 1, bn: bool = True) -> Cost:
    """A ``k x k`` conv (no bias) on a square ``size_out`` output, plus BN (2 params/channel)."""
    w = k * k * (c_in // groups) * c_out
    return Cost(w * size_out * size_out, w + (2 * c_out if bn else 0))


def linear_cost(n_in: int, n_out: int) -> Cost:
    return Cost(n_in * n_out, n_in * n_out + n_out)


def edge_cost(op: str, width: int, size: int) -> Cost:
    """One open-cell edge on ``width`` channels at ``size x size`` (conv-BN-ReLU ops)."""
    if op in ("zero", "identity"):
        return Cost()
    if op == "conv1x1":
        return conv_cost(width, width, 1, size)
    if op == "conv3x3":
        return conv_cost(width, width, 3, size)
    if op == "dwconv3x3":
        return conv_cost(width, width, 3, size, groups=width)
    raise SpacenasError(f"unknown open-cell op {op!r}")


def open_cell_cost(text: str, c_in: int, c_out: int, size: int, stride: int = 1) -> Cost:
    """An open cell: input 1x1 conv (stride ``stride``) to ``r * c_in``, live edges, output 1x1
    conv to ``c_out``; a cell without live edges costs nothing."""
    space = _space_for(text)
    arch = space.parse(text)
    live = space.live_edges(arch)
    if not live:
        return Cost()
    h, s = space.ratio(arch) * c_in, out_size(size, stride)
    ops = space.edge_ops(arch)
    cost = conv_cost(c_in, h, 1, s) + conv_cost(h, c_out, 1, s)
    for e in live:
        cost = cost + edge_cost(ops[e], h, s)
    return cost


def _space_for(text: str):
    from spacenas.spaces.open_cell import OpenCellSpace
    n_groups = text.count("+") + 1
    return OpenCellSpace(n_groups + 1)


def parse_irb(text: str) -> tuple[int, int]:
    """``irb_k{k}_e{e}`` -> ``(k, e)``."""
    parts = text.split("_")
    try:
        if len(parts) == 3 and parts[0] == "irb" and parts[1][0] == "k" and parts[2][0] == "e":
            k, e = int(parts[1][1:]), int(parts[2][1:])
            if k % 2 == 1 and k >= 1 and e >= 1:
                return k, e
    except ValueError:
        pass
    raise SpacenasError(f"bad block {text!r}: expected 'irb_k<odd kernel>_e<expansion>', an open cell or 'zero'")


def irb_cost(k: int, e: int, c_in: int, c_out: int, size: int, stride: int = 1) -> Cost:
    """Inverted residual block: 1x1 expand (at input size), k x k depthwise (stride), 1x1 project."""
    h, s = e * c_in, out_size(size, stride)
    return conv_cost(c_in, h, 1, size) + conv_cost(h, h, k, s, groups=h) + conv_cost(h, c_out, 1, s)


def block_cost(text: str, c_in: int, c_out: int, size: int, stride: int = 1) -> Cost:
    """Cost of any layer-wise block text: ``zero``, ``irb_k*_e*`` or an open cell."""
    if text == "zero":
        return Cost()
    if text.startswith("irb_"):
        return irb_cost(*parse_irb(text), c_in, c_out, size, stride)
    return open_cell_cost(text, c_in, c_out, size, stride)


def network_cost(blocks: list[str], in_channels: int, image_size: int, stem_channels: int,
                 channels: list[int], strides: list[int], num_classes: int) -> Cost:
    """A layer-wise network: 3x3 stem conv + BN, the blocks, global pooling, linear head."""
    if not len(blocks) == len(channels) == len(strides):
        raise SpacenasError(f"{len(blocks)} blocks for {len(channels)} channel and {len(strides)} stride entries")
    cost = conv_cost(in_channels, stem_channels, 3, image_size)
    c, size = stem_channels, image_size
    for b, co, s in zip(blocks, channels, strides):
        cost = cost + block_cost(b, c, co, size, s)
        c, size = co, out_size(size, s)
    return cost + linear_cost(c, num_classes)


def measure(module: nn.Module, input_shape: tuple[int, ...]) -> Cost:
    """Count MAdds (conv/linear MACs of one image) with forward hooks, and parameters, of a module."""
    total = [0]

    def hook(m: nn.Module, inp, out) -> None:
        if isinstance(m, nn.Conv2d):
            per_out = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
            total[0] += per_out * out[0].numel()
        elif isinstance(m, nn.Linear):
            total[0] += m.in_features * m.out_features

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    return Cost(total[0], sum(p.numel() for p in module.parameters()))
