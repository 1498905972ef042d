"""AutoSpace's equations as pure functions (AutoSpace Sec. 3.2-3.3).

* Eq. 3 :func:`mixing_probs` / :func:`fitness_mix` -- a layer's output is the fitness-weighted
  sum of its K cells. The paper writes ``p_k = alpha_k / sum_j alpha_j`` but its gradient
  (Eq. 4, ``p_k (delta_ik - p_i)``) is the softmax's, and its Table 6 shows negative fitness
  scores, which a plain ratio cannot use. Default: ``p = softmax(alpha)`` (``mode="softmax"``);
  the literal ratio is ``mode="ratio"`` (needs positive scores).
* Eq. 4 :func:`gate_alpha_grad` -- ProxylessNAS's binary-gate estimate of ``dL/dalpha`` from
  the gate gradients, times the iteration-count compensation :func:`count_compensation`.
* Eq. 5 :func:`momentum_update` -- write-back of learned fitness into the population.
* Eq. 1 :func:`within_madds` -- the hard per-cell limit ``MAdds(d_i) < MAdds_max``.
* Eq. 6 :func:`regularized_loss` -- ``CE + lambda * MAdds``.
* :func:`tournament_select` -- K distinct winners by tournament selection.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from spacenas.errors import SpacenasError


def mixing_probs(alpha: torch.Tensor, mode: str = "softmax") -> torch.Tensor:
    """Eq. 3 path weights ``p`` from fitness scores ``alpha`` (last dimension = paths)."""
    if mode == "softmax":
        return torch.softmax(alpha, dim=-1)
    if mode == "ratio":
        if (alpha <= 0).any():
            raise SpacenasError("ratio mixing (alpha_k / sum_j alpha_j) needs positive fitness scores")
        return alpha / alpha.sum(dim=-1, keepdim=True)
    raise SpacenasError(f"unknown mixing mode {mode!r} (allowed: softmax, ratio)")


def fitness_mix(outputs: Sequence[torch.Tensor], p: torch.Tensor) -> torch.Tensor:
    """Eq. 3: ``f = sum_k p_k d_k(x)``."""
    if len(outputs) != p.numel():
        raise SpacenasError(f"{len(outputs)} path outputs for {p.numel()} weights")
    out = p[0] * outputs[0]
    for k in range(1, len(outputs)):
        out = out + p[k] * outputs[k]
    return out


def count_compensation(n_supernet: float, n_cell: float, cap: float | None = None) -> float:
    """Eq. 4's factor ``n(d) / n'(d)``.

    Our reading: ``n`` is the number of training iterations the supernet has run so far (all
    rounds) and ``n'`` the number of iterations during which cell ``d`` was one of its layer's
    paths. A cell present in a fraction ``f`` of the iterations gets its steps scaled by
    ``1 / f``, so all cells of a population receive comparable total updates. ``cap`` bounds
    the factor (fresh offspring have ``n' = 1``); ``None`` = no bound.
    """
    if n_cell <= 0 or n_supernet <= 0:
        raise SpacenasError(f"iteration counts must be positive, got n={n_supernet}, n'={n_cell}")
    c = float(n_supernet) / float(n_cell)
    return min(c, cap) if cap is not None else c


def gate_alpha_grad(gate_grad: torch.Tensor, p: torch.Tensor,
                    compensation: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Eq. 4: ``dL/dalpha_i ~ sum_k dL/dg_k * p_k * (delta_ik - p_i) * n(d_i) / n'(d_i)``.

    ``gate_grad`` and ``p`` are over the same paths (ProxylessNAS: the two sampled paths with
    their renormalized probabilities); ``compensation`` is a scalar or one factor per path.
    """
    if gate_grad.shape != p.shape or p.dim() != 1:
        raise SpacenasError(f"gate gradients {tuple(gate_grad.shape)} and probabilities {tuple(p.shape)} "
                            "must be 1-d of the same length")
    k = p.numel()
    jac = p.unsqueeze(1) * (torch.eye(k, dtype=p.dtype, device=p.device) - p.unsqueeze(0))  # [k, i]
    return (gate_grad.unsqueeze(1) * jac).sum(dim=0) * compensation


def momentum_update(alpha_star: np.ndarray | float, alpha_old: np.ndarray | float, eps: float
                    ) -> np.ndarray | float:
    """Eq. 5: ``alpha(t) = eps * alpha* + (1 - eps) * alpha(t-1)``."""
    if not 0.0 <= eps <= 1.0:
        raise SpacenasError(f"momentum epsilon must be in [0, 1], got {eps}")
    return eps * np.asarray(alpha_star, dtype=float) + (1.0 - eps) * np.asarray(alpha_old, dtype=float)


def within_madds(madds: float, madds_max: float | None) -> bool:
    """Eq. 1's constraint ``MAdds(d_i) < MAdds_max`` (strict; ``None``: no limit).
    Hand: 2.5 < 3 -> True; 3 < 3 -> False."""
    return madds_max is None or float(madds) < float(madds_max)


def regularized_loss(ce: torch.Tensor, madds: torch.Tensor | float, lam: float) -> torch.Tensor:
    """Eq. 6: ``Loss = Loss_CE + lambda * MAdds(N)`` (MAdds in the unit the caller chose)."""
    return ce + lam * madds


def tournament_select(fitness: Sequence[float], k: int, size: int, rng: np.random.Generator) -> list[int]:
    """``k`` distinct indices: each winner is the fittest of ``size`` distinct random contestants
    drawn from those not yet selected (fewer if fewer remain); ties go to the lower index."""
    n = len(fitness)
    if not 1 <= k <= n:
        raise SpacenasError(f"cannot select {k} cells from a population of {n}")
    if size < 1:
        raise SpacenasError(f"tournament size must be >= 1, got {size}")
    f = np.asarray(fitness, dtype=float)
    left = list(range(n))
    won: list[int] = []
    for _ in range(k):
        contestants = rng.choice(len(left), size=min(size, len(left)), replace=False)
        idx = sorted(left[int(c)] for c in contestants)
        best = max(idx, key=lambda i: (f[i], -i))
        won.append(best)
        left.remove(best)
    return won
