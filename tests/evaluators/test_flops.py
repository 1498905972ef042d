"""FLOPs / params of NB201 networks: hand counts, an independent torch count, the shipped table."""
import numpy as np
import pytest
import torch
from torch import nn

from spacenas.benchmarks import load_nb201
from spacenas.benchmarks.flops import NB201Shape, base_costs, nb201_costs, nb201_flops, nb201_params, op_costs
from spacenas.spaces.base import Arch
from spacenas.spaces.nb201 import EDGES, OPS

NONE6 = Arch("nb201", (0,) * 6)


def test_all_none_network_by_hand():
    # CIFAR-10, 32x32x3, stages (C, pixels) = (16, 1024), (32, 256), (64, 64)
    # params: stem 9*3*16 + 2*16 = 464
    #   res 16->32: 9*16*32 + 64 + 9*32*32 + 64 + 16*32 = 4672 + 9280 + 512 = 14464
    #   res 32->64: 9*32*64 + 128 + 9*64*64 + 128 + 32*64 = 18560 + 36992 + 2048 = 57600
    #   head: BN 128 + 64*10 + 10 = 778;  total 464 + 14464 + 57600 + 778 = 73306
    assert nb201_params(NONE6) == 73306
    # FLOPs: stem 27*16*1024 = 442368; res1 (4608 + 9216 + 512)*256 = 3670016;
    #   res2 (18432 + 36864 + 2048)*64 = 3670016; fc 640 + 10 = 650;  total 7783050
    assert nb201_flops(NONE6) == 7783050
    # CIFAR-100 adds 90 classes: 90*64 weights + 90 biases = 5850 params and as many FLOPs
    assert nb201_params(NONE6, "cifar100") == 73306 + 5850
    assert nb201_flops(NONE6, "cifar100") == 7783050 + 5850


def test_tiny_input_by_hand():
    shape = NB201Shape(in_channels=1, height=4, width=4, classes=2)  # stages (16,16), (32,4), (64,1)
    # params: stem 9*16 + 32 = 176; res blocks 14464 + 57600 (as above); head 128 + 128 + 2 = 258
    # FLOPs: stem 9*16*16 = 2304; res1 14336*4 = 57344; res2 57344*1 = 57344; fc 128 + 2 = 130
    assert base_costs(shape) == (176 + 14464 + 57600 + 258, 2304 + 57344 + 57344 + 130)
    p, f = op_costs(shape)
    # conv3x3 edge over 15 cells: params 5*(9*256+32) + 5*(9*1024+64) + 5*(9*4096+128) = 243040
    #   FLOPs 5*9*256*16 + 5*9*1024*4 + 5*9*4096*1 = 184320 * 3 = 552960
    i3, i1 = OPS.index("nor_conv_3x3"), OPS.index("nor_conv_1x1")
    assert p[i3] == 243040 and f[i3] == 552960
    # conv1x1 edge: params 5*(256+32) + 5*(1024+64) + 5*(4096+128) = 28000, FLOPs 552960 / 9 = 61440
    assert p[i1] == 28000 and f[i1] == 61440
    assert p[[0, 1, 4]].sum() == 0 and f[[0, 1, 4]].sum() == 0
    ops = np.array([[i3, i1, 0, 0, 0, 0]])
    assert nb201_costs(ops, shape) == (72498 + 243040 + 28000, 117122 + 552960 + 61440)


# ----- an independent count on a torch model built from the NB201 definition -----------------
class _Cell(nn.Module):
    def __init__(self, ops, c):
        super().__init__()
        mods = []
        for o in ops:
            name = OPS[o]
            if name.startswith("nor_conv"):
                k = int(name[-1])
                mods.append(nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, k, padding=k // 2, bias=False), nn.BatchNorm2d(c)))
            elif name == "avg_pool_3x3":
                mods.append(nn.AvgPool2d(3, 1, 1, count_include_pad=False))
            elif name == "skip_connect":
                mods.append(nn.Identity())
            else:
                mods.append(None)
        self.edges = nn.ModuleList([m if m is not None else nn.Identity() for m in mods])
        self.zero = [m is None for m in mods]

    def forward(self, x):
        nodes = [x]
        for t in range(1, 4):
            nodes.append(sum(self.edges[k](nodes[s]) * (0.0 if self.zero[k] else 1.0)
                             for k, (tt, s) in enumerate(EDGES) if tt == t))
        return nodes[3]


class _Res(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.a = nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout))
        self.b = nn.Sequential(nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.down = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x):
        return self.b(self.a(x)) + self.down(x)


def _torch_net(ops, classes=10):
    layers = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)]
    for s, c in enumerate((16, 32, 64)):
        if s:
            layers.append(_Res(c // 2, c))
        layers += [_Cell(ops, c) for _ in range(5)]
    layers += [nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes)]
    return nn.Sequential(*layers)


def _torch_count(net, hw):
    macs = []

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            macs.append(m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1] * out[0, 0].numel())
        else:
            macs.append(m.in_features * m.out_features + m.out_features)

    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        net(torch.zeros(1, 3, hw, hw))
    return sum(p.numel() for p in net.parameters()), sum(macs)


@pytest.mark.parametrize("choices", [(3, 3, 3, 3, 3, 3), (4, 2, 3, 1, 0, 2)])
def test_matches_a_torch_model_of_the_definition(choices):
    arch = Arch("nb201", choices)
    params, flops = _torch_count(_torch_net(choices), 32)
    assert nb201_params(arch) == params and nb201_flops(arch) == flops


def test_params_match_the_shipped_column_for_all_archs():
    nb = load_nb201()
    params, flops = nb201_costs(nb.ops, "cifar10")
    mismatch = np.flatnonzero(params != nb.params)
    assert len(mismatch) == 0, f"{len(mismatch)} archs differ, first row {mismatch[:5]}"
    # range on CIFAR-10: all-none 7.78 MFLOPs, all-conv3x3 adds 6 edges x 35389440 (= 3 stages x 5 cells x 9*C*C*P)
    assert flops.min() == 7783050 and flops.max() == 7783050 + 6 * 35389440


def test_bad_inputs():
    from spacenas.errors import SpacenasError

    with pytest.raises(SpacenasError, match="unknown dataset for FLOPs/params 'ninapro'"):
        nb201_flops(NONE6, "ninapro")
    with pytest.raises(ValueError, match="divisible by 4"):
        op_costs(NB201Shape(height=30, width=30))
    with pytest.raises(ValueError, match=r"\[n, 6\]"):
        nb201_costs(np.array([[0, 1, 2]]))
