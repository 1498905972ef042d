"""Equations of the one-shot strategies, checked against hand-worked numbers."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spacenas.strategies.oneshot.base import masked_softmax
from spacenas.strategies.oneshot.darts import DARTS, unrolled_arch_grads
from spacenas.strategies.oneshot.drnas import (DrNAS, anchor_l2, concentration, dirichlet_mean, dirichlet_rsample,
                                               kl_to_uniform)
from spacenas.strategies.oneshot.gdas import gumbel_noise, hard_gumbel_softmax, linear_tau
from spacenas.strategies.oneshot.loop import cosine_lr
from spacenas.strategies.oneshot.progressive import stage_starts, top_n_mask


def test_masked_softmax_hand():
    # logits (0, ln 3, 5), mask (T, T, F): exp -> (1, 3, -), sum 4 -> (1/4, 3/4, 0)
    out = masked_softmax(torch.tensor([0.0, math.log(3.0), 5.0]), torch.tensor([True, True, False]))
    assert torch.allclose(out, torch.tensor([0.25, 0.75, 0.0]))


def test_concentration_elu_plus_one_hand():
    # ELU(-1) = e^-1 - 1 -> beta = e^-1 = 0.367879; ELU(0) = 0 -> 1; ELU(2) = 2 -> 3
    beta = concentration(torch.tensor([-1.0, 0.0, 2.0]))
    assert torch.allclose(beta, torch.tensor([math.exp(-1.0), 1.0, 3.0]))


def test_dirichlet_mean_hand():
    # (1, 3) / 4 = (0.25, 0.75); masked: (1, [5], 3) with op 1 off -> (0.25, 0, 0.75)
    assert torch.allclose(dirichlet_mean(torch.tensor([1.0, 3.0])), torch.tensor([0.25, 0.75]))
    m = dirichlet_mean(torch.tensor([1.0, 5.0, 3.0]), torch.tensor([True, False, True]))
    assert torch.allclose(m, torch.tensor([0.25, 0.0, 0.75]))


def test_anchor_l2_value_and_gradient_hand():
    # lam ||eta||^2 = 1e-3 * (0.25 + 4) = 4.25e-3; gradient 2 lam eta = (1e-3, -4e-3)
    eta = torch.tensor([0.5, -2.0], requires_grad=True)
    v = anchor_l2(eta, 1e-3)
    v.backward()
    assert v.item() == pytest.approx(4.25e-3)
    assert torch.allclose(eta.grad, torch.tensor([1e-3, -4e-3]))


def test_anchor_as_adam_weight_decay_hand():
    # default anchor: Adam weight decay 1e-3 on eta, generic arch weight decay off
    s = DrNAS({"cell": (1, 2)}, generator=torch.Generator().manual_seed(0))
    assert s.arch_optimizer.param_groups[0]["weight_decay"] == pytest.approx(1e-3)
    # with a zero data gradient, Adam's first step is -lr * sign(wd * eta): 0.5 - 3e-4 = 0.4997
    with torch.no_grad():
        s.params["cell"].copy_(torch.tensor([[0.5, -2.0]]))
    s.params["cell"].grad = torch.zeros(1, 2)
    s.arch_optimizer.step()
    assert torch.allclose(s.params["cell"].detach(), torch.tensor([[0.4997, -1.9997]]), atol=1e-7)
    assert s.penalty() is None
    s2 = DrNAS({"cell": (1, 2)}, {"anchor": "l2"}, torch.Generator().manual_seed(0))
    with torch.no_grad():
        s2.params["cell"].copy_(torch.tensor([[0.5, -2.0]]))
    assert s2.arch_optimizer.param_groups[0]["weight_decay"] == 0.0
    assert s2.penalty().item() == pytest.approx(4.25e-3)


def test_kl_to_uniform_hand():
    # KL(Dir(2,1) || Dir(1,1)) = lnG(3) - lnG(2) - lnG(1) - lnG(2) + 1*(psi(2) - psi(3)) = ln 2 - 1/2
    assert kl_to_uniform(torch.tensor([2.0, 1.0])).item() == pytest.approx(math.log(2) - 0.5, abs=1e-6)
    assert kl_to_uniform(torch.tensor([1.0, 1.0, 1.0])).item() == pytest.approx(0.0, abs=1e-6)


def test_kl_anchor_penalty_hand():
    # eta (1, 0) -> beta (ELU(1) + 1, ELU(0) + 1) = (2, 1) -> 1e-3 * (ln 2 - 1/2)
    s = DrNAS({"cell": (1, 2)}, {"anchor": "kl"}, torch.Generator().manual_seed(0))
    with torch.no_grad():
        s.params["cell"].copy_(torch.tensor([[1.0, 0.0]]))
    assert s.penalty().item() == pytest.approx(1e-3 * (math.log(2) - 0.5), abs=1e-9)


def test_dirichlet_sample_is_seeded_and_equals_torch_rsample():
    beta = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 4.0]], requires_grad=True)
    a = dirichlet_rsample(beta, torch.Generator().manual_seed(7))
    b = dirichlet_rsample(beta, torch.Generator().manual_seed(7))
    c = dirichlet_rsample(beta, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.allclose(a.sum(-1), torch.ones(2))
    gout = torch.tensor([[0.3, -1.0, 2.0], [1.0, 0.0, -0.5]])
    (ga,) = torch.autograd.grad((a * gout).sum(), beta)
    beta2 = beta.detach().clone().requires_grad_(True)
    with torch.random.fork_rng():  # test-only: the reference uses the global RNG
        torch.manual_seed(7)
        ref = torch.distributions.Dirichlet(beta2).rsample()
    (gref,) = torch.autograd.grad((ref * gout).sum(), beta2)
    assert torch.allclose(a.detach(), ref.detach())
    assert torch.allclose(ga, gref)


def test_dirichlet_pathwise_gradient_hand():
    # beta = (1, 1): theta_1 ~ Beta(1, 1) with CDF F(x) = x^beta_1 (beta_2 = 1 fixed), f = 1,
    # so Eq. 3 gives d theta_1 / d beta_1 = -dF/dbeta_1 / f = -x ln x at x = theta_1.
    beta = torch.ones(5, 2, requires_grad=True)
    theta = dirichlet_rsample(beta, torch.Generator().manual_seed(3))
    (g,) = torch.autograd.grad(theta[:, 0].sum(), beta)
    x = theta[:, 0].detach()
    assert torch.allclose(g[:, 0], -x * torch.log(x), atol=1e-4)


def test_dirichlet_gradients_reach_eta_and_masked_ops_get_zero():
    eta = torch.zeros(3, 4, requires_grad=True)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True], [False, True, True, False]])
    theta = dirichlet_rsample(concentration(eta), torch.Generator().manual_seed(0), mask)
    assert torch.allclose(theta.sum(-1), torch.ones(3))
    assert (theta[~mask] == 0).all() and (theta[mask] > 0).all()
    (g,) = torch.autograd.grad((theta * torch.arange(4.0)).sum(), eta)
    assert (g[~mask] == 0).all() and (g[mask] != 0).all()
    one = dirichlet_rsample(torch.ones(1, 3), torch.Generator(), torch.tensor([[False, True, False]]))
    assert torch.equal(one, torch.tensor([[0.0, 1.0, 0.0]]))


def test_hard_gumbel_softmax_straight_through_hand():
    # zero noise, tau 1, logits (0, ln 3, 5) with op 2 masked: y = (1/4, 3/4, 0), k = 1
    logits = torch.tensor([[0.0, math.log(3.0), 5.0]], requires_grad=True)
    w, hard = hard_gumbel_softmax(logits, torch.zeros(1, 3), 1.0, torch.tensor([[True, True, False]]))
    assert torch.allclose(w.detach(), torch.tensor([[0.0, 1.0, 0.0]]))
    assert hard.tolist() == [[False, True, False]]
    # d w_1 / d logits = y_1 (delta_1j - y_j) / tau = 0.75 * (-0.25, 0.25, 0) = (-0.1875, 0.1875, 0)
    (g,) = torch.autograd.grad(w[0, 1], logits)
    assert torch.allclose(g, torch.tensor([[-0.1875, 0.1875, 0.0]]))


def test_gumbel_noise_is_seeded():
    a = gumbel_noise((4, 5), torch.Generator().manual_seed(1))
    assert torch.equal(a, gumbel_noise((4, 5), torch.Generator().manual_seed(1)))
    assert torch.isfinite(a).all()


def test_schedules_hand():
    # 10 -> 0.1 over 4 epochs in steps of 9.9 / 3 = 3.3
    assert [round(linear_tau(e, 4, 10.0, 0.1), 6) for e in range(4)] == [10.0, 6.7, 3.4, 0.1]
    # cosine: epoch 1 of 2 -> 0.001 + 0.024 * (1 + cos(pi/2)) / 2 = 0.013
    assert cosine_lr(0, 2, 0.025, 0.001) == pytest.approx(0.025)
    assert cosine_lr(1, 2, 0.025, 0.001) == pytest.approx(0.013)
    # 10 epochs in 3 stages: 3, 3, 4
    assert stage_starts(10, 3) == [0, 3, 6]
    assert stage_starts(4, 2, [1, 3]) == [0, 1]


def test_top_n_mask_hand():
    # scores (0.1, 0.4, 0.2, 0.3) with op 3 masked, keep 2 -> ops 1 (0.4) and 2 (0.2)
    m = top_n_mask(torch.tensor([[0.1, 0.4, 0.2, 0.3]]), torch.tensor([[True, True, True, False]]), 2)
    assert m.tolist() == [[False, True, True, False]]


class _Tiny(nn.Module):
    """logits = sum_o theta_o * tanh(W_o x) (double precision), for the unrolled gradient."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(3, 3, 4, generator=g, dtype=torch.float64) * 0.5)

    def forward(self, x, weights, masks=None, act_weights=None):
        return torch.einsum("o,obi,ni->nb", weights["cell"][0], torch.tanh(self.w), x)


