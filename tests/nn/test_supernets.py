"""NB201 and DARTS supernets: the Supernet contract, masks, derivation, partial channels, widening,
and the NB201 network against the benchmark's own parameter counts."""
from __future__ import annotations

import pytest
import torch

from spacenas.benchmarks.nb201 import load_nb201
from spacenas.errors import SpacenasError
from spacenas.nn.activations import ACTIVATIONS
from spacenas.nn.derive import derive_nb201, top2_node
from spacenas.nn.mixed import MixedOp
from spacenas.nn.supernets import DARTSSupernet, NB201Net, NB201Supernet
from spacenas.spaces.darts import DARTSSpace
from spacenas.spaces.nb201 import OPS, NB201Space


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def digits_batch(n: int = 4) -> torch.Tensor:
    return torch.randn(n, 1, 8, 8, generator=gen(1))


def tiny_nb201(**kw) -> NB201Supernet:
    return NB201Supernet(C=4, N=1, num_classes=10, in_channels=1, generator=gen(), **kw)


def tiny_darts(**kw) -> DARTSSupernet:
    return DARTSSupernet(C=4, layers=3, num_classes=10, in_channels=1, generator=gen(), **kw)


def uniform(net) -> dict[str, torch.Tensor]:
    return {k: torch.full(s, 1.0 / s[1], requires_grad=True) for k, s in net.arch_shapes().items()}


# ----- benchmark fidelity --------------------------------------------------------------------
def test_nb201_network_matches_benchmark_param_counts():
    """The shipped `params` come from the benchmark's own network (C=16, N=5, 10 classes,
    affine BN): built by our code, the counts must match exactly."""
    b = load_nb201()
    rows = [int(b.params.argmin()), int(b.params.argmax()), 0, 1, 777, 4242]
    for r in rows:
        n = sum(p.numel() for p in NB201Net(b.arch_at(r)).parameters())
        assert n == int(b.params[r]), b.space.format(b.arch_at(r))
    # all-skip arch has no cell parameters: 73306 = stem 464 + blocks 14464 + 57600 + BN 128 + fc 650
    skip = NB201Space().parse("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|")
    assert sum(p.numel() for p in NB201Net(skip).parameters()) == 464 + 14464 + 57600 + 128 + 650


# ----- NB201 supernet ------------------------------------------------------------------------
def test_nb201_contract_forward_backward():
    net = tiny_nb201()
    assert net.arch_shapes() == {"cell": (6, 5)} and net.op_names == OPS
    w = uniform(net)
    out = net(digits_batch(), w)
    assert out.shape == (4, 10)
    out.sum().backward()
    assert w["cell"].grad.shape == (6, 5) and w["cell"].grad[:, 1:].abs().sum() > 0
    assert w["cell"].grad[:, 0].abs().sum() == 0  # `none` contributes nothing


def test_nb201_mask_skips_ops_in_every_cell():
    net = tiny_nb201()
    calls = {n: 0 for n in OPS[1:]}
    for m in net.modules():
        if isinstance(m, MixedOp):
            for i, op in m.ops.items():
                op.register_forward_hook(lambda *_, n=OPS[int(i)]: calls.__setitem__(n, calls[n] + 1))
    mask = torch.ones(6, 5, dtype=torch.bool)
    mask[:, 3] = False  # nor_conv_3x3 off everywhere
    mask[0, 2] = False  # nor_conv_1x1 off on edge 0
    net(digits_batch(), uniform(net), {"cell": mask})
    n_cells = 3  # N=1 per stage
    assert calls == {"skip_connect": 6 * n_cells, "nor_conv_1x1": 5 * n_cells, "nor_conv_3x3": 0,
                     "avg_pool_3x3": 6 * n_cells}


def test_nb201_bad_arguments():
    net = tiny_nb201()
    with pytest.raises(SpacenasError, match="shape"):
        net(digits_batch(), {"cell": torch.ones(6, 4)})
    with pytest.raises(SpacenasError, match="keys"):
        net(digits_batch(), {"normal": torch.ones(6, 5)})
    with pytest.raises(SpacenasError, match="act_mixture"):
        net(digits_batch(), uniform(net), act_weights={"cell": torch.ones(6, len(ACTIVATIONS))})


def test_activation_mixture_weights_reach_the_ops():
    net = tiny_nb201(act_mixture=True)
    a = {"cell": torch.full((6, 9), 1 / 9, requires_grad=True)}
    net(digits_batch(), uniform(net), act_weights=a).sum().backward()
    assert a["cell"].grad.abs().sum() > 0


