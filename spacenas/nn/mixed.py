"""The mixed edge: a weighted sum of candidate ops, with a mask and partial channels.

``out = sum over active ops o of w[o] * op_o(x)`` (DARTS Eq. 1 / DrNAS Eq. 2 with any
mixing weights). An op whose mask entry is ``False`` is **not called**, so time and memory
follow the number of active ops. ``none`` is never called either: its output is zero and the
gradient it sends to its weight (``<dL/dout, 0>``) is zero, so skipping it changes nothing.

Partial channels (PC-DARTS, fraction 1/k): the mixture is applied to the first ``C/k``
channels of the input, the other channels bypass it (max-pooled 2x2 on stride-2 edges), the
two parts are concatenated and channel-shuffled with ``k`` groups, so that a different slice of
channels goes through the ops at the next edge. PC-DARTS samples the slice at random; here, as
in PC-DARTS's own implementation, the fixed first slice plus the shuffle plays that role.

The candidate ops are built at width ``C/k``. :meth:`MixedOp.set_partial_channels` rebuilds
them (fresh weights); :meth:`MixedOp.widen` grows them to ``C/(k/factor)`` keeping the trained
weights by DrNAS's random mapping (Eq. 7-8), which is the progressive-learning step.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from spacenas.errors import SpacenasError
from spacenas.nn.activations import ActivationMixture
from spacenas.nn.ops import init_parameters_, make_op
from spacenas.nn.widen import widen_channels_


def mix(outputs: Sequence[torch.Tensor], weights: Sequence[torch.Tensor | float]) -> torch.Tensor:
    """``sum_i weights[i] * outputs[i]`` (outputs must be non-empty)."""
    out = weights[0] * outputs[0]
    for w, y in zip(weights[1:], outputs[1:]):
        out = out + w * y
    return out


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet channel shuffle: view channels as ``[groups, C/groups]``, transpose, flatten."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class MixedOp(nn.Module):
    """One edge: the candidate ops ``op_names`` on ``C`` channels (``stride`` 1 or 2)."""

    def __init__(self, op_names: Sequence[str], C: int, stride: int = 1, *, affine: bool = False,
                 pool_bn: bool = False, k: int = 1, act_mixture: bool = False,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.op_names = tuple(op_names)
        self.C, self.stride, self.affine, self.pool_bn = C, stride, affine, pool_bn
        self.k = 1
        self.ops = self._build(1, generator)
        self.acts = ActivationMixture() if act_mixture else None
        if k != 1:
            self.set_partial_channels(k, generator)

    # ----- construction ------------------------------------------------------------------
    def _check_k(self, k: int) -> int:
        if not isinstance(k, int) or k < 1 or self.C % k:
            raise SpacenasError(f"partial-channel k={k!r} must be a positive divisor of the edge width {self.C}")
        c = self.C // k
        if self.stride == 2 and "skip_connect" in self.op_names and c % 2:
            raise SpacenasError(f"partial-channel k={k} leaves {c} channels on a reduction edge; need an even count")
        return c

    def _build(self, k: int, generator: torch.Generator | None) -> nn.ModuleDict:
        c = self._check_k(k)
        ops = nn.ModuleDict({str(i): make_op(n, c, self.stride, self.affine, self.pool_bn)
                             for i, n in enumerate(self.op_names) if n != "none"})
        init_parameters_(ops, generator)
        return ops

    @property
    def width(self) -> int:
        """Channels that go through the ops (``C/k``)."""
        return self.C // self.k

    def set_partial_channels(self, k: int, generator: torch.Generator | None = None) -> None:
        """Send ``C/k`` channels through the ops. Changing ``k`` rebuilds the ops with fresh
        weights (drawn from ``generator`` when given); use :meth:`widen` to keep them."""
        if k == self.k:
            return
        dev = next((t.device for t in (*self.ops.parameters(), *self.ops.buffers())), None)
        self.ops = self._build(k, generator)
        if dev is not None:
            self.ops.to(dev)
        self.k = k

    def widen(self, factor: int, generator: torch.Generator) -> None:
        """DrNAS progressive step: ``k -> k/factor``, every op widened from ``C/k`` to
        ``C/(k/factor)`` channels by the random mapping of Eq. 7-8 (:mod:`spacenas.nn.widen`)."""
        if factor < 1 or self.k % factor:
            raise SpacenasError(
                f"cannot widen by {factor}: the partial-channel k={self.k} must be divisible by it "
                f"(widening raises the channel fraction 1/k up to 1)")
        self.widen_to(self.k // factor, generator)

    def widen_to(self, k: int, generator: torch.Generator) -> None:
        """Widen every op from ``C/self.k`` to ``C/k`` channels (``k <= self.k``, ``k`` a divisor
        of ``C``, not necessarily of ``self.k``: e.g. DrNAS's code schedule 6 -> 4 on C=36 takes
        the ops from 6 to 9 channels). Eq. 7 keeps the old channels and copies random old ones
        into the ``C/k - C/self.k`` new channels; the split then sends the first ``C/k``
        channels through the ops and shuffles with ``k`` groups."""
        if not isinstance(k, int) or k < 1 or k > self.k:
            raise SpacenasError(f"cannot widen from partial-channel k={self.k} to k={k!r}: "
                                "widening lowers k (raises the fraction 1/k), at least to 1")
        if k == self.k:
            return
        c_old, c_new = self.width, self._check_k(k)
        for op in self.ops.values():
            widen_channels_(op, c_old, c_new, generator)
        self.k = k

    # ----- forward -----------------------------------------------------------------------
    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None,
                active: Sequence[bool] | None = None, act_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Weighted sum over the active ops (``weights=None``: plain sum, for discrete nets)."""
        if self.k > 1:
            c = self.width
            x, rest = x[:, :c], x[:, c:]
        pre = None
        if act_weights is not None:
            if self.acts is None:
                raise SpacenasError("activation weights given but the supernet was built without "
                                    "activation mixtures (act_mixture=True)")
            pre = self.acts(x, act_weights)
        outs, ws = [], []
        for i, name in enumerate(self.op_names):
            if name == "none" or (active is not None and not active[i]):
                continue
            op = self.ops[str(i)]
            y = op(pre, act=_identity) if pre is not None and op.has_act else op(x)
            outs.append(y)
            ws.append(1.0 if weights is None else weights[i])
        if outs:
            out = mix(outs, ws)
        else:  # only `none` (or nothing) is active: the edge outputs zeros
            out = torch.zeros_like(x[:, :, ::self.stride, ::self.stride])
        if self.k > 1:
            if self.stride == 2:
                rest = F.max_pool2d(rest, 2, 2, ceil_mode=True)
            out = channel_shuffle(torch.cat([out, rest], dim=1), self.k)
        return out