def test_second_order_darts_matches_exact_unrolled_gradient():
    net = _Tiny()
    s = DARTS({"cell": (1, 3)}, {"second_order": True}, torch.Generator().manual_seed(0))
    with torch.no_grad():
        s.params["cell"].data = torch.tensor([[0.2, -0.1, 0.3]], dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    tr = (torch.randn(6, 4, generator=g, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2]))
    va = (torch.randn(6, 4, generator=g, dtype=torch.float64), torch.tensor([2, 1, 0, 0, 2, 1]))
    xi = 0.5
    approx, _ = unrolled_arch_grads(s, net, va, tr, xi)
    # exact: d/dalpha L_val(w - xi * dL_train/dw (w, alpha), alpha), by double backprop
    alpha = s.params["cell"]
    w = net.w
    theta = {"cell": torch.softmax(alpha, -1)}
    lt = nn.functional.cross_entropy(net(tr[0], theta), tr[1])
    (gw,) = torch.autograd.grad(lt, w, create_graph=True)
    w2 = w - xi * gw
    out = torch.einsum("o,obi,ni->nb", theta["cell"][0], torch.tanh(w2), va[0])
    (exact,) = torch.autograd.grad(nn.functional.cross_entropy(out, va[1]), alpha)
    first, _ = s.__class__.__mro__[1].arch_grads(s, net, va)
    assert torch.allclose(approx[0], exact, rtol=1e-3, atol=1e-7)
    assert not torch.allclose(first[0], exact, rtol=1e-3, atol=1e-7)  # the second-order term matters
    assert torch.equal(net.w.detach(), _Tiny().w.detach())  # weights restored
