"""FLOPs and parameter counts of NAS-Bench-201 networks, computed from the network definition.

The NB201 network (NB201 paper, Fig. 1; a cell on every stage, ResNet blocks between stages)::

    stem:   conv3x3(in_ch -> 16) + BN                                   at H x W
    stage 1: N=5 cells, C=16                                              at H x W
    reduce: ResNet block 16 -> 32: ReLU-conv3x3/s2-BN, ReLU-conv3x3-BN,
            shortcut avgpool2x2/s2 + conv1x1 (no bias)                    -> H/2 x W/2
    stage 2: N=5 cells, C=32
    reduce: ResNet block 32 -> 64                                        -> H/4 x W/4
    stage 3: N=5 cells, C=64
    head:   BN + ReLU, global average pooling, linear(64 -> classes) with bias

Cell edges: ``nor_conv_kxk`` = ReLU-conv(kxk, C->C, stride 1, no bias)-BN(affine);
``skip_connect``, ``none`` and ``avg_pool_3x3`` have no parameters. Every edge's module exists
and runs whether or not its output reaches the cell output, so costs add up edge by edge.

Counting conventions (those of the NB201 benchmark's own tables):

* **params**: weights of convs and the linear layer, its bias, and BN's affine weight and bias
  (2 per channel); BN running statistics are buffers, not parameters.
* **FLOPs**: multiply-accumulates of conv and linear layers only, per image, plus one add per
  output for a bias (only the classifier has one). Pooling, BN, ReLU and the cell sums are not
  counted. Reported as a plain count (NB201 reports the same number divided by 1e6, "MFLOPs").

With these conventions the computed params equal the shipped ``params`` column (CIFAR-10
classifier) for all 15,625 archs; see ``tests/evaluators/test_flops.py`` and ``docs/hardware-aware.md``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spacenas.errors import unknown
from spacenas.spaces.base import Arch
from spacenas.spaces.nb201 import OPS

#: (input channels, height, width, classes) of the networks NB201 trained
NB201_INPUTS: dict[str, tuple[int, int, int, int]] = {
    "cifar10": (3, 32, 32, 10),
    "cifar100": (3, 32, 32, 100),
    "imagenet16-120": (3, 16, 16, 120),
}
STEM_C = 16
CELLS_PER_STAGE = 5
N_STAGES = 3
_KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


@dataclass(frozen=True)
class NB201Shape:
    """Input and head of one NB201 network; ``height``/``width`` must be divisible by 4."""

    in_channels: int = 3
    height: int = 32
    width: int = 32
    classes: int = 10

    @classmethod
    def of(cls, dataset: str) -> NB201Shape:
        if dataset not in NB201_INPUTS:
            raise unknown("dataset for FLOPs/params", dataset, NB201_INPUTS)
        return cls(*NB201_INPUTS[dataset])


def _stages(shape: NB201Shape) -> list[tuple[int, int]]:
    """(channels, pixels) of each stage: C doubles and the resolution halves per stage."""
    if shape.height % 4 or shape.width % 4:
        raise ValueError(f"NB201 input size must be divisible by 4, got {shape.height}x{shape.width}")
    return [(STEM_C * 2**s, (shape.height >> s) * (shape.width >> s)) for s in range(N_STAGES)]


def op_costs(shape: NB201Shape) -> tuple[np.ndarray, np.ndarray]:
    """Params and FLOPs that one edge with each op adds, summed over all 15 cells: two [5] arrays.

    A ``kxk`` conv edge at C channels and P pixels adds ``k*k*C*C + 2*C`` params (conv + BN
    affine) and ``k*k*C*C*P`` multiply-accumulates.
    """
    params = np.zeros(len(OPS), dtype=np.int64)
    flops = np.zeros(len(OPS), dtype=np.int64)
    for op, k in _KERNEL.items():
        i = OPS.index(op)
        for c, p in _stages(shape):
            params[i] += CELLS_PER_STAGE * (k * k * c * c + 2 * c)
            flops[i] += CELLS_PER_STAGE * (k * k * c * c * p)
    return params, flops


def base_costs(shape: NB201Shape) -> tuple[int, int]:
    """Params and FLOPs of everything outside the cells (stem, 2 ResNet blocks, head)."""
    (c1, p1), (c2, p2), (c3, p3) = _stages(shape)
    params = 9 * shape.in_channels * c1 + 2 * c1  # stem conv + BN
    flops = 9 * shape.in_channels * c1 * p1
    for cin, (cout, pout) in (((c1), (c2, p2)), ((c2), (c3, p3))):
        params += 9 * cin * cout + 2 * cout  # conv_a (stride 2) + BN
        params += 9 * cout * cout + 2 * cout  # conv_b + BN
        params += cin * cout  # shortcut conv1x1 after avg pooling
        flops += (9 * cin * cout + 9 * cout * cout + cin * cout) * pout
    params += 2 * c3 + c3 * shape.classes + shape.classes  # last BN, classifier weight + bias
    flops += c3 * shape.classes + shape.classes
    return params, flops


def nb201_costs(ops: np.ndarray, shape: NB201Shape | str = "cifar10") -> tuple[np.ndarray, np.ndarray]:
    """Params and FLOPs of many archs at once: ``ops`` is int [n, 6] (op index per edge)."""
    shape = NB201Shape.of(shape) if isinstance(shape, str) else shape
    ops = np.asarray(ops, dtype=np.int64)
    if ops.ndim != 2 or ops.shape[1] != 6 or ops.min(initial=0) < 0 or ops.max(initial=0) >= len(OPS):
        raise ValueError(f"ops must be an int array [n, 6] with values in 0..{len(OPS) - 1}")
    p_op, f_op = op_costs(shape)
    p0, f0 = base_costs(shape)
    return p0 + p_op[ops].sum(axis=1), f0 + f_op[ops].sum(axis=1)


def nb201_params(arch: Arch, dataset: str = "cifar10") -> int:
    """Parameter count of ``arch``'s network for ``dataset`` (cifar10, cifar100, imagenet16-120)."""
    return int(nb201_costs(np.array([arch.choices]), dataset)[0][0])


def nb201_flops(arch: Arch, dataset: str = "cifar10") -> int:
    """FLOPs (multiply-accumulates, NB201 convention) of ``arch``'s network for one image."""
    return int(nb201_costs(np.array([arch.choices]), dataset)[1][0])
