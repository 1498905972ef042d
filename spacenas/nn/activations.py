"""The nine activation functions of A-DARTS and their mixture (A-DARTS Sec. 3.3, Eq. 3).

``sigma_ij(x) = sum_k w_k * act_k(x)`` where ``w`` are the edge's activation mixing weights
(softmax of beta in A-DARTS; any weights here). The mixture feeds the parameterized ops of an
edge in place of their leading ReLU (Eq. 2); see :mod:`spacenas.nn.ops`.

Choices (the paper names the functions, not their constants):

* PyTorch's default constants: ReLU6, LeakyReLU(0.01), PReLU(one learned slope, init 0.25),
  RReLU(lower=1/8, upper=1/3), ELU(1), CELU(1), SELU.
* Swish ``x * sigmoid(b * x)`` with one learned ``b`` per mixture, initialised to 1.
* RReLU samples its negative slopes at random in training mode. Randomness must come from an
  explicit generator, so :class:`RReLU` samples only when given a ``generator``; without one
  (the default inside supernets) it uses the eval-mode slope ``(lower + upper) / 2`` in both
  modes, i.e. it is deterministic and resumes exactly.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS: tuple[str, ...] = ("relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "celu",
                                "selu", "swish")


class Swish(nn.Module):
    """``x * sigmoid(b * x)`` with a learned scalar ``b`` (init 1)."""

    def __init__(self, b: float = 1.0) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.tensor(float(b)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.b * x)


class RReLU(nn.Module):
    """Randomized leaky ReLU. Random slopes ``~ U(lower, upper)`` per element only in training
    mode *and* with an explicit ``generator``; otherwise the fixed slope ``(lower+upper)/2``."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.lower, self.upper, self.generator = lower, upper, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.generator is not None:
            u = torch.rand(x.shape, generator=self.generator, device=self.generator.device)
            slope = (self.lower + (self.upper - self.lower) * u).to(device=x.device, dtype=x.dtype)
            return torch.where(x >= 0, x, x * slope)
        return F.leaky_relu(x, (self.lower + self.upper) / 2)


def make_activation(name: str, generator: torch.Generator | None = None) -> nn.Module:
    """One of :data:`ACTIVATIONS` as a module (``generator`` only matters for ``rrelu``)."""
    table = {
        "relu": nn.ReLU, "relu6": nn.ReLU6, "leaky_relu": nn.LeakyReLU, "prelu": nn.PReLU,
        "elu": nn.ELU, "celu": nn.CELU, "selu": nn.SELU, "swish": Swish,
    }
    if name == "rrelu":
        return RReLU(generator=generator)
    if name not in table:
        from spacenas.errors import unknown
        raise unknown("activation", name, ACTIVATIONS)
    return table[name]()


def mix_activations(x: torch.Tensor, acts: list[nn.Module] | nn.ModuleList, weights: torch.Tensor,
                    active: list[bool] | None = None) -> torch.Tensor:
    """Eq. 3: ``sum_k weights[k] * acts[k](x)`` over the active activations (inactive ones are
    not computed)."""
    out = None
    for k, act in enumerate(acts):
        if active is not None and not active[k]:
            continue
        y = weights[k] * act(x)
        out = y if out is None else out + y
    return torch.zeros_like(x) if out is None else out


class ActivationMixture(nn.Module):
    """The activation mixture of one edge: owns the nine activations (and their learned
    parameters: the PReLU slope and the Swish coefficient)."""

    def __init__(self, names: tuple[str, ...] = ACTIVATIONS, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.names = tuple(names)
        self.acts = nn.ModuleList(make_activation(n, generator) for n in self.names)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, active: list[bool] | None = None) -> torch.Tensor:
        if weights.shape != (len(self.acts),):
            raise ValueError(f"activation weights must have shape ({len(self.acts)},), got {tuple(weights.shape)}")
        return mix_activations(x, self.acts, weights, active)


def check_edge_activations(activations, ops, parameterized) -> tuple | None:
    """Validate a per-edge activation list of a fixed network against its edges' ops.

    One entry per edge: an activation name (only on the ``parameterized`` ops, whose leading ReLU
    it replaces) or ``None`` (keep the op as it is). ``None`` for the whole list passes through.
    """
    from spacenas.errors import SpacenasError, unknown

    if activations is None:
        return None
    acts = tuple(activations)
    if len(acts) != len(ops):
        raise SpacenasError(f"activations needs one entry per edge ({len(ops)}), got {len(acts)}")
    for name, op in zip(acts, ops):
        if name is None:
            continue
        if name not in ACTIVATIONS:
            raise unknown("activation", name, ACTIVATIONS)
        if op not in parameterized:
            raise SpacenasError(f"activation {name!r} given for op {op!r}; activations apply only to "
                                f"{', '.join(parameterized)} (use None there)")
    return acts
