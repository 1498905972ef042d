"""Candidate operations of the NB201 and DARTS cells.

Every op maps ``c`` channels to ``c`` channels (``stride`` 2 halves the spatial size, DARTS
reduction edges only). Ops whose first layer is a ReLU (the *parameterized* ops:
``nor_conv_*``, ``sep_conv_*``, ``dil_conv_*``) take ``forward(x, act=None)``: ``act`` replaces
that leading ReLU (A-DARTS, Eq. 2: the activation mixture feeds the parameterized ops);
``act=None`` keeps the op's own ReLU. Ops without a leading activation accept and ignore ``act``.

``bn_affine`` controls the BatchNorm affine parameters of the cell ops (DrNAS's NB201 search:
``False``; the benchmark's discrete networks: ``True``). Running statistics are always tracked.

The ``none`` op is never instantiated: its output is zero and so is the gradient it sends to
its mixing weight, so :class:`spacenas.nn.mixed.MixedOp` skips it (see there).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from spacenas.errors import unknown

Act = Callable[[torch.Tensor], torch.Tensor] | None

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
DARTS_OPS: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                              "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


def _act(x: torch.Tensor, act: Act) -> torch.Tensor:
    return torch.relu(x) if act is None else act(x)


class ReLUConvBN(nn.Module):
    """ReLU -> Conv(k, stride, pad, dilation, no bias) -> BN (NB201 ``nor_conv_kxk``)."""

    has_act = True

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 dilation: int = 1, affine: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor, act: Act = None) -> torch.Tensor:
        return self.bn(self.conv(_act(x, act)))


class DilConv(nn.Module):
    """ReLU -> depthwise Conv(k, dilation) -> pointwise Conv 1x1 -> BN (DARTS ``dil_conv``)."""

    has_act = True

    def __init__(self, c: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool = True) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, kernel, stride, padding, dilation, groups=c, bias=False)
        self.pw = nn.Conv2d(c, c, 1, bias=False)
        self.bn = nn.BatchNorm2d(c, affine=affine)

    def forward(self, x: torch.Tensor, act: Act = None) -> torch.Tensor:
        return self.bn(self.pw(self.dw(_act(x, act))))


class SepConv(nn.Module):
    """Two stacked ReLU-dwConv-pwConv-BN blocks (DARTS ``sep_conv``); the first has the stride.

    Only the leading ReLU is replaceable by ``act``; the inner one stays a ReLU.
    """

    has_act = True

    def __init__(self, c: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__()
        self.first = DilConv(c, kernel, stride, padding, 1, affine)
        self.second = DilConv(c, kernel, 1, padding, 1, affine)

    def forward(self, x: torch.Tensor, act: Act = None) -> torch.Tensor:
        return self.second(self.first(x, act))


class Identity(nn.Module):
    has_act = False

    def forward(self, x: torch.Tensor, act: Act = None) -> torch.Tensor:
        return x


class Pool(nn.Module):
    """3x3 avg (``count_include_pad=False``) or max pooling, optionally followed by a BN
    without affine parameters (DARTS search cells add it, NB201 cells do not)."""

    has_act = False

    def __init__(self, kind: str, c: int, stride: int, bn: bool) -> None:
        super().__init__()
        self.pool = (nn.AvgPool2d(3, stride, 1, count_include_pad=False) if kind == "avg"
                     else nn.MaxPool2d(3, stride, 1))
        self.bn = nn.BatchNorm2d(c, affine=False) if bn else None

    def forward(self, x: torch.Tensor, act: Act = None) -> torch.Tensor:
        y = self.pool(x)
        return y if self.bn is None else self.bn(y)


class FactorizedReduce(nn.Module):
    """ReLU -> two 1x1 stride-2 convs on offset grids, concatenated -> BN (halves H and W).

    ``c_out`` must be even. Used for DARTS ``skip_connect`` on reduction edges and to
    preprocess a cell's first input after a reduction cell. Its ReLU is not replaced by
    A-DARTS activations (skip-connect counts as non-parameterized, A-DARTS Sec. 3.3).
    """

    has_act = False

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got {c_out}")
        self.conv1 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv2 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor, act: Act = None) -> torch.Tensor:
        x = torch.relu(x)
        if x.dim() == 4 and x.shape[1] > 1 and x.stride(1) == 1 and x.device.type == "cpu":
            # channels-last on the CPU: the same 1x1 convs on the stride-2 grids, at stride 1
            # (oneDNN's weight gradient of a stride-2 1x1 conv corrupts the heap there for 2 to 6
            # input channels, torch 2.13; tests/nn/test_fused.py::test_factorized_reduce_channels_last)
            y2 = F.conv2d(x[:, :, 1::2, 1::2], self.conv2.weight, self.conv2.bias)
            y1 = F.conv2d(x[:, :, ::2, ::2], self.conv1.weight, self.conv1.bias)
        else:
            y2 = self.conv2(x[:, :, 1:, 1:])
            y1 = self.conv1(x)
        if y2.shape[-2:] != y1.shape[-2:]:  # odd sizes: pad the shifted branch at the end
            y2 = nn.functional.pad(y2, (0, y1.shape[-1] - y2.shape[-1], 0, y1.shape[-2] - y2.shape[-2]))
        return self.bn(torch.cat([y1, y2], dim=1))

    def widen_(self, g: torch.Tensor, generator: torch.Generator) -> None:
        """Widen to ``len(g)`` input/output channels: ``g`` maps the input channels; each conv's
        output half gets its own random map ``h`` (Eq. 7), and the BN follows ``[h, h + c/2]``."""
        from spacenas.nn.widen import random_mapping, widen_bn, widen_conv
        half_old, half_new = self.conv1.out_channels, len(g) // 2
        h = random_mapping(half_old, half_new, generator).to(g.device)
        self.conv1 = widen_conv(self.conv1, h, g)
        self.conv2 = widen_conv(self.conv2, h, g)
        self.bn = widen_bn(self.bn, torch.cat([h, h + half_old]))


def make_op(name: str, c: int, stride: int, affine: bool, pool_bn: bool) -> nn.Module:
    """Build candidate op ``name`` on ``c`` channels (``none`` has no module: use ``None``)."""
    if name == "skip_connect":
        return Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    if name in ("avg_pool_3x3", "max_pool_3x3"):
        return Pool(name[:3], c, stride, pool_bn)
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, stride, 0, 1, affine)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, stride, 1, 1, affine)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        k = int(name[-1])
        return SepConv(c, k, stride, k // 2, affine)
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        k = int(name[-1])
        return DilConv(c, k, stride, 2 * (k // 2), 2, affine)
    raise unknown("op", name, [o for o in dict.fromkeys((*NB201_OPS, *DARTS_OPS)) if o != "none"])


def init_parameters_(module: nn.Module, generator: torch.Generator | None) -> None:
    """Re-initialise every Conv2d/Linear like PyTorch's default init, but drawing from
    ``generator`` (reproducible without touching the global RNG). ``None`` keeps the
    modules' current values."""
    if generator is None:
        return
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight
            fan_in = w[0].numel()
            # PyTorch's default kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
            # and so is its bias init
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            with torch.no_grad():
                tmp = torch.empty(w.shape, dtype=w.dtype, device=generator.device)
                w.copy_(tmp.uniform_(-bound, bound, generator=generator))
                if m.bias is not None:
                    tmp = torch.empty(m.bias.shape, dtype=w.dtype, device=generator.device)
                    m.bias.copy_(tmp.uniform_(-bound, bound, generator=generator))
