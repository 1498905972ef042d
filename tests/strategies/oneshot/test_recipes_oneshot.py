"""The papers' recipes in the one-shot strategies (issue 12): per-stage warm-up, momentum carried
over a widening, k 6 -> 4, the authors' DARTS-space input ranking, the authors' unrolled step."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spacenas.errors import SpacenasError
from spacenas.nn.derive import derive_darts
from spacenas.nn.mixed import MixedOp
from spacenas.nn.supernets import DARTSSupernet, NB201Supernet
from spacenas.spaces.darts import SUPERNET_OPS as DARTS_OPS
from spacenas.spaces.darts import DARTSSpace
from spacenas.strategies.oneshot.darts import DARTS, unrolled_arch_grads, unrolled_weights
from spacenas.strategies.oneshot.drnas import DrNAS
from spacenas.strategies.oneshot.loop import search
from spacenas.strategies.oneshot.progressive import (Progressive, ProgressiveConfig,
                                                     default_progressive, widen_with_momentum)


def images(n: int, seed: int, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.arange(n) % classes


# ----- per-stage warm-up ----------------------------------------------------------------------
def test_arch_active_counts_epochs_within_each_stage():
    p = Progressive(ProgressiveConfig(partial_k=[2, 1], keep_ops=[5, 3], stage_warmup_epochs=2))
    p.starts = [0, 3]  # stages 0..2 and 3..5
    assert [p.arch_active(e) for e in range(6)] == [False, False, True, False, False, True]
    p0 = Progressive(ProgressiveConfig(partial_k=[2, 1], keep_ops=[5, 3]))
    p0.starts = [0, 3]
    assert all(p0.arch_active(e) for e in range(6))


class CountingDrNAS(DrNAS):
    """DrNAS that counts its architecture steps per epoch."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.epoch, self.steps = 0, {}

    def on_epoch_start(self, epoch, supernet):
        self.epoch = epoch

    def arch_step(self, *a, **k):
        self.steps[self.epoch] = self.steps.get(self.epoch, 0) + 1
        return super().arch_step(*a, **k)


def test_warmup_counts_architecture_steps_per_stage():
    """Two stages of 3 epochs, warm-up 2, 2 steps per epoch: arch steps only in epochs 2 and 5."""
    net = NB201Supernet(C=4, N=1, num_classes=3, in_channels=1, generator=torch.Generator().manual_seed(0))
    prog = {"partial_k": [2, 1], "keep_ops": [5, 3], "stage_warmup_epochs": 2}
    s = CountingDrNAS(net.arch_shapes(), {"progressive": prog}, torch.Generator().manual_seed(1))
    res = search(s, net, images(24, 0), images(24, 1), {"epochs": 6, "batch_size": 8, "max_steps": 2},
                 progress=False)
    assert s.steps == {2: 2, 5: 2}
    assert ["valid_loss" in h for h in res.history] == [False, False, True, False, False, True]


def test_warmup_longer_than_a_stage_is_an_error():
    net = NB201Supernet(C=4, N=1, num_classes=3, in_channels=1)
    s = DrNAS(net.arch_shapes(), {"progressive": {"partial_k": [2, 1], "keep_ops": [5, 3], "stage_warmup_epochs": 10}})
    with pytest.raises(SpacenasError, match="stage_warmup_epochs=10"):
        search(s, net, images(8, 0), images(8, 1), {"epochs": 10, "max_steps": 1}, progress=False)


