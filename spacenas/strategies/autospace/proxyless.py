"""ProxylessNAS-style binary-gate search in a layer-wise space (AutoSpace Sec. 3.3, Eq. 6).

:class:`GatedSupernet` runs, per layer, any subset of its candidate blocks mixed by given
weights (Eq. 3), so memory scales with the number of *active* paths only:

* weight step: one path per layer sampled from ``p = softmax(alpha)`` (binary gate, one path);
* architecture step: two distinct paths per layer sampled from ``p``, one of them made active
  by a one-hot gate drawn from their renormalized probabilities; both are computed so that
  ``dL/dg`` exists for both; ``dL/dalpha`` follows Eq. 4 (:func:`gate_alpha_grad`). The loss is
  Eq. 6 with the MAdds of the gated network, ``sum_l sum_k g_k MAdds_k`` (in millions), which
  is linear in the gates, so its gate gradient is ``lambda * MAdds_k``.

Architecture parameters take plain SGD steps (the paper does not name the optimizer; with SGD
the compensation factor of Eq. 4 keeps its meaning). :func:`train_network` and
:func:`accuracy` train and score a fixed network (benchmarks, Table 6 analogue).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from spacenas.config import StrictModel
from spacenas.data.splits import ImageTensorDataset, iterate_batches
from spacenas.errors import SpacenasError
from spacenas.nn.madds import block_cost
from spacenas.nn.open_cell_net import LayerwiseNet, NetPlan, make_block
from spacenas.nn.ops import init_parameters_
from spacenas.numerics import check_finite
from spacenas.spaces.base import Arch
from spacenas.spaces.open_cell import LayerwiseSpace
from spacenas.strategies.autospace.math import fitness_mix, gate_alpha_grad, mixing_probs, regularized_loss

_HINT = "the learning rate may be too high (lower --set lr or arch_lr)"


class GatedSupernet(nn.Module):
    """Stem + head of a :class:`LayerwiseNet` and candidate blocks per layer, with MAdds each."""

    def __init__(self, body: LayerwiseNet, candidates: Sequence[Sequence[nn.Module]],
                 madds: Sequence[Sequence[float]]) -> None:
        super().__init__()
        self.body = body
        self.candidates = nn.ModuleList(nn.ModuleList(c) for c in candidates)
        self.madds = [list(m) for m in madds]

    def forward(self, x: torch.Tensor, paths: Sequence[Sequence[int]],
                weights: Sequence[torch.Tensor | None]) -> torch.Tensor:
        """Layer ``l`` computes ``sum_j weights[l][j] * candidates[l][paths[l][j]](h)``
        (``weights[l] = None``: the single path's output as is)."""
        def layer_fn(l: int, h: torch.Tensor) -> torch.Tensor:
            outs = [self.candidates[l][k](h) for k in paths[l]]
            if weights[l] is None:
                return outs[0]
            return fitness_mix(outs, weights[l])
        return self.body(x, layer_fn)


def sample_paths(p: torch.Tensor, n: int, generator: torch.Generator) -> list[int]:
    """``n`` distinct path indices drawn by probability ``p`` (without replacement)."""
    n = min(n, p.numel())
    return [int(i) for i in torch.multinomial(p.detach().cpu(), n, replacement=False, generator=generator)]


def weight_step(net: GatedSupernet, alphas: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                opt: torch.optim.Optimizer, generator: torch.Generator, mode: str = "softmax"
                ) -> tuple[float, list[int]]:
    """One weight update on a single sampled path per layer; returns (loss, sampled paths)."""
    paths = [sample_paths(mixing_probs(a.detach(), mode), 1, generator) for a in alphas]
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(net(x, paths, [None] * len(paths)), y)
    loss.backward()
    opt.step()
    return float(loss.detach()), [p[0] for p in paths]


@dataclass
class GateGrad:
    paths: list[int]          # the sampled paths of a layer
    probs: torch.Tensor       # their renormalized probabilities
    grad: torch.Tensor        # dL/dg over those paths


def gate_grads(net: GatedSupernet, alphas: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor,
               generator: torch.Generator, lam: float = 0.0, mode: str = "softmax"
               ) -> tuple[float, list[GateGrad]]:
    """Binary gates on two sampled paths per layer; returns (Eq. 6 loss, per-layer gate grads)."""
    paths, probs, gates = [], [], []
    for a in alphas:
        pair = sample_paths(mixing_probs(a.detach(), mode), 2, generator)
        pp = mixing_probs(a.detach()[pair], mode)
        active = int(torch.multinomial(pp.cpu(), 1, generator=generator))
        g = torch.zeros(len(pair), device=x.device)
        g[active] = 1.0
        g.requires_grad_(True)
        paths.append(pair), probs.append(pp), gates.append(g)
    logits = net(x, paths, gates)
    madds = sum((g * torch.tensor([net.madds[l][k] for k in paths[l]], device=x.device)).sum()
                for l, g in enumerate(gates))
    loss = regularized_loss(F.cross_entropy(logits, y), madds, lam)
    grads = torch.autograd.grad(loss, gates)
    return float(loss.detach()), [GateGrad(pa, pr, gr.detach().to(pr.device)) for pa, pr, gr in zip(paths, probs, grads)]


def alpha_step(alpha: torch.Tensor, gg: GateGrad, lr: float, compensation: torch.Tensor | float = 1.0) -> None:
    """SGD step on the sampled paths' fitness scores with the Eq. 4 gradient (in place)."""
    g = gate_alpha_grad(gg.grad, gg.probs, compensation)
    with torch.no_grad():
        alpha[gg.paths] -= lr * g.to(alpha.device)


def accuracy(net: nn.Module, data: ImageTensorDataset, batch_size: int = 256, device: str = "cpu") -> float:
    net.eval()
    correct = 0
    with torch.no_grad():
        for x, y in iterate_batches(data, batch_size, shuffle=False, device=device):
            correct += int((net(x).argmax(1) == y).sum())
    net.train()
    return correct / len(data)


def train_network(net: nn.Module, data: ImageTensorDataset, epochs: int, generator: torch.Generator,
                  batch_size: int = 64, lr: float = 0.05, device: str = "cpu") -> list[float]:
    """SGD (momentum 0.9, wd 3e-4, cosine lr) for ``epochs``; returns the mean loss per epoch."""
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=3e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
    losses = []
    net.train()
    for _ in range(epochs):
        tot, n = 0.0, 0
        for x, y in iterate_batches(data, batch_size, generator, device=device):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), y)
            check_finite(loss, "training loss", f"epoch {len(losses)} step {n // batch_size}", _HINT)
            loss.backward()
            opt.step()
            tot, n = tot + float(loss.detach()) * len(y), n + len(y)
        sched.step()
        losses.append(tot / n)
    return losses


