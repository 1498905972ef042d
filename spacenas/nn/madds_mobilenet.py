"""Multiply-adds and parameters of a MobileNet-like sub-network, counted analytically.

Convention (the usual one for "#MAdds" in mobile NAS tables): one multiply-add per weight per
output position of every convolution and linear layer; BN, ReLU, pooling and residual
additions are not counted. Parameters count conv/linear weights (no conv biases exist), the
classifier's bias, and the BN affine parameters (gamma and beta: 2 per channel); BN running
statistics are buffers, not parameters.

A k x k conv with padding k // 2 and stride s maps H to ``ceil(H / s)`` (odd k).

Hand count of one block (checked in the tests): c_in = 8, c_out = 12, E = 4 (mid = 32),
R = 5, stride 2, input 8 x 8 -> output 4 x 4:

* MAdds: expand 8*8*8*32 = 16384, depthwise 4*4*32*25 = 12800, project 4*4*32*12 = 6144;
  total 35328.
* params: expand 8*32 = 256 + BN 64, depthwise 32*25 = 800 + BN 64, project 32*12 = 384 +
  BN 24; total 1592.
"""
from __future__ import annotations

from dataclasses import dataclass

from spacenas.nn.mobilenet_supernet import MobileNetShape
from spacenas.spaces.base import Arch
from spacenas.spaces.mobilenet import Layers, MobileNetSpace


@dataclass(frozen=True)
class Cost:
    """Multiply-adds (per image) and parameters."""

    madds: int
    params: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.madds + other.madds, self.params + other.params)


def out_size(h: int, stride: int) -> int:
    """Spatial size after an odd-kernel conv with 'same' padding: ceil(h / stride)."""
    return -(-h // stride)


def conv_cost(h: int, c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, bn: bool = True) -> Cost:
    """A k x k conv (no bias) on an h x h input, optionally followed by BN."""
    ho = out_size(h, stride)
    weights = c_out * (c_in // groups) * k * k
    return Cost(ho * ho * weights, weights + (2 * c_out if bn else 0))


def mbconv_cost(h: int, c_in: int, c_out: int, kernel: int, expansion: int, stride: int) -> Cost:
    """One MBConv: 1x1 expand (BN) -> k x k depthwise, stride s (BN) -> 1x1 project (BN)."""
    mid = c_in * expansion
    ho = out_size(h, stride)
    return (conv_cost(h, c_in, mid, 1)
            + conv_cost(h, mid, mid, kernel, stride, groups=mid)
            + conv_cost(ho, mid, c_out, 1))


def subnet_cost(arch: Arch | Layers, shape: MobileNetShape | None = None,
                space: MobileNetSpace | None = None) -> Cost:
    """MAdds and params of a whole sub-network (stem, units, head, classifier)."""
    s = shape or MobileNetShape()
    layers = (space or MobileNetSpace()).layers(arch) if isinstance(arch, Arch) else arch
    h = s.image_size
    total = conv_cost(h, s.in_channels, s.stem_width, 3, s.stem_stride)
    h = out_size(h, s.stem_stride)
    c = s.stem_width
    for cfg, w, st in zip(layers, s.widths, s.strides):
        for l, (k, e) in enumerate(cfg):
            stride = st if l == 0 else 1
            total = total + mbconv_cost(h, c, w, k, e, stride)
            h, c = out_size(h, stride), w
    total = total + conv_cost(h, c, s.head_width, 1)
    return total + Cost(s.head_width * s.num_classes, s.head_width * s.num_classes + s.num_classes)
