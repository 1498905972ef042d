"""AutoSpace: Eqs. 3-6 by hand, tournament selection, the DEA end to end, ProxylessNAS search,
and the Table 6 analogue (learned fitness ranks networks of increasing depth)."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from spacenas.data import load_dataset
from spacenas.errors import SpacenasError
from spacenas.nn.open_cell_net import LayerwiseNet, NetPlan, conv_bn
from spacenas.nn.ops import init_parameters_
from spacenas.spaces.open_cell import IRB_REFERENCE, OpenCellSpace, irb_space, load_layerwise
from spacenas.strategies.autospace import AutoSpace, AutoSpaceConfig, ProxylessConfig, proxyless_search
from spacenas.strategies.autospace.math import (count_compensation, fitness_mix, gate_alpha_grad, mixing_probs,
                                                momentum_update, regularized_loss, tournament_select)
from spacenas.strategies.autospace.proxyless import GatedSupernet, learn_fitness


@pytest.fixture(scope="module")
def digits():
    d = load_dataset("digits")
    return d.search_split(torch.Generator().manual_seed(0))


# ----- Eq. 3 --------------------------------------------------------------------------------
def test_eq3_fitness_weighted_mixing():
    # softmax([0, ln 3]) = [1/4, 3/4]; outputs 4 and 8 -> 4/4 + 8*3/4 = 1 + 6 = 7
    p = mixing_probs(torch.tensor([0.0, math.log(3.0)]))
    assert torch.allclose(p, torch.tensor([0.25, 0.75]))
    out = fitness_mix([torch.full((2,), 4.0), torch.full((2,), 8.0)], p)
    assert torch.allclose(out, torch.full((2,), 7.0))
    # the literal ratio alpha_k / sum alpha: [1, 3] -> [1/4, 3/4]
    assert torch.allclose(mixing_probs(torch.tensor([1.0, 3.0]), "ratio"), torch.tensor([0.25, 0.75]))
    with pytest.raises(SpacenasError, match="positive"):
        mixing_probs(torch.tensor([-1.0, 3.0]), "ratio")


# ----- Eq. 4 --------------------------------------------------------------------------------
def test_eq4_gate_gradient_and_compensation():
    p, gg = torch.tensor([0.25, 0.75]), torch.tensor([2.0, -1.0])
    # dL/da0 = 2*0.25*(1-0.25) + (-1)*0.75*(0-0.25) = 0.375 + 0.1875 = 0.5625
    # dL/da1 = 2*0.25*(0-0.75) + (-1)*0.75*(1-0.75) = -0.375 - 0.1875 = -0.5625
    assert torch.allclose(gate_alpha_grad(gg, p), torch.tensor([0.5625, -0.5625]))
    # compensation n/n' per path [2, 1] -> [1.125, -0.5625]
    assert torch.allclose(gate_alpha_grad(gg, p, torch.tensor([2.0, 1.0])), torch.tensor([1.125, -0.5625]))
    # n = 100 supernet iterations, n' = 25 for the cell -> 4; capped at 3
    assert count_compensation(100, 25) == 4.0 and count_compensation(100, 25, cap=3.0) == 3.0
    with pytest.raises(SpacenasError):
        count_compensation(100, 0)


def test_eq4_is_the_exact_softmax_gradient_for_a_loss_linear_in_the_gates():
    alpha = torch.tensor([0.3, -0.2, 0.5], requires_grad=True)
    c = torch.tensor([1.5, -2.0, 0.7])  # L = sum_k c_k p_k  ->  dL/dg_k = c_k
    (torch.softmax(alpha, 0) * c).sum().backward()
    assert torch.allclose(gate_alpha_grad(c, torch.softmax(alpha.detach(), 0)), alpha.grad, atol=1e-6)


# ----- Eq. 5 and Eq. 6 ------------------------------------------------------------------------
def test_eq5_momentum_and_eq6_loss():
    # eps = 0.3: 0.3*2 + 0.7*(-1) = 0.6 - 0.7 = -0.1
    assert momentum_update(2.0, -1.0, 0.3) == pytest.approx(-0.1)
    assert np.allclose(momentum_update(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 1.0), [1.0, 0.0])
    with pytest.raises(SpacenasError):
        momentum_update(1.0, 1.0, 1.5)
    # 1.5 + 0.1 * 2.0 = 1.7
    assert float(regularized_loss(torch.tensor(1.5), 2.0, 0.1)) == pytest.approx(1.7)


def test_tournament_selection():
    f = [0.1, 0.5, 0.3, 0.4]
    # tournament over everyone left: winners in fitness order
    assert tournament_select(f, 3, 4, np.random.default_rng(0)) == [1, 3, 2]
    for seed in range(5):
        w = tournament_select(f, 3, 1, np.random.default_rng(seed))
        assert len(set(w)) == 3
    with pytest.raises(SpacenasError):
        tournament_select(f, 5, 2, np.random.default_rng(0))


# ----- the DEA ----------------------------------------------------------------------------------
def test_reference_constrained_mutation():
    plan = NetPlan(channels=[8], strides=[1], stem_channels=8)
    dea = AutoSpace(AutoSpaceConfig(tau=0.1, k=2, population=4), plan)
    rng = np.random.default_rng(0)
    ref = dea.space.parse(IRB_REFERENCE)
    # one edge (3<-1) differs from the reference: 1/12 < tau = 0.1; changing any other edge gives 2/12
    near = dea.space.parse("r3:add:|dwconv3x3~0|+|zero~0|identity~1|+|zero~0|conv1x1~1|identity~2|")
    assert dea.space.distance_to(near, ref) == pytest.approx(1 / 12)
    for _ in range(10):
        child = dea.mutate(near, rng, use_ref=True, taken=set())
        assert dea.space.distance_to(child, ref) < 0.1
    free = [dea.space.distance_to(dea.mutate(near, rng, use_ref=False, taken=set()), ref) for _ in range(20)]
    assert max(free) >= 0.1  # unconstrained mutations do leave the ball
    # every edge differs (6/12); one mutation can only reach 5/12: the closest draw is kept
    far = dea.space.parse("r1:mul:|conv3x3~0|+|conv3x3~0|conv3x3~1|+|conv3x3~0|conv3x3~1|zero~2|")
    assert dea.space.distance_to(far, ref) == pytest.approx(6 / 12)
    assert dea.space.distance_to(dea.mutate(far, rng, use_ref=True, taken=set()), ref) == pytest.approx(5 / 12)
    pop = dea.initial_population(rng)
    assert all(dea.space.distance_to(dea.space.parse(m.text), ref) < 0.1 for m in pop[0])


# ----- dead cells where the shape changes (the +26660 fitness of an earlier docs run) -------------
def test_eq4_through_batchnorm_of_a_constant_input_by_hand():
    """Why a cell without live edges must not be a path where the shape changes: it outputs
    zeros, and when it is the active path (gate g = [1, 0]) the next BatchNorm sees a constant
    input. By hand, a batch of three scalars, other path b(x) = [1, 3, 2], Eq. 3 mix
    h = g0 a + g1 b, BN (gamma 1, beta 0, train mode), L = y_0 (dL/dy = [1, 0, 0]);
    BN's backward: dL/dh = (dy - mean(dy) - h^ mean(dy h^)) / sqrt(var + eps).

    * dead active path a = [0, 0, 0]: var = 0, h^ = 0, dL/dh = [2/3, -1/3, -1/3] / sqrt(1e-5);
      dL/dg1 = <dL/dh, b> = (2/3 - 1 - 2/3) / sqrt(1e-5) = -316.23, and Eq. 4 at p = [1/2, 1/2]:
      dL/dalpha1 = dL/dg0 p0 (0 - p1) + dL/dg1 p1 (1 - p1) = 0 - 316.23 / 4 = -79.06.
    * live active path a = [0, 1, 2]: var = 2/3, h^ = [-1, 0, 1] sqrt(3/2), mean(dy h^) = -sqrt(3/2)/3,
      dL/dh = [1/6, -1/3, 1/6] / sqrt(2/3); dL/dg0 = <dL/dh, a> = 0 (BN is scale-invariant),
      dL/dg1 = (1/6 - 1 + 1/3) / sqrt(2/3) = -0.5 sqrt(3/2) = -0.6124; Eq. 4: -0.6124 / 4 = -0.1531.

    One BN layer amplifies by 1/sqrt(eps) = 316, a chain of them by 316^k: the docs run had a
    gate gradient of -1.1e6 and a fitness step of +5.3e4, written back (Eq. 5, eps 0.5) as +26660.96."""
    eps = 1e-5
    b = torch.tensor([[1.0], [3.0], [2.0]])

    def gate_grad(a: torch.Tensor) -> torch.Tensor:
        g = torch.tensor([1.0, 0.0], requires_grad=True)
        y = nn.BatchNorm1d(1, eps=eps)(fitness_mix([a, b], g))
        return torch.autograd.grad(y[0, 0], g)[0]

    p = torch.tensor([0.5, 0.5])
    dead = gate_grad(torch.zeros(3, 1))
    assert float(dead[0]) == 0.0 and float(dead[1]) == pytest.approx(-1.0 / math.sqrt(eps), rel=1e-5)  # -316.23
    assert float(gate_alpha_grad(dead, p)[1]) == pytest.approx(-0.25 / math.sqrt(eps), rel=1e-5)  # -79.06
    live = gate_grad(torch.tensor([[0.0], [1.0], [2.0]]))
    assert float(live[0]) == pytest.approx(0.0, abs=1e-4)  # 0 up to eps
    assert float(live[1]) == pytest.approx(-0.5 * math.sqrt(1.5), rel=1e-4)  # -0.6124
    assert float(gate_alpha_grad(live, p)[1]) == pytest.approx(-0.125 * math.sqrt(1.5), rel=1e-4)  # -0.1531


def test_dea_keeps_dead_cells_out_of_layers_that_change_shape():
    # layer 1 has stride 2: a cell without live edges would output zeros there; layers 0 and 2
    # are skippable (a dead cell is the identity there) and may hold it
    plan = NetPlan(stem_channels=8, channels=[8, 8, 8], strides=[1, 2, 1])
    dea = AutoSpace(AutoSpaceConfig(population=40, k=2), plan)
    dead = dea.space.parse("r1:add:|identity~0|+|zero~0|identity~1|+|zero~0|zero~1|zero~2|")
    assert dea.space.live_edges(dead) == []
    assert [dea._admissible(l, dead) for l in range(3)] == [True, False, True]
    assert dea._admissible(1, dea.space.parse(IRB_REFERENCE))
    rng = np.random.default_rng(0)
    pops = dea.initial_population(rng)
    lives = [[bool(dea.space.live_edges(dea.space.parse(m.text))) for m in pop] for pop in pops]
    assert all(lives[1]) and not all(lives[0] + lives[2])  # dead cells are drawn, and kept out of layer 1 only
    ref = dea.space.parse(IRB_REFERENCE)  # a chain: one edge set to zero kills it
    kids = {l: [dea.mutate(ref, rng, use_ref=False, taken=set(), layer=l) for _ in range(200)] for l in (0, 1)}
    assert all(dea.space.live_edges(c) for c in kids[1])
    assert not all(dea.space.live_edges(c) for c in kids[0])


def _tiny(reference):
    plan = NetPlan(stem_channels=8, channels=[8, 8, 8], strides=[1, 2, 1])
    cfg = AutoSpaceConfig(rounds=2, steps_per_round=6, population=4, k=2, tournament=2, offspring=2,
                          batch_size=32, reference=reference)
    return AutoSpace(cfg, plan)


def test_dea_end_to_end_tiny(digits, tmp_path):
    train, valid = digits
    dea = _tiny(IRB_REFERENCE)
    res = dea.run(train, valid, np.random.default_rng(0), torch.Generator().manual_seed(0))
    space = OpenCellSpace()
    assert res.space.n_choices == (2, 2, 2) and len(res.losses) == 12
    for layer in res.space.layers:
        for text in layer:
            space.parse(text)
    assert res.subspace.size == 8
    assert all(f[0] >= f[1] for f in res.fitness)  # top-K by fitness
    assert all(len(p) == 4 for p in res.populations)
    # weight inheritance: one module per (layer, cell), reused when asked again
    (l, t), m = next(iter(dea.cache.items()))
    assert dea._module(l, t, torch.Generator(), "cpu") is m
    res.save(tmp_path / "space.json")
    loaded = load_layerwise(tmp_path / "space.json")
    assert loaded.layers == res.space.layers
    # same seeds, same space
    again = _tiny(IRB_REFERENCE).run(train, valid, np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert again.space.layers == res.space.layers and again.losses == res.losses


def test_proxyless_search_respects_the_madds_penalty(digits):
    train, valid = digits
    plan = NetPlan(stem_channels=8, channels=[8, 8], strides=[1, 1])
    space = irb_space(2, kernels=(3, 7), expansions=(6,), zero=True)  # irb_k3_e6, irb_k7_e6, zero
    cfg = ProxylessConfig(epochs=2, warmup_epochs=0, lam=50.0, batch_size=64)
    res = proxyless_search(space, plan, train.subset(torch.arange(256)), valid.subset(torch.arange(256)),
                           cfg, torch.Generator().manual_seed(0))
    # a huge lambda on MAdds: every layer ends on the free 'zero' block
    assert res.arch_text == "zero ; zero"
    assert space.parse(res.arch_text) == res.arch


# ----- Table 6 analogue -----------------------------------------------------------------------
class _Basic(nn.Module):
    """ResNet basic block."""

    def __init__(self, c):
        super().__init__()
        self.a, self.b = conv_bn(c, c, 3), conv_bn(c, c, 3, relu=False)

    def forward(self, x):
        return torch.relu(x + self.b(self.a(x)))


def _net(c, depth, g):
    m = nn.Sequential(*[_Basic(c) for _ in range(depth)]) if depth else nn.Identity()
    init_parameters_(m, g)
    return m


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_table6_fitness_ranks_networks_by_depth(digits, seed):
    """Net1 < Net2 < Net3 (0, 1 and 3 basic blocks after the stem) from random 1e-3 scores."""
    train, valid = digits
    g = torch.Generator().manual_seed(seed)
    plan = NetPlan(stem_channels=8, channels=[8], strides=[1])
    net = GatedSupernet(LayerwiseNet(plan, generator=g), [[_net(8, d, g) for d in (0, 1, 3)]], [[0.0] * 3])
    alphas = [1e-3 * torch.randn(3, generator=g)]
    # one warm-up epoch of weight steps on uniformly sampled paths, then 4 epochs of fitness steps
    _, snaps = learn_fitness(net, alphas, train, valid, ProxylessConfig(epochs=5, warmup_epochs=1), g)
    a = snaps[-1][0]
    assert a[0] < a[1] < a[2], snaps
