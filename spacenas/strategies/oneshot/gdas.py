"""GDAS: one op per edge sampled by hard Gumbel-softmax, gradients by straight-through.

For every forward pass and edge, with logits ``alpha`` (restricted to the active ops) and
Gumbel noise ``g_o = -log(-log u_o)``, ``u_o ~ U(0, 1)`` drawn from the strategy's generator::

    y = softmax((alpha + g) / tau)          # soft sample
    k = argmax_o y_o                        # the sampled op
    h = onehot(k) - stopgrad(y) + y         # straight-through weights: value onehot(k)

The **mask** passed to the supernet contains only op ``k`` per edge, so the other ops are
never computed. The edge output is ``h_k * op_k(x) = op_k(x)`` in value, and its gradient
w.r.t. ``alpha`` is ``dL/dh_k * dy_k/dalpha``: the softmax Jacobian row of the sampled op,
which is non-zero for **every** active logit (``dy_k/dalpha_j = (y_k [j=k] - y_k y_j) / tau``).
The weights of the uncomputed ops receive no gradient (their ops produced nothing), exactly as
in GDAS. The temperature decays linearly from ``tau_max`` to ``tau_min`` over the epochs
(:func:`linear_tau`); derivation uses ``softmax(alpha)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from spacenas.strategies.oneshot.base import Mixer, OneShotConfig, OneShotStrategy, masked_softmax


def linear_tau(epoch: int, epochs: int, tau_max: float, tau_min: float) -> float:
    """Temperature of ``epoch`` (0-based): linear from tau_max (first) to tau_min (last).

    Hand example: 10 -> 0.1 over 4 epochs: 10, 6.7, 3.4, 0.1 (step 9.9 / 3 = 3.3).
    """
    if epochs <= 1:
        return tau_max
    return tau_max - (tau_max - tau_min) * epoch / (epochs - 1)


def gumbel_noise(shape, generator: torch.Generator) -> torch.Tensor:
    """Standard Gumbel noise ``-log(-log u)``, ``u`` uniform on (0, 1), from ``generator``."""
    u = torch.rand(shape, generator=generator, device=generator.device)
    u = u.clamp(min=torch.finfo(u.dtype).tiny, max=1.0 - torch.finfo(u.dtype).eps)
    return -torch.log(-torch.log(u))


def hard_gumbel_softmax(logits: torch.Tensor, noise: torch.Tensor, tau: float,
                        mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Straight-through hard sample per row: ``(weights, one-hot bool mask)`` (see module doc)."""
    z = (logits + noise) / tau
    y = masked_softmax(z, mask)
    k = y.argmax(dim=-1)
    onehot = F.one_hot(k, logits.shape[-1]).to(y.dtype)
    return onehot - y.detach() + y, onehot.bool()


class GumbelMixer(Mixer):
    """Hard Gumbel-softmax mixing; ``tau`` is set by the strategy each epoch."""

    def __init__(self, tau: float) -> None:
        self.tau = float(tau)

    def weights(self, params, mask, generator):
        noise = gumbel_noise(params.shape, generator).to(params.device)
        w, hard = hard_gumbel_softmax(params, noise, self.tau, mask)
        return w, hard

    def scores(self, params, mask):
        return masked_softmax(params, mask)


class GDASConfig(OneShotConfig):
    tau_max: float = Field(10.0, gt=0)
    tau_min: float = Field(0.1, gt=0)

    @model_validator(mode="after")
    def _tau_order(self) -> GDASConfig:
        if self.tau_min > self.tau_max:
            raise ValueError(f"tau_min ({self.tau_min}) must be <= tau_max ({self.tau_max}): the temperature "
                             "anneals from tau_max down to tau_min")
        return self


class GDAS(OneShotStrategy):
    """GDAS (Dong & Yang, 2019)."""

    Config = GDASConfig

    def make_mixer(self) -> Mixer:
        return GumbelMixer(self.config.tau_max)

    def setup(self, supernet, epochs: int) -> None:
        self.epochs = int(epochs)

    def on_epoch_start(self, epoch: int, supernet) -> None:
        self.mixer.tau = linear_tau(epoch, getattr(self, "epochs", 1), self.config.tau_max, self.config.tau_min)

    def extra_state(self):
        return {"tau": self.mixer.tau}

    def load_extra_state(self, state) -> None:
        self.mixer.tau = float(state["tau"])


__all__ = ["GDAS", "GDASConfig", "GumbelMixer", "gumbel_noise", "hard_gumbel_softmax", "linear_tau"]
