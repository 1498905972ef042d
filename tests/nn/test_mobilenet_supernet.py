"""MobileNet-like supernet, SupernetEvaluator (MAdds limit), accuracy predictor, end to end."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spacenas import registry
from spacenas.data import load_dataset
from spacenas.errors import SpacenasError
from spacenas.evaluators.base import Result
from spacenas.evaluators.predictor import AccuracyPredictor, encode, fit_predictor, ridge_fit
from spacenas.evaluators.supernet import SupernetEvaluator, is_feasible, make_supernet_evaluator
from spacenas.nn.madds_mobilenet import subnet_cost
from spacenas.nn.mobilenet_supernet import (
    DynamicBN, MobileNetShape, MobileNetSupernet, depthwise_conv, random_subnet, toeplitz_index, train_supernet)
from spacenas.spaces.mobilenet import MobileNetSpace

S = MobileNetSpace()
TINY = {"stem_width": 4, "widths": (4, 4, 6, 6, 8), "head_width": 8}
TINY_SHAPE = MobileNetShape(**TINY)


def _net(seed: int = 0, shape=None) -> MobileNetSupernet:
    return MobileNetSupernet(shape or TINY, generator=torch.Generator().manual_seed(seed))


def test_forward_archs_of_different_depths_kernels_expansions():
    net = _net().eval()
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    outs = {}
    for t in ("1100" * 5, "9999" * 5, "3570" "1100" "9990" "2468" "7700"):
        out = net(x, S.parse(t))
        assert out.shape == (3, 10) and torch.isfinite(out).all()
        outs[t] = out
    assert not torch.allclose(outs["1100" * 5], outs["9999" * 5])


def test_all_parameters_used_by_largest_arch_and_counted():
    net = _net()
    big = S.parse("9" * 20)
    n = sum(p.numel() for p in net.parameters())
    assert subnet_cost(big, net.shape).params == n  # analytic count == real tensor sizes
    for m in net.modules():  # residual BNs start at gamma = 0, which would stop gradients
        if isinstance(m, DynamicBN):
            torch.nn.init.ones_(m.weight)
    net(torch.randn(2, 1, 8, 8), big).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_elastic_kernel_is_centre_crop_of_7x7():
    net = _net()
    layer = net.units[0][0]
    w7 = layer.depthwise.weight
    assert torch.equal(layer.kernel_weight(3, 6), w7[:, :, 2:5, 2:5])
    assert torch.equal(layer.kernel_weight(5, 6), w7[:, :, 1:6, 1:6])
    # expansion: first e * c_in channels
    assert torch.equal(layer.kernel_weight(3, 3), w7[: 3 * layer.c_in, :, 2:5, 2:5])
    # a gradient through the k=3 sub-network lands only on the 3x3 centre of the shared kernel
    a3 = S.from_layers((((3, 3),) * 2,) * 5)
    net(torch.randn(4, 1, 8, 8), a3).sum().backward()
    g = layer.depthwise.weight.grad
    assert g[: 3 * layer.c_in, :, 2:5, 2:5].abs().sum() > 0
    outside = g.clone()
    outside[: 3 * layer.c_in, :, 2:5, 2:5] = 0
    assert outside.abs().sum() == 0


def test_elastic_kernel_output_equals_explicit_small_conv():
    # the k=3 sub-network of a layer computes exactly a 3x3 depthwise conv with the centre weights
    net = _net()
    layer = net.units[1][1]  # stride 1, residual
    x = torch.randn(2, layer.c_in, 4, 4)
    layer.eval()
    got = layer(x, 3, 4)
    mid = 4 * layer.c_in
    h = F.relu(layer.bn1(F.conv2d(x, layer.expand.weight[:mid])))
    h = F.conv2d(h, layer.depthwise.weight[:mid, :, 2:5, 2:5], padding=1, groups=mid)
    h = layer.bn3(F.conv2d(F.relu(layer.bn2(h)), layer.project.weight[:, :mid]))
    torch.testing.assert_close(got, h + x)


@pytest.mark.parametrize("c,h,k,s", [(3, 4, 7, 1), (5, 8, 7, 2), (2, 3, 5, 2), (4, 5, 3, 1)])
def test_toeplitz_depthwise_equals_conv2d(c, h, k, s):
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(2, c, h, h, generator=g), torch.randn(c, 1, k, k, generator=g)
    torch.testing.assert_close(depthwise_conv(x, w, s), F.conv2d(x, w, stride=s, padding=k // 2, groups=c))


def test_toeplitz_index_hand_worked():
    # 3x3 kernel, 2x2 map, stride 1, padding 1: output (0,0) sees input (0,0) through tap (1,1)=4,
    # input (0,1) through tap (1,2)=5, (1,0) through (2,1)=7, (1,1) through (2,2)=8
    idx = toeplitz_index(2, 2, 3, 1)
    assert idx[0].tolist() == [4, 5, 7, 8]
    assert idx[3].tolist() == [0, 1, 3, 4]


def test_dynamic_bn_updates_sliced_running_stats_in_place():
    bn = DynamicBN(6)
    bn.train()
    bn(torch.randn(8, 4, 2, 2) + 3.0)
    assert (bn.running_mean[:4] > 0.1).all() and (bn.running_mean[4:] == 0).all()


def test_residual_layers_start_as_identity():
    net = _net().eval()
    layer = net.units[2][1]
    assert layer.residual and (layer.bn3.weight == 0).all()
    x = torch.randn(2, layer.c_in, 4, 4)
    torch.testing.assert_close(layer(x, 5, 4), x)
    assert (net.units[0][0].bn3.weight == 1).all()  # non-residual layers keep gamma = 1


def test_random_subnet_reproducible_and_valid():
    a = [random_subnet(S, torch.Generator().manual_seed(3)) for _ in range(2)]
    assert a[0] == a[1] and S.is_valid(a[0])


def _evaluator(limit=None, predictor=None):
    data = load_dataset("digits")
    net = _net()
    valid = data.train.subset(torch.arange(100))
    return SupernetEvaluator(net, valid, data.train.subset(torch.arange(100, 200)),
                             config={"madds_limit": limit}, predictor=predictor)


def test_evaluator_flags_archs_over_the_madds_limit():
    small, big = S.parse("1100" * 5), S.parse("9999" * 5)
    ms, mb = subnet_cost(small, TINY_SHAPE).madds, subnet_cost(big, TINY_SHAPE).madds
    assert ms < mb
    ev = _evaluator(limit=(ms + mb) / 2)
    rs, rb = ev.evaluate(small), ev.evaluate(big)
    assert rs.metrics["feasible"] == 1.0 and rs.score == rs.metrics["accuracy"]
    assert rb.metrics["feasible"] == 0.0 and rb.score == -1.0 and 0 <= rb.metrics["accuracy"] <= 100
    assert rb.metrics["madds"] == mb and rb.metrics["params"] == subnet_cost(big, TINY_SHAPE).params
    assert rs.cost == 1.0 and ev.spent == 2
    again = ev.evaluate(big)  # repeats are cached and free
    assert again.cost == 0.0 and again.score == rb.score and ev.spent == 2
    assert is_feasible(10, 10) and not is_feasible(11, 10) and is_feasible(1e12, None)
    ev.config.madds_limit = None  # feasibility follows the current limit, also for cached archs
    r = ev.evaluate(big)
    assert r.metrics["feasible"] == 1.0 and r.score == rb.metrics["accuracy"] and r.cost == 0.0


def test_evaluator_is_deterministic_and_resumable():
    a = S.parse("3570" "1100" "9990" "2468" "7700")
    e1, e2 = _evaluator(), _evaluator()
    assert e1.evaluate(a).score == e2.evaluate(a).score
    e2.load_state_dict(e1.state_dict())
    assert e2.evaluate(a).cost == 0.0


def test_evaluator_config_errors():
    with pytest.raises(SpacenasError, match="unknown option 'limit'"):
        SupernetEvaluator(_net(), None, None, config={"limit": 3})
    with pytest.raises(SpacenasError, match="infeasible_score"):
        SupernetEvaluator(_net(), None, None, config={"infeasible_score": float("-inf")})


def test_random_search_never_returns_infeasible_best():
    rng = np.random.default_rng(0)
    archs = [S.sample(rng) for _ in range(6)]
    madds = sorted(subnet_cost(a, TINY_SHAPE).madds for a in archs)
    ev = _evaluator(limit=madds[2])  # half of them are over the limit
    s = registry.query_strategy("random")(S, seed=0)
    for _ in range(6):
        a = s.ask()
        s.tell(a, ev.evaluate(a))
    best, r = s.best()
    assert r.metrics["feasible"] == 1.0 or all(x.metrics["feasible"] == 0.0 for _, x in s.history)


def test_ridge_fit_hand_worked():
    # x = [1,2,3], y = [2,4,6], alpha = 2: xc = [-1,0,1], yc = [-2,0,2], w = 4/(2+2) = 1, b = 4 - 2*1 = 2
    w, b = ridge_fit(np.array([[1.0], [2.0], [3.0]]), np.array([2.0, 4.0, 6.0]), 2.0)
    assert w[0] == pytest.approx(1.0) and b == pytest.approx(2.0)
    w, b = ridge_fit(np.array([[1.0], [2.0], [3.0]]), np.array([2.0, 4.0, 6.0]), 0.0)
    assert w[0] == pytest.approx(2.0) and b == pytest.approx(0.0)


def test_predictor_recovers_additive_accuracy():
    # accuracy = 50 + sum over layers of a per-(layer, token) effect: exactly linear in the one-hot
    rng = np.random.default_rng(0)
    effect = rng.normal(size=(20, 10))

    def acc(a):
        return 50.0 + float(sum(effect[i, c] for i, c in enumerate(a.choices)))

    p, archs, scores = fit_predictor(S, acc, 400, np.random.default_rng(1), alpha=1e-6)
    assert len({a.choices for a in archs}) == 400 and encode(S, archs).shape == (400, 200)
    test = [S.sample(np.random.default_rng(9)) for _ in range(1)]
    assert p.predict(test[0]) == pytest.approx(acc(test[0]), abs=1e-3)
    q = AccuracyPredictor(S)
    q.load_state_dict(p.state_dict())
    assert q.predict(test[0]) == p.predict(test[0])
    with pytest.raises(SpacenasError, match="before fit"):
        AccuracyPredictor(S).predict(test[0])


def test_evaluator_with_predictor_uses_predicted_score():
    p = AccuracyPredictor(S).fit([S.parse("1100" * 5), S.parse("9999" * 5)], [40.0, 80.0])
    ev = _evaluator(predictor=p)
    r = ev.evaluate(S.parse("9999" * 5))
    assert r.score == pytest.approx(p.predict(S.parse("9999" * 5)))


def test_end_to_end_train_supernet_then_random_search():
    data = load_dataset("digits")
    ev, losses = make_supernet_evaluator(data, seed=0, epochs=2, train_limit=256, shape=TINY,
                                         config={"calib_size": 64})
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses) and losses[1] < losses[0]
    limit = float(np.median([ev.cost_of(S.sample(np.random.default_rng(i))).madds for i in range(20)]))
    ev.config.madds_limit = limit
    s = registry.query_strategy("random")(S, seed=0)
    while ev.spent < 5:
        a = s.ask()
        s.tell(a, ev.evaluate(a))
    assert len(s.history) == 5
    for a, r in s.history:
        assert isinstance(r, Result) and 0.0 <= r.metrics["accuracy"] <= 100.0
        assert r.metrics["feasible"] == float(r.metrics["madds"] <= limit)
        assert "test" in r.metrics
    # reproducible: same seed, same supernet, same scores
    ev2, losses2 = make_supernet_evaluator(data, seed=0, epochs=2, train_limit=256, shape=TINY,
                                           config={"calib_size": 64})
    assert losses2 == losses
    a0 = s.history[0][0]
    assert ev2.accuracy(a0) == ev.accuracy(a0)


def test_bad_shape_is_a_one_line_error():
    with pytest.raises(SpacenasError, match="MobileNetShape: unknown option 'width'"):
        MobileNetSupernet({"width": 3})
    with pytest.raises(SpacenasError, match="MobileNetShape: bad value 0 for 'stem_width'"):
        MobileNetSupernet({"stem_width": 0})


def test_train_supernet_rejects_zero_epochs():
    with pytest.raises(SpacenasError, match="epochs >= 1"):
        train_supernet(_net(), load_dataset("digits").train, torch.Generator(), epochs=0)


@pytest.mark.parametrize("method", ["evolution", "dsm"])
def test_query_strategies_search_through_supernet_evaluator(method):
    cls = registry.query_strategy(method)
    rng = np.random.default_rng(0)
    madds = sorted(subnet_cost(S.sample(rng), TINY_SHAPE).madds for _ in range(50))
    # scores from a predictor of an additive accuracy (varied, fast); half of the archs over the limit
    effect = np.random.default_rng(1).normal(size=(20, 10))
    pred, _, _ = fit_predictor(S, lambda a: 50 + sum(effect[i, c] for i, c in enumerate(a.choices)), 300,
                               np.random.default_rng(2), alpha=1e-3)
    ev = _evaluator(limit=madds[25], predictor=pred)
    cfg = {"n_subspaces": 3, "radius": 3} if method == "dsm" else {"population_size": 3, "sample_size": 2}
    s = cls(S, seed=0, config=cfg)
    while ev.spent < 40:
        a = s.ask()
        assert S.is_valid(a)
        s.tell(a, ev.evaluate(a))
    best, r = s.best()
    assert r.metrics["feasible"] == 1.0 or all(x.metrics["feasible"] == 0.0 for _, x in s.history)
    if method == "dsm":  # only feasible children may replace a center (Sec. IV-C); initial ones may be infeasible
        assert s.n_replacements > 0 and any(r.metrics["feasible"] == 0.0 for _, r in s.history)
        initial = [a for a, _ in s.history[:3]]
        for c, sc in zip(s.centers, s.center_scores):
            feasible = ev.evaluate(c).metrics["feasible"] == 1.0
            assert (sc == -1.0) == (not feasible)
            assert feasible or c in initial
