"""DDSAS math as pure functions (Yang et al., ACML 2021, Section 3; Algorithm 1).

Shapes: every array is ``[n_edges, n_ops]`` (one cell type). Boolean masks use ``True`` for
"op is in the (sub)space". Numpy is used for the bookkeeping that carries no gradient (UCB,
selection, counts, saliency, elastic space); torch for the mixing weights (Eq. 7-8).

Choices where the paper is silent or ambiguous (also in ``docs/ddsas-adarts.md``):

* **Untried ops** (``t_k = 0``): the exploration term of Eq. 4 is ``+inf`` (the standard UCB
  convention: every arm is tried once before any is repeated). Ties between equal scores
  (e.g. all untried ops at the first sampling) are broken by ``f(zeta)`` and then uniformly at
  random with the caller's generator.
* **T = 0** (first sampling): ``log T`` is not evaluated; untried ops are ``+inf`` anyway and a
  tried op with ``T <= 1`` gets a zero bonus.
* **Exploration form**: ``"paper"`` is ``c * sqrt(2 log T / t)`` (Eq. 4, ``c = 1``); ``"code"``
  is the authors' code, ``c * sqrt(log T / t)`` with ``c = 1.44``.
* **At least one op per edge**: the best op (by UCB) of every edge is taken first, then the
  remaining ``L - n_edges`` slots go to the best remaining ops of the whole cell (global rank).
* **Saliency term of Eq. 11**: the paper's raw product ``p_k q_k`` (default) or, as an option,
  the normalized Eq. 7 mixing weight (what the authors' code averages).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from spacenas.errors import SpacenasError


# ----- Eq. 4-5: UCB ---------------------------------------------------------------------
def sigmoid(x: np.ndarray) -> np.ndarray:
    """Eq. 5, ``f(zeta) = 1 / (1 + exp(-zeta))``."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def ucb_scores(f: np.ndarray, t: np.ndarray, T: int, c: float = 1.0, form: str = "paper") -> np.ndarray:
    """Eq. 4: ``UCB_k = f_k + c * sqrt(2 log T / t_k)`` (``form="paper"``) or
    ``f_k + c * sqrt(log T / t_k)`` (``form="code"``). Untried ops (``t_k = 0``) score ``+inf``."""
    if form not in ("paper", "code"):
        raise SpacenasError(f"unknown UCB form {form!r} (allowed: paper, code)")
    f = np.asarray(f, dtype=float)
    t = np.asarray(t, dtype=float)
    log_t = math.log(T) if T > 1 else 0.0
    num = (2.0 if form == "paper" else 1.0) * log_t
    with np.errstate(divide="ignore", invalid="ignore"):
        bonus = np.where(t > 0, c * np.sqrt(num / np.maximum(t, 1.0)), np.inf)
    return f + bonus


# ----- top-L selection --------------------------------------------------------------------
def validate_subspace_size(L: int, n_edges: int, n_ops: int) -> int:
    """L must lie in ``[n_edges + 1, n_edges * n_ops]`` (Section 4.5.3: with ``L = n_edges``
    every edge holds one op and Eq. 7 is constant, so nothing can be learned)."""
    lo, hi = n_edges + 1, n_edges * n_ops
    if not isinstance(L, (int, np.integer)) or isinstance(L, bool) or not lo <= L <= hi:
        raise SpacenasError(
            f"DDSAS subspace size L={L!r} is out of range for {n_edges} edges x {n_ops} ops "
            f"(allowed: integers {lo}..{hi})")
    return int(L)


