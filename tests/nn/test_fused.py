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

from spacenas.errors import SpacenasError
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


def layout_of(net) -> str:
    """The memory format the cells ran in at the latest forward (seen by a hook on the stem)."""
    return net._seen_layout


def watch_layout(net) -> None:
    stem = net.body.stem if hasattr(net, "body") else net.stem

    def hook(module, inputs, output):
        net._seen_layout = ("channels_last" if output.is_contiguous(memory_format=torch.channels_last)
                            and not output.is_contiguous() else "contiguous")
    stem.register_forward_hook(hook)


def batches(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(4, 3, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 10, (4,), generator=g))
            for _ in range(n)]


def pair(space, cls, config, act_mixture=False, fused_layout=None, ref_layout=None):
    fused = make_net(space, act_mixture)
    ref = copy.deepcopy(fused)
    ref.fused = False
    fused.channels_last, ref.channels_last = _setting(fused_layout), _setting(ref_layout)
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


def _setting(layout):
    return None if layout is None else layout == "channels_last"


def compare(space, cls, config, act_mixture=False, stage_switch=False, expect="fused", fused_layout=None,
            ref_layout=None):
    """Both paths from the same weights and seeds; the fused one in ``fused_layout`` (None: its
    default, channels-last on the CPU), the reference one in ``ref_layout`` (None: contiguous)."""
    (fn, fs), (rn, rs) = pair(space, cls, config, act_mixture, fused_layout, ref_layout)
    watch_layout(fn), watch_layout(rn)
    data = batches(4)
    for phase in range(2 if stage_switch else 1):
        if phase:  # DrNAS progressive: prune + widen through the strategy's own epoch hook
            assert fs.on_epoch_end(0, fn) and rs.on_epoch_end(0, rn)
        for (net, s) in ((fn, fs), (rn, rs)):
            net.train()
        (lf, af, wf), (lr_, ar, wr) = (grads(fn, fs, data[0], data[1]), grads(rn, rs, data[0], data[1]))
        assert fn.last_path == expect and rn.last_path == "reference"
        assert (layout_of(fn), layout_of(rn)) == (fused_layout or "channels_last", ref_layout or "contiguous")
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
@pytest.mark.parametrize("fused_layout, ref_layout", [("contiguous", "contiguous"), ("channels_last", "channels_last")])
def test_layouts_equal(space, fused_layout, ref_layout):
    """The fused path in today's contiguous layout, and the reference path in channels-last,
    equal the other path too (the default pairs fused channels-last with reference contiguous)."""
    compare(space, DARTS, {}, fused_layout=fused_layout, ref_layout=ref_layout)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_default_layout_rule(space):
    """channels_last=None: channels-last on the CPU fused path, contiguous on the reference path;
    True/False force it; anything else is one line naming the allowed values."""
    net = make_net(space)
    watch_layout(net)
    w = {k: torch.rand(s, dtype=torch.float64) for k, s in net.arch_shapes().items()}
    x = batches(1)[0][0]
    net(x, w)
    assert layout_of(net) == "channels_last"
    net.fused = False
    net(x, w)
    assert layout_of(net) == "contiguous"
    net.channels_last = True
    net(x, w)
    assert layout_of(net) == "channels_last"
    net.fused, net.channels_last = True, False
    net(x, w)
    assert layout_of(net) == "contiguous"
    net.channels_last = "yes"
    with pytest.raises(SpacenasError, match="channels_last must be true, false or null"):
        net(x, w)


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


class _AsDtype:
    """A search split whose batches come in ``dtype`` (the loop's data wrapper calls ``batch``)."""

    def __init__(self, data, dtype: torch.dtype) -> None:
        self.data, self.dtype = data, dtype

    def __len__(self) -> int:
        return len(self.data)

    def batch(self, idx):
        x, y = self.data.batch(idx)
        return x.to(self.dtype), y


