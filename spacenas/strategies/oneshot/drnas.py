"""DrNAS: Dirichlet architecture distributions (Chen et al., ICLR 2021, Sections 2.2-2.4).

* Concentration ``beta = ELU(eta) + 1`` (Section 4.1), :func:`concentration`.
* On **every** forward pass ``theta ~ Dir(beta)`` is drawn with pathwise gradients
  (:func:`dirichlet_rsample`). The sample is ``torch._sample_dirichlet`` driven by the
  strategy's own ``torch.Generator`` -- the same sampler as ``torch.distributions.Dirichlet
  .rsample`` (equal draws for equal RNG states, tested) -- and the backward pass is Eq. 3::

      d theta_i / d beta_j = G_j * (delta_ij - theta_i),
      G_j = -dF_Beta(theta_j | beta_j, beta_tot - beta_j)/d beta_j / (f_Beta(theta_j | ...) * (1 - theta_j))

  where ``G`` is ``torch._dirichlet_grad``. With an op mask, the Dirichlet is over the active
  ops only (masked ops get weight exactly 0), which is what pruning and subspaces need.
* Anchor regularizer ``lambda * d(beta, 1)`` written on ``eta`` (anchor ``eta = 0``), lambda=1e-3,
  in one of three forms (``anchor``):

  - ``weight_decay`` (default, the authors' code): Adam weight decay ``lambda`` on eta, i.e. the
    gradient ``lambda * eta`` of the loss ``lambda/2 * ||eta||^2``;
  - ``l2`` (the paper's text): an explicit loss term ``lambda * ||eta||^2`` (gradient ``2 lambda eta``);
  - ``kl``: ``lambda * sum_edges KL(Dir(beta) || Dir(1))`` (the code's variant);
  - ``none``: no anchor (Table 5's lambda = 0).
* eta initialised ``N(0, 0.001^2)`` from the generator.
* Derivation (``derive``): the op of each edge is the argmax of the Dirichlet mean
  ``beta / sum(beta)`` (Eq. 4) over the active ops, which is also the argmax of eta and of
  ``softmax(eta)`` (ELU + 1 and softmax are increasing). Where a space also ranks edges (the
  DARTS space keeps each node's two strongest inputs), the ranking value differs:
  ``softmax`` (default, the authors' ``genotype()``: masked ``softmax(eta)`` over the active
  ops) or ``mean`` (the Dirichlet mean, the earlier spacenas rule; the paper's Eq. 4 only covers
  the per-edge choice). Pruning and the log keep the Dirichlet mean.
* Progressive learning (Section 2.4): see :mod:`spacenas.strategies.oneshot.progressive`.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from spacenas.strategies.oneshot.base import Mixer, OneShotConfig, OneShotStrategy, masked_softmax, on_device_of
from spacenas.strategies.oneshot.progressive import Progressive, ProgressiveConfig


def concentration(eta: torch.Tensor) -> torch.Tensor:
    """``beta = ELU(eta) + 1`` (always > 0). Hand: eta (-1, 0, 2) -> (e^-1, 1, 3)."""
    return F.elu(eta) + 1.0


class _DirichletSample(torch.autograd.Function):
    """theta ~ Dir(conc) from an explicit generator, backward by Eq. 3 (module docstring)."""

    @staticmethod
    def forward(ctx, conc: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        theta = torch._sample_dirichlet(conc, generator=generator)
        ctx.save_for_backward(theta, conc)
        return theta

    @staticmethod
    def backward(ctx, grad_theta: torch.Tensor):
        theta, conc = ctx.saved_tensors
        total = conc.sum(-1, keepdim=True).expand_as(conc)
        g = torch._dirichlet_grad(theta, conc, total)
        # sum_i grad_i * G_j (delta_ij - theta_i) = G_j (grad_j - sum_i grad_i theta_i)
        return g * (grad_theta - (grad_theta * theta).sum(-1, keepdim=True)), None


def _sample_rows(beta: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    if beta.shape[-1] == 1:  # a one-op Dirichlet is the constant 1
        return torch.ones_like(beta) + 0.0 * beta
    b = on_device_of(beta, generator)
    return _DirichletSample.apply(b, generator).to(beta.device)


def dirichlet_rsample(beta: torch.Tensor, generator: torch.Generator,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    """One reparameterized sample ``theta[e] ~ Dir(beta[e, active ops])`` per row ``e``."""
    if mask is None or bool(mask.all()):
        return _sample_rows(beta, generator)
    counts = mask.sum(-1)
    out = torch.zeros_like(beta)
    if bool((counts == counts[0]).all()):
        active = beta[mask].view(beta.shape[0], int(counts[0]))
        return out.masked_scatter(mask, _sample_rows(active, generator))
    rows = [out[e].masked_scatter(mask[e], _sample_rows(beta[e][mask[e]], generator)) for e in range(beta.shape[0])]
    return torch.stack(rows)


def dirichlet_mean(beta: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``E[theta] = beta / sum(beta)`` over the active ops (Eq. 4). Hand: (1, 3) -> (0.25, 0.75)."""
    b = beta if mask is None else beta * mask
    return b / b.sum(-1, keepdim=True)


