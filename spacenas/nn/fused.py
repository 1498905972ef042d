"""Horizontal fusion of the mixed edges that leave the same node of a cell (the fast path).

The edges that leave one node share their input, so per source node (and per partial-channel
``k`` and stride, which all of its edges share) the fused path computes

* the leading ReLU **once** and feeds it to every parameterized op of those edges
  (``op(relu_x, act=identity)``: the op's own ReLU would compute the same tensor);
* each pooling **once** (its optional BN stays per edge: it has per-edge running statistics);
* every ``ReLU -> Conv -> BN`` op (NB201 ``nor_conv_*``, DARTS preprocessing-style ops) of
  those edges, grouped by conv geometry, as **one convolution** whose weight is the
  concatenation of the ops' weights (stacked output channels) and **one BatchNorm** over the
  stacked channels (BN is per channel, so this is exact) with the edge mixing weight folded in
  as the BN's per-channel scale (``w * BN(z) == BN_{gamma=w}(z)``; affine BN: ``gamma*w,
  beta*w``). Running statistics are gathered from, and written back to, the ops' own buffers;
* ``skip_connect`` for free (``w * x`` in the accumulation, one ``addcmul`` per term).

Nothing is re-parameterized: the ops keep their own modules, parameters and buffers, so state
dicts, partial channels (:meth:`MixedOp.set_partial_channels`), widening and checkpoints are
the same on both paths, and masked ops are simply not gathered (never computed). The fused
path is numerically the reference path (:meth:`MixedOp.forward`) up to the order of floating
point additions (tests/nn/test_fused.py: float64, rtol 1e-10, forwards and all gradients).

Where fusion does not apply the cell calls the reference path: activation mixtures (A-DARTS
gives every edge its own activation, so no input is shared), edges that are not a
:class:`MixedOp` (``ActEdge`` of A-DARTS retraining nets), and ops watched by forward hooks
(hook-based MAdds counters see every conv). :func:`fusable` says which.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from spacenas.errors import SpacenasError
from spacenas.nn.mixed import MixedOp, partial_tail
from spacenas.nn.ops import Identity, Pool, ReLUConvBN

FUSED, REFERENCE = "fused", "reference"


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def fast_layout(x: torch.Tensor, channels_last: bool | None, fused: bool) -> torch.Tensor:
    """``x`` in the memory format a supernet's forward runs in. ``channels_last`` True/False
    forces channels-last (NHWC) or leaves ``x`` as it is; ``None`` (the default) means
    channels-last where the fused path is on and ``x`` is on the CPU (oneDNN's convolutions
    and BatchNorm run faster on it there; one copy of the 3-channel input switches the whole
    network, whose convolutions keep the layout of their input). The reference path keeps
    today's layout, and so do CUDA devices unless asked. Same numbers either way, up to the order
    of floating point additions inside the kernels (tests/nn/test_fused.py)."""
    on = channels_last if channels_last is not None else (fused and x.device.type == "cpu")
    if not isinstance(on, bool):
        raise SpacenasError(f"channels_last must be true, false or null (auto), got {channels_last!r}")
    return x.contiguous(memory_format=torch.channels_last) if on and x.dim() == 4 else x


def fusable(edges: Sequence[nn.Module], act_weights) -> str | None:
    """``None`` when the fused path applies to these edges, else the reason it does not."""
    if act_weights is not None:
        return "activation mixture"
    if not all(type(e) is MixedOp for e in edges):
        return "non-mixed edge"
    if _hooked(edges):
        return "forward hooks"
    return None


def _hooked(edges: Sequence[nn.Module]) -> bool:
    """True when a forward hook watches an op module (MAdds counters, tests): the fused path
    does not call the ops' modules, so such hooks need the reference path."""
    from torch.nn.modules import module as _m
    if _m._global_forward_hooks or _m._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for e in edges for m in e.modules())


def run_dag(states: list[torch.Tensor], n_new: int, edges: Sequence[tuple[int, int]],
            modules: Sequence[MixedOp], weights: torch.Tensor | None, active: list | None,
            index_cache: dict) -> list[torch.Tensor]:
    """Compute ``n_new`` nodes of a cell DAG. ``edges[e] = (target, source)`` in state numbering
    (``states`` holds the given inputs; node ``len(states) + i`` is the i-th new one); each new
    node is the sum of its incoming edges, accumulated term by term (:func:`_sum_terms`: the
    terms of all incoming edges in one chain, so no edge output is materialized on its own).
    Returns all states (inputs first)."""
    states = list(states)
    terms: dict[int, list] = {}
    by_src: dict[int, list[int]] = {}
    for e, (_, s) in enumerate(edges):
        by_src.setdefault(s, []).append(e)
    total = len(states) + n_new
    for src in range(total):
        if src >= len(states):
            states.append(_sum_terms(terms.pop(src)))
        outs = edge_group(states[src], [(e, modules[e]) for e in by_src.get(src, [])], weights, active, index_cache)
        for e in by_src.get(src, []):
            terms.setdefault(edges[e][0], []).extend(outs[e])
    return states