def test_nb201_derive_argmax_with_mask():
    scores = torch.tensor([[0.0, 1, 2, 3, 4]] * 6)
    mask = torch.ones(6, 5, dtype=torch.bool)
    mask[0, 4] = False  # edge 0: best unmasked is nor_conv_3x3 (3)
    mask[1, 2:] = False  # edge 1: skip_connect (1) beats none (0)
    arch = derive_nb201(scores, mask)
    assert arch.choices == (3, 1, 4, 4, 4, 4)
    assert tiny_nb201().derive({"cell": scores}).choices == (4,) * 6
    mask[2] = False
    with pytest.raises(SpacenasError, match="every op masked"):
        derive_nb201(scores, mask)


def test_partial_channels_and_widening_keep_the_network_running():
    net = tiny_nb201()
    x, w = digits_batch(), uniform(net)
    net.set_partial_channels(4, gen(2))
    assert net.partial_k == 4 and net(x, w).shape == (4, 10)
    edge = net.body.layers[0].edges[0]
    conv_before = edge.ops["3"].conv.weight.detach().clone()  # 1x1 channels in stage 1
    net.widen(2, gen(3))
    assert net.partial_k == 2 and net(x, w).shape == (4, 10)
    after = edge.ops["3"].conv.weight
    assert after.shape == (2, 2, 3, 3) and torch.equal(after[:1, :1], conv_before)
    net.widen(2, gen(3))
    assert net.partial_k == 1
    fresh = sum(p.numel() for p in tiny_nb201().parameters())
    assert sum(p.numel() for p in net.parameters()) == fresh  # full width again
    with pytest.raises(SpacenasError, match="divisible"):
        net.widen(2, gen())


def test_same_generator_same_supernet():
    a, b = tiny_nb201(), tiny_nb201()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


# ----- DARTS supernet ------------------------------------------------------------------------
def test_darts_contract_forward_backward_partial_widen():
    net = tiny_darts()
    assert net.arch_shapes() == {"normal": (14, 8), "reduce": (14, 8)}
    w = uniform(net)
    net(digits_batch(), w).sum().backward()
    assert w["reduce"].grad.abs().sum() > 0 and w["normal"].grad.abs().sum() > 0
    net.set_partial_channels(2)
    net.widen(2, gen())
    masks = {k: torch.rand(s, generator=gen(4)) > 0.5 for k, s in net.arch_shapes().items()}
    assert net(digits_batch(), w, masks).shape == (4, 10)


def test_darts_top2_rule_hand_worked():
    none = 0
    # node with 3 inputs x 4 ops (op 0 = none). Strengths without none: in0 0.3, in1 0.25, in2 0.5
    s = torch.tensor([[0.9, 0.3, 0.1, 0.0],
                      [0.1, 0.2, 0.25, 0.0],
                      [0.0, 0.1, 0.1, 0.5]]).numpy()
    assert top2_node(s, none) == [(0, 1), (2, 3)]  # in0 wins despite its huge `none`


def test_darts_derive_full():
    net = tiny_darts()
    scores = {k: torch.zeros(14, 8) for k in ("normal", "reduce")}
    scores["normal"][:, 4] = 1.0  # sep_conv_3x3 everywhere, ties -> lowest inputs
    scores["normal"][:, 0] = 5.0  # `none` is ignored
    scores["reduce"][:, 1] = torch.arange(14.0)  # later edges stronger: max_pool on the last two inputs
    masks = {k: torch.ones(14, 8, dtype=torch.bool) for k in scores}
    masks["normal"][0, 4] = False  # node 2 input 0 loses sep_conv_3x3; its next best op (index 1) ties at 0
    g = DARTSSpace().genotype(net.derive(scores, masks))
    assert g["normal"][:2] == [("max_pool_3x3", 0), ("sep_conv_3x3", 1)]
    assert g["normal"][2:] == [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 3
    assert g["reduce"] == [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("max_pool_3x3", 1), ("max_pool_3x3", 2),
                           ("max_pool_3x3", 2), ("max_pool_3x3", 3), ("max_pool_3x3", 3), ("max_pool_3x3", 4)]
    masks["normal"][0, 1:] = False
    masks["normal"][1, 1:] = False
    with pytest.raises(SpacenasError, match="two inputs"):
        net.derive(scores, masks)
