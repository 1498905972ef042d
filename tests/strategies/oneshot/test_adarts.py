"""A-DARTS: activation mixture weights (hand-worked), tri-level order, derivation with activations."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F

from spacenas.data import load_dataset
from spacenas.errors import SpacenasError
from spacenas.nn import activations as nn_acts
from spacenas.nn.supernets import DARTSSupernet, NB201Supernet
from spacenas.spaces import factorized
from spacenas.spaces.factorized import DARTSActSpace, NB201ActSpace
from spacenas.strategies.oneshot.adarts import (ADARTS, activation_weights, darts_edge_of_decision,
                                                parameterized_ops)
from spacenas.strategies.oneshot.loop import search


def data(n_train=128, n_valid=128):
    x, y = load_dataset("digits").train.batch(torch.arange(n_train + n_valid))
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def nb201(seed=1):
    return NB201Supernet(C=4, N=1, num_classes=10, in_channels=1, act_mixture=True,
                         generator=torch.Generator().manual_seed(seed))


def make(config=None, net=None, seed=0):
    net = net or nb201()
    return ADARTS(net.arch_shapes(), config, generator=torch.Generator().manual_seed(seed)), net


def test_activation_weights_eq3_softmax_of_beta():
    # beta = (0 x 8, ln 2): exp -> (1 x 8, 2), sum 10 -> (0.1 x 8, 0.2)
    beta = torch.zeros(1, 9)
    beta[0, 8] = math.log(2)
    torch.testing.assert_close(activation_weights(beta), torch.tensor([[0.1] * 8 + [0.2]]))


def test_activation_mixture_eq3_hand_worked():
    # 0.25 relu + 0.75 elu at x = -1: 0.25 * 0 + 0.75 * (e^-1 - 1) = 0.75 * -0.632121 = -0.474091
    #                       at x =  2: 0.25 * 2 + 0.75 * 2 = 2
    mix = nn_acts.ActivationMixture()
    w = torch.zeros(9)
    w[nn_acts.ACTIVATIONS.index("relu")], w[nn_acts.ACTIVATIONS.index("elu")] = 0.25, 0.75
    torch.testing.assert_close(mix(torch.tensor([-1.0, 2.0]), w), torch.tensor([-0.474091, 2.0]))


def test_space_facts_agree_with_the_network():
    assert factorized.ACTIVATIONS == nn_acts.ACTIVATIONS
    net = nb201()
    assert parameterized_ops(net.op_names) == NB201ActSpace().factors[0].applies_to
    from spacenas.spaces.darts import SUPERNET_OPS
    assert parameterized_ops(SUPERNET_OPS) == DARTSActSpace().factors[0].applies_to


def test_config():
    st, _ = make()
    assert st.config.arch_lr == 6e-4 and st.config.act_lr == 6e-4  # paper Sec. 4.2
    assert st.act_weights()["cell"].shape == (6, 9)
    with pytest.raises(SpacenasError, match="unknown activation 'tanh'"):
        make({"fixed_activation": "tanh"})
    with pytest.raises(SpacenasError, match="unknown option"):
        make({"gamma": 1})
    plain = NB201Supernet(C=4, N=1, num_classes=10, in_channels=1)
    with pytest.raises(SpacenasError, match="act_mixture=True"):
        st.setup(plain, 1)


def _manual_step(st, net, batch, beta_with_new_alpha=True):
    """Algorithm 1 lines 4-5 written out (or with beta's gradient at the old alpha)."""
    x, y = batch
    alphas, betas = st.arch_parameters(), st.act_parameters()
    g_a = torch.autograd.grad(F.cross_entropy(st.forward(net, x), y), alphas)
    g_b_old = torch.autograd.grad(F.cross_entropy(st.forward(net, x), y), betas)
    for p, g in zip(alphas, g_a):
        p.grad = g.clone()
    st.arch_optimizer.step()
    g_b = torch.autograd.grad(F.cross_entropy(st.forward(net, x), y), betas) if beta_with_new_alpha else g_b_old
    for p, g in zip(betas, g_b):
        p.grad = g.clone()
    st.act_optimizer.step()


def test_tri_level_update_order():
    (x, y), _ = data(32, 0)
    st, net = make({"arch_lr": 0.5, "act_lr": 0.5})
    net.eval()  # BatchNorm with running stats: every forward pass sees the same function
    ref, wrong = copy.deepcopy(st), copy.deepcopy(st)
    beta0 = st.beta["cell"].detach().clone()
    alpha0 = st.params["cell"].detach().clone()
    st.arch_step(net, (x, y))
    _manual_step(ref, net, (x, y))
    _manual_step(wrong, net, (x, y), beta_with_new_alpha=False)
    assert not torch.allclose(st.beta["cell"], beta0) and not torch.allclose(st.params["cell"], alpha0)
    torch.testing.assert_close(st.params["cell"], ref.params["cell"])
    torch.testing.assert_close(st.beta["cell"], ref.beta["cell"])
    # the order matters: beta's step at the old alpha would give another beta
    assert not torch.allclose(wrong.beta["cell"], ref.beta["cell"], atol=1e-7, rtol=0)


def test_fixed_activation_search():
    (x, y), _ = data(16, 0)
    st, net = make({"fixed_activation": "selu"})
    beta0 = st.beta["cell"].detach().clone()
    st.arch_step(net, (x, y))
    assert torch.equal(st.beta["cell"], beta0)
    w = st.act_weights()["cell"]
    assert (w[:, nn_acts.ACTIVATIONS.index("selu")] == 1).all() and w.sum() == 6
    arch = st.derive_factorized(net)
    assert set(NB201ActSpace().factor_choices(arch, "act")) <= {"selu", None}


def test_derive_carries_activation_per_edge():
    st, net = make()
    with torch.no_grad():
        st.params["cell"].zero_()
        st.params["cell"][:, 3] = 5.0  # nor_conv_3x3 everywhere ...
        st.params["cell"][1, 1] = 9.0  # ... but a skip on edge 1
        st.beta["cell"].zero_()
        for e in range(6):
            st.beta["cell"][e, e] = 3.0  # edge e prefers activation e
    arch = st.derive_factorized(net)
    space = NB201ActSpace()
    assert space.format(arch) == ("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+"
                                  "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2| @act=relu,-,leaky_relu,prelu,rrelu,elu")
    assert st.derive(net) == space.base_arch(arch)
    fixed = st.derive_factorized(net, activation="relu")
    assert space.factor_choices(fixed, "act") == ("relu", None, "relu", "relu", "relu", "relu")


def test_darts_decision_to_edge_mapping():
    net = DARTSSupernet(C=2, layers=3, num_classes=10, in_channels=1, act_mixture=True,
                        generator=torch.Generator().manual_seed(0))
    st, _ = make(net=net)
    with torch.no_grad():
        for k in ("normal", "reduce"):
            st.beta[k].zero_()
            for e in range(14):
                st.beta[k][e, e % 9] = 3.0
            st.params[k].zero_()
            st.params[k][:, 4] = 2.0  # sep_conv_3x3 everywhere
    arch = st.derive_factorized(net)
    space = DARTSActSpace()
    space.check(arch)
    acts = space.factor_choices(arch, "act")
    for n, i in enumerate(space.factored):
        cell, e = darts_edge_of_decision(space.base_arch(arch), i)
        assert acts[n] == nn_acts.ACTIVATIONS[e % 9]
    # node 3 (second intermediate) input 2 is edge 2 + 2 = 4 of its cell
    a = space.base.from_pairs({"normal": [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0),
                                          ("sep_conv_3x3", 2)] + [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 2,
                               "reduce": [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4})
    assert darts_edge_of_decision(a, 7) == ("normal", 4)


def test_search_end_to_end_and_resume_state():
    tr, va = data()
    st, net = make()
    r = search(st, net, tr, va, {"epochs": 2, "batch_size": 32, "max_steps": 3}, progress=False)
    space = NB201ActSpace()
    assert len(st.derived) == 2
    full = space.parse(st.derived[-1])
    assert space.format(full) == r.arch_text  # the result carries the activations
    assert space.base.format(space.base_arch(full)) == space.base.format(r.arch)
    assert r.history[-1]["arch"] == r.arch_text
    assert "act_loss" in r.history[0]
    st2, _ = make(seed=3)
    st2.load_state_dict(st.state_dict())
    torch.testing.assert_close(st2.beta["cell"], st.beta["cell"])
    assert st2.derive_factorized(net) == st.derive_factorized(net)
    assert st2.act_optimizer.state_dict()["state"][0]["step"] == st.act_optimizer.state_dict()["state"][0]["step"]


def test_joint_update_option_steps_both_from_one_pass():
    (x, y), _ = data(16, 0)
    st, net = make({"update": "joint", "arch_lr": 0.5, "act_lr": 0.5})
    net.eval()
    ref = copy.deepcopy(st)
    st.arch_step(net, (x, y))
    params = ref.arch_parameters() + ref.act_parameters()
    grads = torch.autograd.grad(F.cross_entropy(ref.forward(net, x), y), params)
    for p, g in zip(params, grads):
        p.grad = g.clone()
    ref.arch_optimizer.step()
    ref.act_optimizer.step()
    torch.testing.assert_close(st.params["cell"], ref.params["cell"])
    torch.testing.assert_close(st.beta["cell"], ref.beta["cell"])


def test_wrong_config_type_is_named_without_a_wrong_article():
    from spacenas.strategies.oneshot.adarts import ADARTS
    from spacenas.strategies.oneshot.gdas import GDASConfig

    with pytest.raises(SpacenasError) as e:
        ADARTS({"normal": (14, 5)}, GDASConfig())
    assert str(e.value) == "ADARTS needs a config of type ADARTSConfig, got one of type GDASConfig"