def edge_group(x: torch.Tensor, members: list[tuple[int, MixedOp]], weights: torch.Tensor | None,
               active: list | None, index_cache: dict) -> dict[int, list]:
    """The terms of the mixed edges ``members`` (``(edge index, MixedOp)``), all fed ``x``:
    per edge a list of ``(tensor, weight or None)`` whose sum (``tensor * weight``, the weight a
    scalar or a broadcastable map) is the edge's output (:func:`_sum_terms`)."""
    groups: dict[tuple[int, int], list[tuple[int, MixedOp]]] = {}
    for e, m in members:
        groups.setdefault((m.k, m.stride), []).append((e, m))
    out: dict[int, list] = {}
    for (k, stride), ms in groups.items():
        if k > 1:  # partial channels: each edge's mixture is joined with its bypassed channels
            c = ms[0][1].width
            xin, rest = x[:, :c], x[:, c:]
            for e, ts in _group(xin, stride, ms, weights, active, index_cache).items():
                out[e] = [(partial_tail(_sum_terms(ts), rest, stride, k), None)]
        else:
            out.update(_group(x, stride, ms, weights, active, index_cache))
    return out


def _group(xin, stride, ms, weights, active, index_cache) -> dict[int, list]:
    terms: dict[int, list] = {e: [] for e, _ in ms}
    relu_x = None
    pools: dict = {}
    pooled: dict = {}
    convs: dict[tuple, list] = {}
    for e, m in ms:
        for i, name in enumerate(m.op_names):
            if name == "none" or (active is not None and not active[e][i]):
                continue
            op = m.ops[str(i)]
            w = None if weights is None else weights[e, i]
            if isinstance(op, Identity):
                terms[e].append((xin, w))
            elif isinstance(op, Pool):
                key = (type(op.pool), op.pool.stride)
                if key not in pools:
                    pools[key] = _pool_parts(op.pool, xin, index_cache)
                y, inv = pools[key]
                if inv is not None and op.bn is None and not (w is not None and w.requires_grad):
                    # the count map joins the mixing weight: w * (y * inv) == y * (w * inv); not
                    # where w needs a gradient (that would be a sum over a broadcast map)
                    terms[e].append((y, inv if w is None else w * inv))
                else:  # the pooled tensor itself (for the BN, or for w's gradient): once per input
                    if key not in pooled:
                        pooled[key] = y if inv is None else y * inv
                    terms[e].append((pooled[key] if op.bn is None else op.bn(pooled[key]), w))
            elif isinstance(op, ReLUConvBN) and _stackable(op):
                cv, bn = op.conv, op.bn
                key = (cv.kernel_size, cv.stride, cv.padding, cv.dilation, bn.eps, bn.momentum, bn.affine,
                       bn.training, bn.track_running_stats)
                convs.setdefault(key, []).append((e, i, op))
            elif getattr(op, "has_act", False):
                if relu_x is None:
                    relu_x = torch.relu(xin)
                terms[e].append((op(relu_x, act=_identity), w))
            else:
                terms[e].append((op(xin), w))
    if convs:
        if relu_x is None:
            relu_x = torch.relu(xin)
        _stacked_conv_terms(relu_x, list(convs.values()), weights, index_cache, terms)
    for e, ts in terms.items():
        if not ts:  # only `none` (or nothing) is active: the edge outputs zeros
            ts.append((torch.zeros_like(xin[:, :, ::stride, ::stride]), None))
    return terms


def _stacked_conv_terms(x, groups, weights, index_cache, terms) -> None:
    """Add the outputs of the stacked conv groups to ``terms`` (weights already folded in).
    Groups with the same edges in the same order (NB201: the 1x1 and the 3x3 convs of the edges
    that leave a node) are summed stacked, by one addition, before the split into edges."""
    by_layout: dict[tuple, torch.Tensor] = {}
    for group in groups:
        layout = tuple((e, op.conv.out_channels) for e, _, op in group)
        y = _conv_bn(x, group, weights, index_cache)
        by_layout[layout] = y if layout not in by_layout else by_layout[layout] + y
    for layout, y in by_layout.items():
        parts = y.split([n for _, n in layout], dim=1) if len(layout) > 1 else [y]
        for (e, _), part in zip(layout, parts):
            terms[e].append((part, None))


def _sum_terms(terms: list) -> torch.Tensor:
    """``sum(y if w is None else w * y)``: unweighted terms first (no multiplication for the
    first term), then one ``addcmul`` per weighted term."""
    ordered = [t for t in terms if t[1] is None] + [t for t in terms if t[1] is not None]
    y, w = ordered[0]
    acc = y if w is None else y * w
    for y, w in ordered[1:]:
        acc = acc + y if w is None else torch.addcmul(acc, y, w)
    return acc


