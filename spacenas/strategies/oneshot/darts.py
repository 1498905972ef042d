"""DARTS: softmax(alpha) mixing, first-order by default, second-order (unrolled) as an option.

Second order (DARTS Eq. 6-8): the architecture gradient is taken at the one-step-unrolled
weights ``w' = w - xi * grad_w L_train(w, alpha)``::

    grad_alpha L_val(w', alpha) - xi * [grad_alpha L_train(w+, alpha) - grad_alpha L_train(w-, alpha)] / (2 eps)

with ``w+- = w +- eps * grad_w' L_val(w', alpha)`` and ``eps = 0.01 / ||grad_w' L_val(w', alpha)||``
(finite-difference Hessian-vector product). Two forms of the unrolled step (``unroll``):

* ``paper`` (default): ``w' = w - xi * grad`` as in the paper's equation;
* ``authors``: the DARTS/DrNAS architect's ``_compute_unrolled_model``:
  ``w' = w - xi * (momentum * buffer + grad + wd * w)`` with the SGD momentum buffer, momentum
  and weight decay of the loop's weight optimizer (no buffer yet: 0), i.e. the weights one SGD
  step would give. The ``darts-v2`` preset uses it. See :func:`unrolled_weights`.

``xi`` defaults to the current weight learning rate. The weights are restored exactly afterwards (BatchNorm running
statistics do see the extra forward passes, as in the original).
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from spacenas.errors import SpacenasError
from spacenas.strategies.oneshot.base import Mixer, OneShotConfig, OneShotStrategy, masked_softmax


class SoftmaxMixer(Mixer):
    """``theta = softmax(alpha)`` over the active ops of each edge."""

    def weights(self, params, mask, generator):
        return masked_softmax(params, mask), None

    def scores(self, params, mask):
        return masked_softmax(params, mask)


class DARTSConfig(OneShotConfig):
    #: unrolled (second-order) architecture gradient
    second_order: bool = False
    #: step size xi of the unrolled weight step; None: the current weight learning rate
    unroll_lr: float | None = Field(None, gt=0)
    #: eps = fd_scale / ||grad_w' L_val||
    fd_scale: float = Field(0.01, gt=0)
    #: unrolled step: paper (w - xi g) or authors (w - xi (momentum buffer + g + wd w))
    unroll: Literal["paper", "authors"] = "paper"


def _weights(supernet) -> list[torch.Tensor]:
    return [p for p in supernet.parameters() if p.requires_grad]


def _ce(strategy: OneShotStrategy, supernet, batch, arch_grad: bool) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(strategy.forward(supernet, x, arch_grad=arch_grad), y)


def unrolled_weights(w: torch.Tensor, grad: torch.Tensor, xi: float, buffer: torch.Tensor | None = None,
                     momentum: float = 0.0, weight_decay: float = 0.0) -> torch.Tensor:
    """``w' = w - xi * (momentum * buffer + grad + weight_decay * w)`` (``buffer`` None: 0).

    Hand: w (1, -2), grad (0.5, 0.25), buffer (0.1, -0.2), momentum 0.9, wd 0.01, xi 0.1 ->
    (1 - 0.1 * (0.09 + 0.5 + 0.01), -2 - 0.1 * (-0.18 + 0.25 - 0.02)) = (0.94, -2.005).
    With momentum = wd = 0 it is the paper's ``w - xi * grad``.
    """
    d = grad + weight_decay * w
    if buffer is not None and momentum:
        d = d + momentum * buffer
    return w - xi * d


def sgd_terms(optimizer: torch.optim.Optimizer | None, params: list[torch.Tensor]
              ) -> tuple[list[torch.Tensor | None], list[float], list[float]]:
    """Per parameter: the SGD momentum buffer (or None), momentum and weight decay of
    ``optimizer`` (no optimizer, or a parameter it does not hold: None, 0, 0)."""
    group_of = {}
    if optimizer is not None:
        for g in optimizer.param_groups:
            for p in g["params"]:
                group_of[p] = g
    bufs, moms, wds = [], [], []
    for p in params:
        g = group_of.get(p)
        bufs.append(optimizer.state.get(p, {}).get("momentum_buffer") if g is not None else None)
        moms.append(float(g.get("momentum", 0.0)) if g is not None else 0.0)
        wds.append(float(g.get("weight_decay", 0.0)) if g is not None else 0.0)
    return bufs, moms, wds


def unrolled_arch_grads(strategy: OneShotStrategy, supernet, valid_batch, train_batch, xi: float,
                        fd_scale: float = 0.01, weight_optimizer: torch.optim.Optimizer | None = None
                        ) -> tuple[list[torch.Tensor], dict]:
    """Second-order DARTS architecture gradients (see the module docstring). With
    ``weight_optimizer`` the unrolled step is the authors' (momentum buffer and weight decay
    of that SGD), else the paper's."""
    ws = _weights(supernet)
    alphas = strategy.arch_parameters()
    backup = [w.detach().clone() for w in ws]
    # w' = w - xi * grad_w L_train(w, alpha)   [authors: - xi * (momentum * buffer + wd * w) too]
    g_train = torch.autograd.grad(_ce(strategy, supernet, train_batch, False), ws, allow_unused=True)
    bufs, moms, wds = sgd_terms(weight_optimizer, ws) if weight_optimizer is not None else (
        [None] * len(ws), [0.0] * len(ws), [0.0] * len(ws))
    with torch.no_grad():
        for w, g, b, m, wd in zip(ws, g_train, bufs, moms, wds):
            if g is None and b is None and not wd:
                continue
            w.copy_(unrolled_weights(w, torch.zeros_like(w) if g is None else g, xi, b, m, wd))
    # L_val(w', alpha): gradients w.r.t. alpha and w'
    val_loss, stats = strategy.arch_loss(supernet, valid_batch)
    grads = torch.autograd.grad(val_loss, alphas + ws, allow_unused=True)
    d_alpha = [torch.zeros_like(a) if g is None else g for a, g in zip(alphas, grads[:len(alphas)])]
    d_w = [torch.zeros_like(w) if g is None else g for w, g in zip(ws, grads[len(alphas):])]
    norm = torch.sqrt(sum((g * g).sum() for g in d_w))
    eps = fd_scale / max(float(norm), 1e-12)

    def alpha_grad_at(sign: float) -> list[torch.Tensor]:
        with torch.no_grad():
            for w, b, g in zip(ws, backup, d_w):
                w.copy_(b + sign * eps * g)
        g = torch.autograd.grad(_ce(strategy, supernet, train_batch, True), alphas, allow_unused=True)
        return [torch.zeros_like(a) if x is None else x for a, x in zip(alphas, g)]

    g_plus, g_minus = alpha_grad_at(+1.0), alpha_grad_at(-1.0)
    with torch.no_grad():
        for w, b in zip(ws, backup):
            w.copy_(b)
    out = [da - xi * (gp - gm) / (2 * eps) for da, gp, gm in zip(d_alpha, g_plus, g_minus)]
    return out, stats


class DARTS(OneShotStrategy):
    """DARTS (Liu et al., 2019) as described in the DrNAS and A-DARTS papers."""

    Config = DARTSConfig

    def make_mixer(self) -> Mixer:
        return SoftmaxMixer()

    def arch_grads(self, supernet, batch, train_batch=None, lr=None):
        c = self.config
        if not c.second_order:
            return super().arch_grads(supernet, batch, train_batch, lr)
        if train_batch is None:
            raise SpacenasError("second-order DARTS needs a train batch for the unrolled step")
        xi = c.unroll_lr if c.unroll_lr is not None else lr
        if xi is None:
            raise SpacenasError("second-order DARTS needs unroll_lr or the current weight learning rate")
        opt = self.weight_optimizer if c.unroll == "authors" else None
        if c.unroll == "authors" and opt is None:
            raise SpacenasError("second-order DARTS with unroll='authors' needs the loop's weight optimizer "
                                "(bind_weight_optimizer); run it through spacenas.strategies.oneshot.loop.search")
        return unrolled_arch_grads(self, supernet, batch, train_batch, float(xi), c.fd_scale, opt)
