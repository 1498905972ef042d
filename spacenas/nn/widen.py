"""DrNAS widening by random channel mapping (DrNAS Sec. 2.4, Eq. 7-8).

Eq. 7 (0-based here): ``g(j) = j`` for ``j < n`` and ``g(j) ~ Uniform{0..n-1}`` for
``n <= j < q``. Eq. 8: the widened weight is ``U[o, i, h, w] = W[g(o), g(i), h, w]``: the
first ``n`` channels keep their weights and every new channel is a copy of a random old one,
on the output side of a conv/BN and on the input side of the next layer.

Unlike Net2Net, nothing is divided by the replication count: the paper argues that the
information flow of each edge has the same scale whatever the partial fraction (the new input
channels are *new data channels* of the partial-channel split, not copies of old ones), so the
widened layer is not function-preserving and is not meant to be.

All functions here are pure (return new modules/tensors); :func:`widen_channels_` rewires a
module tree in place.
"""
from __future__ import annotations

import torch
from torch import nn


def random_mapping(n: int, q: int, generator: torch.Generator) -> torch.Tensor:
    """Eq. 7: a map ``{0..q-1} -> {0..n-1}`` (int64, on ``generator``'s device) that is the
    identity on ``0..n-1`` and uniformly random on ``n..q-1``."""
    if not 0 < n <= q:
        raise ValueError(f"random_mapping needs 0 < n <= q, got n={n}, q={q}")
    dev = generator.device
    head = torch.arange(n, device=dev)
    tail = torch.randint(0, n, (q - n,), generator=generator, device=dev)
    return torch.cat([head, tail])


def widen_weight(w: torch.Tensor, g_out: torch.Tensor | None, g_in: torch.Tensor | None) -> torch.Tensor:
    """Eq. 8 on a weight ``[out, in, ...]``: ``U[o, i] = W[g_out(o), g_in(i)]`` (a ``None``
    map leaves that side unchanged). No division by the replication count."""
    u = w
    if g_out is not None:
        u = u.index_select(0, g_out.to(w.device))
    if g_in is not None and u.dim() > 1:
        u = u.index_select(1, g_in.to(w.device))
    return u.clone()


def widen_conv(conv: nn.Conv2d, g_out: torch.Tensor, g_in: torch.Tensor | None) -> nn.Conv2d:
    """A new Conv2d with ``len(g_out)`` outputs. A depthwise conv (``groups == in == out``)
    maps only its output side and becomes depthwise over ``len(g_out)`` channels; otherwise
    ``g_in`` maps the input side (``None``: the input width is unchanged)."""
    depthwise = conv.groups > 1 and conv.groups == conv.in_channels == conv.out_channels
    if conv.groups > 1 and not depthwise:
        raise ValueError("widen_conv supports dense or depthwise convolutions only")
    c_out = len(g_out)
    c_in = c_out if depthwise else (conv.in_channels if g_in is None else len(g_in))
    new = nn.Conv2d(c_in, c_out, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    groups=c_out if depthwise else 1, bias=conv.bias is not None,
                    device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(widen_weight(conv.weight, g_out, None if depthwise else g_in))
        if conv.bias is not None:
            new.bias.copy_(widen_weight(conv.bias, g_out, None))
    new.train(conv.training)
    return new


def widen_bn(bn: nn.BatchNorm2d, g: torch.Tensor) -> nn.BatchNorm2d:
    """A new BatchNorm2d over ``len(g)`` channels: affine parameters and running statistics
    of channel ``j`` copied from old channel ``g(j)``."""
    ref = bn.running_mean if bn.running_mean is not None else bn.weight
    new = nn.BatchNorm2d(len(g), bn.eps, bn.momentum, bn.affine, bn.track_running_stats,
                         device=ref.device, dtype=ref.dtype)
    with torch.no_grad():
        if bn.affine:
            new.weight.copy_(widen_weight(bn.weight, g, None))
            new.bias.copy_(widen_weight(bn.bias, g, None))
        if bn.track_running_stats:
            new.running_mean.copy_(widen_weight(bn.running_mean, g, None))
            new.running_var.copy_(widen_weight(bn.running_var, g, None))
            new.num_batches_tracked.copy_(bn.num_batches_tracked)
    new.train(bn.training)
    return new


def widen_channels_(module: nn.Module, c_old: int, c_new: int, generator: torch.Generator) -> None:
    """Widen, in place, a module whose every channel dimension is ``c_old`` (a cell op) to
    ``c_new``, with one random map ``g`` (Eq. 7) shared by all its layers, so that the output
    channels of a layer and the input channels of the next one stay aligned. Children with a
    ``widen_(g, generator)`` method (e.g. FactorizedReduce) handle themselves."""
    g = random_mapping(c_old, c_new, generator)
    if hasattr(module, "widen_"):
        module.widen_(g, generator)
    else:
        _apply(module, g, generator)


def _apply(module: nn.Module, g: torch.Tensor, generator: torch.Generator) -> None:
    for name, child in module.named_children():
        if hasattr(child, "widen_"):
            child.widen_(g, generator)
        elif isinstance(child, nn.Conv2d):
            setattr(module, name, widen_conv(child, g, g))
        elif isinstance(child, nn.BatchNorm2d):
            setattr(module, name, widen_bn(child, g))
        else:
            _apply(child, g, generator)