def _pool(pool: nn.Module, x: torch.Tensor, cache: dict) -> torch.Tensor:
    """``pool(x)``, computed as in :func:`_pool_parts`."""
    y, inv = _pool_parts(pool, x, cache)
    return y if inv is None else y * inv


def _pool_parts(pool: nn.Module, x: torch.Tensor, cache: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(y, inv)`` with ``pool(x) == y * inv`` (``inv``: None, or a ``[1, 1, H, W]`` map).

    A 3x3 average pool without padded zeros in the count (``count_include_pad=False``, NB201's
    and DARTS's ``avg_pool_3x3``) is a depthwise convolution with a ones kernel (the window
    sums) times the reciprocal count map: the same sum of the same elements divided by the same
    count, but far fewer passes over memory on a CPU (PyTorch's CPU kernel for that pool's
    backward is ~25x slower than a depthwise conv's). The caller folds ``inv`` into the mixing
    weight where nothing else needs the pooled tensor. Other pools: ``(pool(x), None)``."""
    if not (isinstance(pool, nn.AvgPool2d) and not pool.count_include_pad and pool.kernel_size in (3, (3, 3))
            and pool.padding in (1, (1, 1)) and not pool.ceil_mode and pool.divisor_override is None):
        return pool(x), None
    stride = pool.stride if isinstance(pool.stride, int) else pool.stride[0]
    c, (h, w) = x.shape[1], x.shape[-2:]
    key = ("avg3", c, h, w, stride, x.dtype, x.device)
    if key not in cache:
        ones = torch.ones(1, 1, h, w, dtype=x.dtype, device=x.device)
        count = F.avg_pool2d(ones, 3, stride, 1, count_include_pad=True) * 9
        cache[key] = (torch.ones(c, 1, 3, 3, dtype=x.dtype, device=x.device), 1.0 / count.round())
    kernel, inv = cache[key]
    return F.conv2d(x, kernel, None, stride, 1, 1, c), inv


def _stackable(op: ReLUConvBN) -> bool:
    cv, bn = op.conv, op.bn
    return cv.groups == 1 and cv.bias is None and cv.padding_mode == "zeros" and bn.momentum is not None


def _scales(group, weights, index_cache) -> torch.Tensor:
    """The mixing weights of ``group``'s ops as one vector, by one gather (indices cached)."""
    key = (weights.device, tuple((e, i) for e, i, _ in group))
    idx = index_cache.get(key)
    if idx is None:
        idx = torch.tensor([e * weights.shape[1] + i for e, i, _ in group], device=weights.device)
        index_cache[key] = idx
    return weights.reshape(-1).index_select(0, idx)


def _conv_bn(x: torch.Tensor, group, weights, index_cache) -> torch.Tensor:
    """``w_g * BN_g(conv_g(x))`` for every op ``g`` of ``group``, stacked along the channels,
    by one conv and one BN."""
    ops = [op for _, _, op in group]
    cv, bn = ops[0].conv, ops[0].bn
    sizes = [op.conv.out_channels for op in ops]
    weight = ops[0].conv.weight if len(ops) == 1 else torch.cat([op.conv.weight for op in ops])
    z = F.conv2d(x, weight, None, cv.stride, cv.padding, cv.dilation)
    scale = None
    if weights is not None:
        s = _scales(group, weights, index_cache)
        scale = s.repeat_interleave(sizes[0]) if len(set(sizes)) == 1 else torch.cat(
            [s[j].expand(n) for j, n in enumerate(sizes)])
    if bn.affine:
        gamma = _cat([op.bn.weight for op in ops])
        beta = _cat([op.bn.bias for op in ops])
        g, b = (gamma, beta) if scale is None else (gamma * scale, beta * scale)
    else:
        g, b = scale, None
    training = bn.training or not bn.track_running_stats
    track = bn.track_running_stats
    rm = _cat([op.bn.running_mean for op in ops]) if track else None
    rv = _cat([op.bn.running_var for op in ops]) if track else None
    y = F.batch_norm(z, rm, rv, g, b, training, bn.momentum, bn.eps)
    if training and track:
        with torch.no_grad():
            if len(ops) > 1:
                torch._foreach_copy_([op.bn.running_mean for op in ops], list(rm.split(sizes)))
                torch._foreach_copy_([op.bn.running_var for op in ops], list(rv.split(sizes)))
            torch._foreach_add_([op.bn.num_batches_tracked for op in ops], 1)
    return y


def _cat(ts: list[torch.Tensor]) -> torch.Tensor:
    return ts[0] if len(ts) == 1 else torch.cat(ts)