# ----- momentum over a stage switch -------------------------------------------------------------
def _switch(momentum: str):
    net = NB201Supernet(C=4, N=1, num_classes=3, in_channels=1, generator=torch.Generator().manual_seed(0))
    s = DrNAS(net.arch_shapes(), {"progressive": {"partial_k": [2, 1], "keep_ops": [5, 3], "momentum": momentum}},
              torch.Generator().manual_seed(1))
    s.setup(net, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for p in net.parameters():  # a buffer that is exactly twice the weight
        opt.state[p]["momentum_buffer"] = 2.0 * p.detach().clone()
    s.bind_weight_optimizer(opt)
    assert s.on_epoch_end(0, net)  # stage switch: prune 5 -> 3 ops, widen k 2 -> 1
    new = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    s.bind_weight_optimizer(new)
    return net, new


def test_carried_momentum_is_widened_like_its_weight():
    """Widening is an index selection, so a buffer 2 W becomes 2 U for every widened weight U."""
    net, opt = _switch("carry")
    assert all(m.k == 1 for m in net.modules() if isinstance(m, MixedOp))
    n = 0
    for p in net.parameters():
        torch.testing.assert_close(opt.state[p]["momentum_buffer"], 2.0 * p.detach(), rtol=0, atol=0)
        n += 1
    assert n > 0


def test_restarted_momentum_is_empty():
    _, opt = _switch("restart")
    assert len(opt.state) == 0


def test_carry_needs_the_same_maps_as_the_weights():
    """The buffers come from a twin widened with a copy of the generator: same maps, and the
    strategy's generator advances exactly as in a widening without momentum."""
    torch.manual_seed(0)
    a = NB201Supernet(C=4, N=1, num_classes=3, in_channels=1, generator=torch.Generator().manual_seed(0))
    b = NB201Supernet(C=4, N=1, num_classes=3, in_channels=1, generator=torch.Generator().manual_seed(0))
    for net in (a, b):
        net.set_partial_channels(2, torch.Generator().manual_seed(5))
    opt = torch.optim.SGD(a.parameters(), lr=0.1, momentum=0.9)
    ga, gb = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    widen_with_momentum(a, opt, 2, 1, ga)
    b.widen(2, gb)
    assert torch.equal(ga.get_state(), gb.get_state())
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


# ----- k 6 -> 4 -------------------------------------------------------------------------------
def test_widen_six_to_four_grows_ops_from_c_over_6_to_c_over_4():
    """C=12: normal edges 12 channels (ops 2 -> 3), reduction edges 24 (ops 4 -> 6). The old
    channels keep their weights; the split then sends C/4 channels through the ops."""
    net = DARTSSupernet(C=12, layers=3, num_classes=3, in_channels=1, generator=torch.Generator().manual_seed(0))
    net.set_partial_channels(6, torch.Generator().manual_seed(1))
    mixed = [m for m in net.modules() if isinstance(m, MixedOp)]
    def conv(m):  # first conv of sep_conv_3x3 (depthwise, [width, 1, 3, 3])
        return next(c for c in m.ops["4"].modules() if isinstance(c, nn.Conv2d))

    before = {id(m): (m.width, conv(m).weight.detach().clone()) for m in mixed}
    net.widen_to(4, torch.Generator().manual_seed(2))
    for m in mixed:
        w_old, conv_old = before[id(m)]
        assert m.k == 4 and m.width == m.C // 4 and m.width * 2 == w_old * 3
        assert torch.equal(conv(m).weight[:w_old], conv_old)
    x = torch.randn(2, 1, 8, 8)
    w = {k: torch.full(s, 1.0 / s[1]) for k, s in net.arch_shapes().items()}
    assert net(x, w).shape == (2, 3)


DARTS_SCHEDULES = DARTSSpace.progressive_schedules


def test_code_schedule_runs_and_paper_schedule_kept():
    assert ProgressiveConfig(**DARTS_SCHEDULES["code"]).partial_k == [6, 4]
    assert default_progressive("nb201") == ProgressiveConfig()  # NB201: the config's defaults
    assert default_progressive("darts").partial_k == [6, 3]
    assert default_progressive("darts", "code").drop_ops == ["none"]
    with pytest.raises(SpacenasError, match="allowed: paper, code"):
        default_progressive("darts", "other")
    with pytest.raises(Exception, match="must not increase"):
        ProgressiveConfig(partial_k=[4, 6], keep_ops=[7, 4])
    net = DARTSSupernet(C=12, layers=3, num_classes=3, in_channels=1, generator=torch.Generator().manual_seed(0))
    s = DrNAS(net.arch_shapes(), {"progressive": {**DARTS_SCHEDULES["code"], "stage_warmup_epochs": 0}},
              torch.Generator().manual_seed(1))
    res = search(s, net, images(8, 0), images(8, 1), {"epochs": 2, "batch_size": 4, "max_steps": 1}, progress=False)
    none = DARTS_OPS.index("none")
    assert not s.op_masks["normal"][:, none].any()  # the code has no `none` op
    assert int(s.op_masks["normal"].sum(1).max()) == 4
    assert all(m.k == 4 for m in net.modules() if isinstance(m, MixedOp))
    assert res.arch_text.startswith("Genotype(")


# ----- DARTS-space derivation: the authors' softmax(eta) ranking -----------------------------------
def _eta() -> dict[str, torch.Tensor]:
    """Node 3 (edges 2, 3, 4 = inputs 0, 1, 2), op sep_conv_3x3 (index 4) on top; other ops:

    input 0: eta 3 on top, 0 elsewhere: mean 4/11 = 0.3636, softmax e^3/(e^3+7) = 0.7416
    input 1: eta 1, -1 elsewhere:        mean 2/(2+7/e) = 0.4372, softmax e/(e+7/e) = 0.5135
    input 2: eta 0, -1.5 elsewhere:      mean = softmax = 1/(1+7e^-1.5) = 0.3903
    Dirichlet mean ranks inputs 1, 2 (0.437, 0.390 > 0.364); softmax ranks 0, 1 (0.742, 0.514).
    """
    eta = torch.zeros(14, 8)
    for edge, (top, rest) in zip((2, 3, 4), ((3.0, 0.0), (1.0, -1.0), (0.0, -1.5))):
        eta[edge] = rest
        eta[edge, 4] = top
    return {"normal": eta, "reduce": eta.clone()}


def _node3_inputs(strategy: DrNAS) -> list[int]:
    g = strategy.derive(type("Net", (), {"derive": staticmethod(
        lambda scores, masks: derive_darts(scores, masks, DARTS_OPS))})())
    pairs = strategy_space().genotype(g)["normal"][2:4]
    assert all(op == "sep_conv_3x3" for op, _ in pairs)  # same op either way
    return sorted(j for _, j in pairs)


def strategy_space():
    from spacenas.spaces.darts import DARTSSpace
    return DARTSSpace()


@pytest.mark.parametrize("rule,inputs", [("softmax", [0, 1]), ("mean", [1, 2])])
def test_darts_derivation_ranks_inputs_by_the_chosen_rule(rule, inputs):
    s = DrNAS({"normal": (14, 8), "reduce": (14, 8)}, {"derive": rule})
    with torch.no_grad():
        for k, v in _eta().items():
            s.params[k].copy_(v)
    assert _node3_inputs(s) == inputs
    assert DrNAS.Config().derive == "softmax"  # the authors' rule is the default


# ----- second-order DARTS: the authors' unrolled step ---------------------------------------------
def test_unrolled_weights_hand_numbers():
    w = torch.tensor([1.0, -2.0], dtype=torch.float64)
    out = unrolled_weights(w, torch.tensor([0.5, 0.25], dtype=torch.float64), 0.1,
                           torch.tensor([0.1, -0.2], dtype=torch.float64), 0.9, 0.01)
    torch.testing.assert_close(out, torch.tensor([0.94, -2.005], dtype=torch.float64))
    torch.testing.assert_close(unrolled_weights(w, torch.tensor([0.5, 0.25], dtype=torch.float64), 0.1),
                               torch.tensor([0.95, -2.025], dtype=torch.float64))


class TwoWeights(nn.Module):
    """logits = (theta_0 w_0 x, theta_1 w_1 x): two weights, mixing weights theta = softmax(alpha)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))

    def forward(self, x, weights, masks=None, act_weights=None):
        t = weights["cell"][0]
        return x * (t * self.w)


def _exact_second_order(alpha, w, buf, xi, mom, wd, train, valid):
    """grad_alpha L_val(w'(alpha), alpha) with w' = w - xi (mom buf + grad_w L_train + wd w), by autograd."""
    a = alpha.detach().clone().requires_grad_(True)

    def loss(weights, batch):
        x, y = batch
        return nn.functional.cross_entropy(x * (torch.softmax(a, -1)[0] * weights), y)

    g = torch.autograd.grad(loss(w, train), w, create_graph=True)[0]
    w2 = w - xi * (mom * buf + g + wd * w)
    return torch.autograd.grad(loss(w2, valid), a)[0], w2.detach()


def test_authors_unrolled_step_matches_the_exact_gradient_on_two_weights():
    net = TwoWeights()
    s = DARTS({"cell": (1, 2)}, {"second_order": True, "unroll": "authors", "unroll_lr": 0.1})
    with torch.no_grad():
        s.params["cell"].data = torch.tensor([[0.3, -0.1]], dtype=torch.float64)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    opt.state[net.w]["momentum_buffer"] = torch.tensor([0.1, -0.2], dtype=torch.float64)
    s.bind_weight_optimizer(opt)
    train = (torch.tensor([[1.0], [2.0]], dtype=torch.float64), torch.tensor([0, 1]))
    valid = (torch.tensor([[-1.0], [0.5]], dtype=torch.float64), torch.tensor([1, 0]))
    grads, _ = s.arch_grads(net, valid, train, lr=0.5)
    exact, w2 = _exact_second_order(s.params["cell"], net.w, opt.state[net.w]["momentum_buffer"],
                                    0.1, 0.9, 0.01, train, valid)
    torch.testing.assert_close(grads[0], exact, rtol=1e-5, atol=1e-8)
    assert torch.equal(net.w.detach(), torch.tensor([1.0, -2.0], dtype=torch.float64))  # restored
    # hand check of w': grad_w L_train at w for this batch, then the authors' step
    x, y = train
    logits = x * (torch.softmax(s.params["cell"].detach(), -1)[0] * net.w.detach())
    p = torch.softmax(logits, -1)
    gw = ((p - nn.functional.one_hot(y, 2)) * x * torch.softmax(s.params["cell"].detach(), -1)[0]).mean(0)
    torch.testing.assert_close(w2, torch.tensor([1.0, -2.0], dtype=torch.float64)
                               - 0.1 * (0.9 * torch.tensor([0.1, -0.2], dtype=torch.float64) + gw
                                        + 0.01 * torch.tensor([1.0, -2.0], dtype=torch.float64)))
    # the paper's step gives another gradient here (the buffer is as large as the gradient)
    paper, _ = unrolled_arch_grads(s, net, valid, train, 0.1)
    assert not torch.allclose(paper[0], grads[0], rtol=1e-3)
    assert math.isfinite(float(grads[0].sum()))


def test_authors_unroll_needs_the_weight_optimizer():
    s = DARTS({"cell": (1, 2)}, {"second_order": True, "unroll": "authors", "unroll_lr": 0.1})
    x = (torch.ones(2, 1, dtype=torch.float64), torch.tensor([0, 1]))
    with pytest.raises(SpacenasError, match="weight optimizer"):
        s.arch_grads(TwoWeights(), x, x, lr=0.1)