def anchor_l2(eta: torch.Tensor, lam: float) -> torch.Tensor:
    """``lam * ||eta||^2``. Hand: eta (0.5, -2), lam 1e-3 -> 1e-3 * 4.25 = 4.25e-3."""
    return lam * (eta * eta).sum()


def kl_to_uniform(beta: torch.Tensor) -> torch.Tensor:
    """``KL(Dir(beta) || Dir(1))`` per row::

        lnG(b0) - sum lnG(b_i) - lnG(K) + sum (b_i - 1)(psi(b_i) - psi(b0)),  b0 = sum b_i

    Hand: beta (2, 1): ln 2 - 0 - 0 - ln 1 + 1 * (psi(2) - psi(3)) = ln 2 - 1/2 = 0.193147.
    """
    b0 = beta.sum(-1)
    k = torch.tensor(float(beta.shape[-1]), dtype=beta.dtype, device=beta.device)
    return (torch.lgamma(b0) - torch.lgamma(beta).sum(-1) - torch.lgamma(k)
            + ((beta - 1) * (torch.digamma(beta) - torch.digamma(b0).unsqueeze(-1))).sum(-1))


class DirichletMixer(Mixer):
    """``theta ~ Dir(ELU(eta) + 1)`` per forward; scores = Dirichlet mean."""

    def __init__(self, anchor: str = "weight_decay", lam: float = 1e-3, init_std: float = 1e-3) -> None:
        self.anchor, self.lam, self.init_std = anchor, float(lam), float(init_std)
        self.weight_decay = self.lam if anchor == "weight_decay" else 0.0

    def init(self, shape, generator):
        return self.init_std * torch.randn(shape, generator=generator, device=generator.device)

    def weights(self, params, mask, generator):
        return dirichlet_rsample(concentration(params), generator, mask), None

    def scores(self, params, mask):
        return dirichlet_mean(concentration(params), mask)

    def penalty(self, params):
        if self.anchor == "l2":
            return anchor_l2(params, self.lam)
        if self.anchor == "kl":
            return self.lam * kl_to_uniform(concentration(params)).sum()
        return None


class DrNASConfig(OneShotConfig):
    #: DrNAS's anchor replaces the generic architecture weight decay
    arch_weight_decay: float = Field(0.0, ge=0)
    anchor: Literal["weight_decay", "l2", "kl", "none"] = "weight_decay"
    anchor_lambda: float = Field(1e-3, ge=0)
    init_std: float = Field(1e-3, gt=0)
    #: progressive learning (Section 2.4); None: plain DrNAS
    progressive: ProgressiveConfig | None = None
    #: value that ranks a DARTS node's inputs: softmax(eta) (authors' code) or the Dirichlet mean
    derive: Literal["softmax", "mean"] = "softmax"


class DrNAS(OneShotStrategy):
    """DrNAS, optionally with progressive learning."""

    Config = DrNASConfig

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.progressive = Progressive(self.config.progressive) if self.config.progressive is not None else None

    def make_mixer(self) -> Mixer:
        c = self.config
        return DirichletMixer(c.anchor, c.anchor_lambda, c.init_std)

    def concentrations(self) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {k: concentration(p).detach() for k, p in self.params.items()}

    def log_extra(self) -> dict:
        """``{"concentration": {cell: [[beta per op] per edge]}}`` for the accuracy-range plot
        (DrNAS Fig. 1); ops pruned by progressive learning are logged as 0 (not sampled)."""
        out = {}
        for k, b in sorted(self.concentrations().items()):
            m = self._mask(k)
            b = b if m is None else b * m
            out[k] = [[round(float(v), 5) for v in row] for row in b.cpu()]
        return {"concentration": out}

    def derive_scores(self) -> dict[str, torch.Tensor]:
        """Scores handed to ``supernet.derive`` (see the module docstring, ``derive``)."""
        if self.config.derive == "mean":
            return self.scores()
        with torch.no_grad():
            return {k: masked_softmax(self.params[k], self._mask(k)).detach() for k in sorted(self.params)}

    def derive(self, supernet):
        return supernet.derive(self.derive_scores(), self.op_masks)

    def arch_active(self, epoch: int) -> bool:
        return self.progressive is None or self.progressive.arch_active(epoch)

    def bind_weight_optimizer(self, optimizer) -> None:
        super().bind_weight_optimizer(optimizer)
        if self.progressive is not None:
            self.progressive.bind_weight_optimizer(optimizer)

    def setup(self, supernet, epochs: int) -> None:
        if self.progressive is not None:
            self.progressive.setup(self, supernet, epochs)

    def on_epoch_end(self, epoch: int, supernet) -> bool:
        return self.progressive is not None and self.progressive.on_epoch_end(self, epoch, supernet)

    def replay_structure(self, supernet) -> None:
        if self.progressive is not None:
            self.progressive.replay(supernet, self.generator.device)

    def extra_state(self):
        return {"progressive": None if self.progressive is None else self.progressive.state_dict()}

    def load_extra_state(self, state) -> None:
        if self.progressive is not None and state.get("progressive") is not None:
            self.progressive.load_state_dict(state["progressive"])