def rank_order(scores: np.ndarray, tiebreak: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flat indices of ``scores`` from best to worst; ties by ``tiebreak`` (higher first),
    then uniformly at random."""
    s = np.asarray(scores, dtype=float).ravel()
    tb = np.asarray(tiebreak, dtype=float).ravel()
    noise = rng.random(s.size)
    # np.lexsort sorts by the last key first, ascending: negate for descending order
    return np.lexsort((noise, -tb, -s))


def select_top_l(scores: np.ndarray, L: int, rng: np.random.Generator, *,
                 allowed: np.ndarray | None = None, always: np.ndarray | None = None,
                 tiebreak: np.ndarray | None = None) -> np.ndarray:
    """The sampled subspace Z (bool ``[e, m]``): the top-L ops by ``scores`` with at least one
    per edge.

    ``allowed`` is the current (elastic) space: other ops are never selected. ``always`` marks
    ops that are always in Z and not counted in L (the authors' code keeps ``none`` this way).
    Every edge first gets its best counted op; the other ``L - e`` slots go to the best of the
    rest by global rank. If fewer than ``L`` ops are allowed, Z is all of them.
    """
    s = np.asarray(scores, dtype=float)
    e, m = s.shape
    allowed = np.ones((e, m), bool) if allowed is None else np.asarray(allowed, bool)
    always = np.zeros((e, m), bool) if always is None else np.asarray(always, bool) & allowed
    cand = allowed & ~always
    tb = np.zeros_like(s) if tiebreak is None else np.asarray(tiebreak, float)
    order = rank_order(s, tb, rng)
    z = always.copy()
    n_taken = 0
    covered = np.zeros(e, bool)
    # pass 1: the best candidate of every edge (in global order = each edge's own best)
    for idx in order:
        i, k = divmod(int(idx), m)
        if cand[i, k] and not covered[i]:
            z[i, k] = True
            covered[i] = True
            n_taken += 1
    # pass 2: fill up to L by global rank
    for idx in order:
        if n_taken >= L:
            break
        i, k = divmod(int(idx), m)
        if cand[i, k] and not z[i, k]:
            z[i, k] = True
            n_taken += 1
    if not z.any(axis=1).all():
        raise SpacenasError("the elastic space leaves an edge with no op to sample")
    return z


# ----- Eq. 7-8: mixing weights --------------------------------------------------------------
def masked_softmax(alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 8: ``g_k = I(Z_k) exp(alpha_k) / sum_k' I(Z_k') exp(alpha_k')`` along the last dim;
    masked-out entries are exactly 0."""
    mask = mask.to(torch.bool)
    logits = alpha.masked_fill(~mask, float("-inf"))
    return torch.softmax(logits, dim=-1).masked_fill(~mask, 0.0)


def combine_space_weights(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Eq. 7 given ``p = f(zeta)`` and any in-subspace distribution ``q``: ``p q / sum(p q)``."""
    pq = p * q
    return pq / pq.sum(dim=-1, keepdim=True)


def ddsas_weights(zeta: torch.Tensor, alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 7: ``w_k = f(zeta_k) g_k / sum_k' f(zeta_k') g_k'`` with ``g`` of Eq. 8."""
    return combine_space_weights(torch.sigmoid(zeta), masked_softmax(alpha, mask))


# ----- Eq. 11-12: saliency -------------------------------------------------------------------
def saliency_update(s: np.ndarray, t_prev: np.ndarray, value: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Eq. 11: for ops in ``z``, ``s <- (s * t_prev + value) / (t_prev + 1)``; others keep ``s``.

    ``t_prev`` counts the earlier sampling iterations that contained the op, so the result is
    the running mean of ``value`` over the iterations the op was sampled (Eq. 12).
    """
    s = np.asarray(s, float)
    t_prev = np.asarray(t_prev, float)
    z = np.asarray(z, bool)
    new = (s * t_prev + np.asarray(value, float)) / (t_prev + 1.0)
    return np.where(z, new, s)


# ----- elastic space (Section 4.2) ------------------------------------------------------------
def shrink_space(allowed: np.ndarray, saliency: np.ndarray, n: int, protect: np.ndarray | None = None,
                 required: np.ndarray | None = None) -> np.ndarray:
    """Delete the ``n`` allowed ops with the lowest saliency over the whole cell, never the
    last op of an edge, never the last ``required`` op of an edge (DDSAS passes the non-``none``
    ops, so every edge keeps a real op to derive) and never a ``protect``-ed op. Ties: lower
    (edge, op) index first."""
    allowed = np.asarray(allowed, bool).copy()
    protect = np.zeros_like(allowed) if protect is None else np.asarray(protect, bool)
    required = np.zeros_like(allowed) if required is None else np.asarray(required, bool)
    sal = np.asarray(saliency, float)
    e, m = allowed.shape
    order = np.lexsort((np.arange(e * m), sal.ravel()))
    removed = 0
    for idx in order:
        if removed >= n:
            break
        i, k = divmod(int(idx), m)
        if not allowed[i, k] or protect[i, k] or allowed[i].sum() <= 1:
            continue
        if required[i, k] and (allowed[i] & required[i]).sum() <= 1:
            continue
        allowed[i, k] = False
        removed += 1
    return allowed


def expanding_space(op_names: tuple[str, ...], n_edges: int, initial: list[str], order: list[str],
                    epoch: int, every: int, at: list[int] | None = None) -> np.ndarray:
    """The expanding space at ``epoch``: ``initial`` ops plus one more op of ``order`` every
    ``every`` epochs (after epoch ``every``, ``2 every``, ...), same ops on every edge. With
    ``at``, op ``order[i]`` enters at epoch ``at[i]`` instead (the ImageNet schedule: the four
    parametric ops, then the other four all at epoch 40).

    Hand: initial (a,), order (b, c), every 10: epoch 9 -> {a}, 10 -> {a, b}, 25 -> {a, b, c};
    at (40, 40): epoch 39 -> {a}, 40 -> {a, b, c}."""
    for name in (*initial, *order):
        if name not in op_names:
            raise SpacenasError(f"unknown op {name!r} in the expanding schedule (allowed: {', '.join(op_names)})")
    if every < 1:
        raise SpacenasError(f"expand_every must be >= 1 epoch, got {every}")
    if at is not None:
        if len(at) != len(order) or any(e < 0 for e in at):
            raise SpacenasError(f"expand_epochs needs one epoch >= 0 per op of expand_order ({len(order)}), got {at}")
        names = list(initial) + [o for o, e in zip(order, at) if epoch >= e]
    else:
        names = list(initial) + list(order[: max(0, epoch) // every])
    row = np.array([o in names for o in op_names], bool)
    return np.tile(row, (n_edges, 1))


# ----- exploration metric (Section 4.5.1) -----------------------------------------------------
def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``1 - <a, b> / (|a| |b|)`` of two (flattened) one-hot arch encodings."""
    a = np.asarray(a, float).ravel()
    b = np.asarray(b, float).ravel()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        raise SpacenasError("cosine distance of an all-zero encoding is undefined")
    return max(0.0, 1.0 - float(a @ b) / (na * nb))  # clamp rounding below 0


def exploration_curve(one_hots: list[np.ndarray]) -> list[float]:
    """Cosine distance between the derived archs of adjacent epochs (Fig. 1a / 5), from their
    one-hot encodings (``space.one_hot(arch)``); works on any method's per-epoch history."""
    return [cosine_distance(a, b) for a, b in zip(one_hots, one_hots[1:])]