class ProxylessConfig(StrictModel):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(0.05, gt=0)
    arch_lr: float = Field(0.5, gt=0)
    #: lambda of Eq. 6 (per million MAdds)
    lam: float = Field(0.0, ge=0)
    #: epochs of weight-only warm-up before architecture steps
    warmup_epochs: int = Field(2, ge=0)
    #: p from alpha (see :func:`~spacenas.strategies.autospace.math.mixing_probs`)
    mode: Literal["softmax", "ratio"] = "softmax"


@dataclass
class ProxylessResult:
    arch: Arch
    arch_text: str
    alphas: list[list[float]]
    losses: list[float] = field(default_factory=list)


def build_supernet(space: LayerwiseSpace, plan: NetPlan, generator: torch.Generator) -> GatedSupernet:
    """All candidate blocks of every layer, with their MAdds (millions)."""
    if space.n_decisions != plan.n_layers:
        raise SpacenasError(f"space has {space.n_decisions} layers, network plan has {plan.n_layers}")
    cands, madds = [], []
    for l, choices in enumerate(space.layers):
        c_in, c_out, size, s = plan.layer_geometry(l)
        mods = [make_block(b, c_in, c_out, s) for b in choices]
        for m in mods:
            init_parameters_(m, generator)
        cands.append(mods)
        madds.append([block_cost(b, c_in, c_out, size, s).madds / 1e6 for b in choices])
    return GatedSupernet(LayerwiseNet(plan, generator=generator), cands, madds)


def learn_fitness(net: GatedSupernet, alphas: list[torch.Tensor], train: ImageTensorDataset,
                  valid: ImageTensorDataset, config: ProxylessConfig, generator: torch.Generator,
                  device: str = "cpu") -> tuple[list[float], list[list[list[float]]]]:
    """Alternate weight steps (train) and binary-gate fitness steps (valid) on ``net``, updating
    ``alphas`` in place; returns (weight-step losses, alphas after every epoch)."""
    opt = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=0.9, weight_decay=3e-4)
    losses, snapshots = [], []
    for epoch in range(config.epochs):
        vbatches = iterate_batches(valid, config.batch_size, generator, device=device)
        for x, y in iterate_batches(train, config.batch_size, generator, device=device):
            loss, _ = weight_step(net, alphas, x, y, opt, generator, config.mode)
            check_finite(loss, "training loss", f"epoch {epoch} step {len(losses)}", _HINT)
            losses.append(loss)
            if epoch < config.warmup_epochs:
                continue
            xv_yv = next(vbatches, None)
            if xv_yv is None:
                vbatches = iterate_batches(valid, config.batch_size, generator, device=device)
                xv_yv = next(vbatches)
            _, ggs = gate_grads(net, alphas, *xv_yv, generator, config.lam, config.mode)
            for a, gg in zip(alphas, ggs):
                if len(gg.paths) > 1:
                    alpha_step(a, gg, config.arch_lr)
            check_finite(alphas, "architecture parameters", f"epoch {epoch} step {len(losses) - 1}", _HINT)
        check_finite(net, "supernet weights", f"end of epoch {epoch}", _HINT)
        snapshots.append([a.tolist() for a in alphas])
    return losses, snapshots


def proxyless_search(space: LayerwiseSpace, plan: NetPlan, train: ImageTensorDataset, valid: ImageTensorDataset,
                     config: ProxylessConfig, generator: torch.Generator, device: str = "cpu") -> ProxylessResult:
    """Search ``space`` with binary gates and the Eq. 6 loss; derive by argmax of alpha."""
    net = build_supernet(space, plan, generator).to(device)
    alphas = [torch.zeros(len(c), device=device) for c in space.layers]
    losses, _ = learn_fitness(net, alphas, train, valid, config, generator, device)
    arch = Arch(space.name, tuple(int(a.argmax()) for a in alphas))
    return ProxylessResult(arch, space.format(arch), [a.tolist() for a in alphas], losses)
