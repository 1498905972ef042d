"""Ops, activations, the mixed edge (mixture, mask, partial channels) and the widening map."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spacenas.errors import SpacenasError
from spacenas.nn.activations import ACTIVATIONS, ActivationMixture, RReLU, Swish, mix_activations
from spacenas.nn.mixed import MixedOp, channel_shuffle, mix
from spacenas.nn.ops import DARTS_OPS, NB201_OPS, FactorizedReduce, ReLUConvBN, init_parameters_, make_op
from spacenas.nn.widen import random_mapping, widen_bn, widen_channels_, widen_conv, widen_weight


class Spy(nn.Module):
    """A fake op ``x -> scale * x + shift`` that counts its calls."""

    has_act = False

    def __init__(self, scale: float, shift: float = 0.0) -> None:
        super().__init__()
        self.scale, self.shift, self.calls = scale, shift, 0

    def forward(self, x, act=None):
        self.calls += 1
        return self.scale * x + self.shift


def spy_edge(k: int = 1) -> tuple[MixedOp, dict[int, Spy]]:
    m = MixedOp(NB201_OPS, 4, 1, k=k)
    spies = {1: Spy(1.0), 2: Spy(2.0), 3: Spy(1.0, 1.0), 4: Spy(-1.0)}
    for i, s in spies.items():
        m.ops[str(i)] = s
    return m, spies


# ----- mixture -------------------------------------------------------------------------------
def test_mix_two_fake_ops_hand_worked():
    x = torch.full((1, 1, 1, 1), 2.0)
    # A(x) = 2x = 4, B(x) = x + 1 = 3; 0.25 * 4 + 0.75 * 3 = 1 + 2.25 = 3.25
    out = mix([2 * x, x + 1], [torch.tensor(0.25), torch.tensor(0.75)])
    assert out.item() == pytest.approx(3.25)


def test_mixed_op_weighted_sum_and_mask_skips_ops():
    m, spies = spy_edge()
    x = torch.full((1, 4, 2, 2), 2.0)
    w = torch.tensor([0.5, 0.1, 0.2, 0.3, 0.4])
    # all active: 0.1*2 + 0.2*4 + 0.3*3 + 0.4*(-2) = 0.2 + 0.8 + 0.9 - 0.8 = 1.1 (none adds 0)
    assert torch.allclose(m(x, w), torch.full_like(x, 1.1))
    assert all(s.calls == 1 for s in spies.values())
    # mask out ops 2 and 4: 0.1*2 + 0.3*3 = 1.1 as well, but only ops 1 and 3 are called
    active = [True, True, False, True, False]
    assert torch.allclose(m(x, w, active), torch.full_like(x, 1.1))
    assert [spies[i].calls for i in (1, 2, 3, 4)] == [2, 1, 2, 1]
    # only `none` active: zeros, no op called
    out = m(x, w, [True, False, False, False, False])
    assert torch.equal(out, torch.zeros_like(x)) and spies[1].calls == 2


def test_masked_op_gets_no_gradient_and_none_has_no_module():
    m = MixedOp(NB201_OPS, 4, 1)
    assert "0" not in m.ops  # `none` is never built
    x = torch.randn(2, 4, 4, 4)
    w = torch.full((5,), 0.2, requires_grad=True)
    m(x, w, [True, True, False, True, True]).sum().backward()
    assert m.ops["2"].conv.weight.grad is None  # nor_conv_1x1 was masked: never ran
    assert m.ops["3"].conv.weight.grad is not None
    assert w.grad[0] == 0 and w.grad[2] == 0


def test_channel_shuffle_hand_worked():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    # view as [3 groups, 2] = [[0,1],[2,3],[4,5]], transpose -> [[0,2,4],[1,3,5]]
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]


def test_partial_channels_hand_worked():
    m, spies = spy_edge()
    m.set_partial_channels(2)
    for i, s in spies.items():  # rebuilt ops: put the spies back
        m.ops[str(i)] = s
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1, 1)
    w = torch.tensor([0.0, 1.0, 0.5, 0.0, 0.0])
    # ops see channels [1, 2]: 1*[1,2] + 0.5*2*[1,2] = [2, 4]; bypass [3, 4];
    # cat [2, 4, 3, 4], shuffle with 2 groups: [[2,4],[3,4]]^T -> [2, 3, 4, 4]
    out = m(x, w, [True, True, True, False, False])
    assert out.flatten().tolist() == [2.0, 3.0, 4.0, 4.0]
    assert m.width == 2


def test_partial_channels_reduction_edge_shapes_and_errors():
    m = MixedOp(DARTS_OPS, 8, 2, pool_bn=True, k=4)
    y = m(torch.randn(2, 8, 6, 6), torch.full((8,), 1 / 8))
    assert y.shape == (2, 8, 3, 3)
    with pytest.raises(SpacenasError, match="divisor"):
        m.set_partial_channels(3)
    with pytest.raises(SpacenasError, match="even"):
        m.set_partial_channels(8)  # 1 channel cannot go through FactorizedReduce


@pytest.mark.parametrize("name", [o for o in DARTS_OPS if o != "none"] + ["nor_conv_1x1", "nor_conv_3x3"])
@pytest.mark.parametrize("stride", [1, 2])
def test_ops_keep_channels_and_scale_space(name, stride):
    op = make_op(name, 4, stride, affine=False, pool_bn=True)
    assert op(torch.randn(2, 4, 8, 8)).shape == (2, 4, 8 // stride, 8 // stride)


def test_leading_relu_is_replaceable():
    op = ReLUConvBN(2, 2, 1, 1, 0, affine=False).eval()
    x = torch.randn(1, 2, 3, 3)
    assert torch.equal(op(x), op(x, act=torch.relu))
    assert not torch.allclose(op(x), op(x, act=lambda t: t))
    with pytest.raises(SpacenasError, match="unknown op"):
        make_op("conv_7x7", 2, 1, False, False)


def test_init_with_generator_is_reproducible():
    a, b = ReLUConvBN(3, 3, 3, 1, 1), ReLUConvBN(3, 3, 3, 1, 1)
    init_parameters_(a, torch.Generator().manual_seed(5))
    init_parameters_(b, torch.Generator().manual_seed(5))
    assert torch.equal(a.conv.weight, b.conv.weight)
    # PyTorch's default bound 1/sqrt(fan_in), fan_in = 3 * 3 * 3 = 27
    assert a.conv.weight.abs().max() <= 1 / math.sqrt(27) and a.conv.weight.abs().max() > 0.8 / math.sqrt(27)


# ----- activations ---------------------------------------------------------------------------
def test_activations_and_mixture_hand_worked():
    assert len(ACTIVATIONS) == 9
    mixture = ActivationMixture()
    x = torch.tensor([-1.0, 2.0])
    w = torch.zeros(9)
    w[ACTIVATIONS.index("relu")] = 0.5
    w[ACTIVATIONS.index("leaky_relu")] = 0.5
    # x=-1: 0.5*0 + 0.5*(-0.01) = -0.005; x=2: 0.5*2 + 0.5*2 = 2
    assert torch.allclose(mixture(x, w), torch.tensor([-0.005, 2.0]))
    # Swish b=1 at 2: 2 * sigmoid(2) = 2 / (1 + e^-2) = 1.7615942
    assert Swish()(torch.tensor(2.0)).item() == pytest.approx(2 / (1 + math.exp(-2)))
    # RReLU without generator: slope (1/8 + 1/3)/2 = 11/48 in both modes
    assert RReLU().train()(torch.tensor([-1.0])).item() == pytest.approx(-11 / 48)
    # masked activations are not computed: only relu6 active -> min(max(x,0),6)
    only = [n == "relu6" for n in ACTIVATIONS]
    assert mix_activations(torch.tensor([7.0]), mixture.acts, torch.ones(9), only).item() == 6.0


def test_rrelu_with_generator_is_random_within_bounds_and_reproducible():
    x = -torch.ones(1000)
    y1 = RReLU(generator=torch.Generator().manual_seed(1)).train()(x)
    y2 = RReLU(generator=torch.Generator().manual_seed(1)).train()(x)
    assert torch.equal(y1, y2)
    assert (-y1 >= 1 / 8).all() and (-y1 <= 1 / 3).all() and y1.std() > 0.01


# ----- widening (DrNAS Eq. 7-8) --------------------------------------------------------------
def test_random_mapping_identity_head_random_tail():
    g = random_mapping(3, 8, torch.Generator().manual_seed(0))
    assert g[:3].tolist() == [0, 1, 2] and len(g) == 8 and ((g >= 0) & (g < 3)).all()
    assert torch.equal(g, random_mapping(3, 8, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError):
        random_mapping(4, 3, torch.Generator())


def test_widen_conv_pair_hand_worked():
    c1, c2 = nn.Conv2d(1, 2, 1, bias=False), nn.Conv2d(2, 1, 1, bias=False)
    with torch.no_grad():
        c1.weight.copy_(torch.tensor([1.0, 2.0]).view(2, 1, 1, 1))
        c2.weight.copy_(torch.tensor([3.0, 4.0]).view(1, 2, 1, 1))
    g = torch.tensor([0, 1, 0])  # new channel 2 copies old channel 0
    u1 = widen_conv(c1, g, None)  # output side: [1, 2, 1]
    u2 = widen_conv(c2, torch.tensor([0]), g)  # input side: [3, 4, 3] -- no division (Net2Net: 1.5, 4, 1.5)
    assert u1.weight.flatten().tolist() == [1.0, 2.0, 1.0]
    assert u2.weight.flatten().tolist() == [3.0, 4.0, 3.0]
    # x=1: before 3*1 + 4*2 = 11; after 3*1 + 4*2 + 3*1 = 14 (not function-preserving, by choice)
    x = torch.ones(1, 1, 1, 1)
    assert u2(u1(x)).item() == 14.0 and c2(c1(x)).item() == 11.0
    w = torch.arange(4.0).view(2, 2)
    assert widen_weight(w, torch.tensor([1, 0, 1]), torch.tensor([0, 0])).tolist() == [[2, 2], [0, 0], [2, 2]]


def test_widen_bn_and_depthwise():
    bn = nn.BatchNorm2d(2)
    bn.running_mean.copy_(torch.tensor([0.1, 0.2]))
    assert torch.allclose(widen_bn(bn, torch.tensor([0, 1, 1])).running_mean, torch.tensor([0.1, 0.2, 0.2]))
    dw = nn.Conv2d(2, 2, 3, groups=2, bias=False)
    new = widen_conv(dw, torch.tensor([0, 1, 1, 0]), None)
    assert new.groups == 4 and torch.equal(new.weight[3], dw.weight[0])


@pytest.mark.parametrize("name", ["sep_conv_3x3", "dil_conv_5x5", "skip_connect", "max_pool_3x3", "nor_conv_3x3"])
def test_widen_whole_op_runs(name):
    stride = 2 if name == "skip_connect" else 1
    op = make_op(name, 2, stride, affine=True, pool_bn=True)
    gen = torch.Generator().manual_seed(0)
    widen_channels_(op, 2, 4, gen)
    assert op(torch.randn(2, 4, 4, 4)).shape == (2, 4, 4 // stride, 4 // stride)
    if isinstance(op, FactorizedReduce):
        assert op.conv1.weight.shape == (2, 4, 1, 1) and op.bn.num_features == 4