def short_search(tmp_path, space: str, fused: bool, dtype: torch.dtype, **extra):
    """A digits DrNAS search of 2 epochs x 2 steps built as ``spacenas search`` builds it (so with
    the command line's scaled ``arch_lr`` unless ``extra`` sets one), run in ``dtype``."""
    from spacenas.strategies.oneshot.build import build_search
    from spacenas.strategies.oneshot.loop import TIMING_KEYS, search
    opts = {"max_steps": 2, "batch_size": 16, "C": 4, "fused": fused, **extra}
    opts.update({"N": 1} if space == "nb201" else {"layers": 3})
    b = build_search(space, "drnas", "digits", seed=0, epochs=2, options=opts)
    s = b.strategy
    if dtype != torch.float32:
        b.supernet.to(dtype)
        s.params = {k: torch.nn.Parameter(v.detach().to(dtype)) for k, v in s.params.items()}
        s.arch_optimizer = s.make_arch_optimizer()
    run = tmp_path / f"{space}-{fused}-{dtype}"
    res = search(s, b.supernet, _AsDtype(b.train, dtype), _AsDtype(b.valid, dtype), b.loop, run_dir=run,
                 progress=False)
    log = [{k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS}  # wall-clock fields differ
           for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r.pop("supernet_path") for r in log] == ["fused" if fused else "reference"] * 2
    return res.arch_text, log, b.notes


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_short_search_same_arch_and_log(tmp_path, space):
    """A full short search (digits, 2 epochs, max_steps, the command line's arch_lr) gives the same
    arch and log on both paths, in float64.

    Why float64: the command line scales a short run's arch_lr up to 200 x the paper's (0.06 here,
    :mod:`spacenas.strategies.oneshot.short_runs`), and Adam moves every architecture parameter by
    about arch_lr per step whatever the size of its gradient, so float32 rounding differences in
    the order of additions (1e-8 after the first architecture step) grow about 4e4-fold per step;
    by the fourth step the DrNAS Dirichlet sampler (a rejection sampler) consumes a different
    number of draws from the generator and the runs part (the darts case then derives another
    arch). In float64 the same run stays within 1e-14 on both paths. The float32 path is compared
    at the paper's arch_lr below, where nothing amplifies the rounding."""
    arch_f, log_f, notes = short_search(tmp_path, space, True, torch.float64)
    arch_r, log_r, _ = short_search(tmp_path, space, False, torch.float64)
    assert any("arch_lr 0.06" in n for n in notes)  # the amplifying setting is the one exercised
    assert arch_f == arch_r
    _approx_equal(log_f, log_r, rel=1e-9)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_short_search_float32_same_arch_and_log(tmp_path, space):
    """The same short search in float32 (what runs) at the papers' arch_lr (3e-4, no short-run
    scaling): the paths agree to float32 rounding (rel 1e-4) and derive the same arch."""
    arch_f, log_f, _ = short_search(tmp_path, space, True, torch.float32, arch_lr=3e-4)
    arch_r, log_r, _ = short_search(tmp_path, space, False, torch.float32, arch_lr=3e-4)
    assert arch_f == arch_r
    _approx_equal(log_f, log_r, rel=1e-4)


#: log fields rounded to 5 decimals when written: equal up to one unit in the last place
ROUNDED = {"mixing", "concentration"}


def _approx_equal(a, b, rel: float, key: str = "") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _approx_equal(a[k], b[k], rel, k if k in ROUNDED else key)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _approx_equal(x, y, rel, key)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=rel, abs=1.01e-5 if key in ROUNDED else 1e-12), key
    else:
        assert a == b


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


def test_factorized_reduce_channels_last(tmp_path):
    """FactorizedReduce on a channels-last input with few channels (DARTS reduction edges under
    partial channels: C=16, k=4 gives 4) trains without corrupting the heap (oneDNN's stride-2
    1x1 weight gradient does, for 2 to 6 input channels; the op avoids it), and equals the
    contiguous computation. Run in a child process: heap corruption aborts the interpreter."""
    import subprocess
    import sys
    from support import ROOT, cli_env
    code = """
import torch
from spacenas.nn.ops import FactorizedReduce
for c in (2, 4, 6, 8):
    for size in (7, 8):
        op = FactorizedReduce(c, c, affine=False)
        x = torch.randn(8, 2 * c, size, size).contiguous(memory_format=torch.channels_last)[:, :c]
        a, b = x.detach().requires_grad_(), x.detach().contiguous().requires_grad_()
        for _ in range(5):
            ya, yb = op(a), op(b)
            ya.square().sum().backward()
            op.zero_grad()
            yb.square().sum().backward()
        torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-4)
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(MALLOC_CHECK_="3"),
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
