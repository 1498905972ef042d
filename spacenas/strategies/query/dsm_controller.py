"""DSM-NAS controller: a two-layer edge-aware GNN over the subspace graph feeding an LSTM cell.

Paper: Chen et al., "Automated Dominative Subspace Mining for Efficient NAS" (Sec. III,
Algorithm 1, Eqs. 1-4). This module holds the ``nn.Module`` and the pure math; the ask/tell
loop lives in :mod:`spacenas.strategies.query.dsm`.

Subspace graph (Sec. III-B)
    Nodes are the K candidate subspaces, each represented by its center arch: node features are
    the flattened one-hot encoding of the center plus its (scaled) score. A directed edge goes
    from every worse center to every better one, with feature ``h_b - h_a`` (target minus
    source). Ties (equal scores) get one edge, from the lower to the higher index, so the graph
    stays connected (the authors' code does the same).

GNN (two layers, after GRAPE [50], written with dense K x K tensors)
    ``m_in[v]  = mean_{u->v} relu(P_in  [h_u, e_uv])``  (messages from worse centers)
    ``m_out[v] = mean_{v->w} relu(P_out [h_w, e_vw])``  (messages from better centers)
    ``h_v'     = relu(Q [h_v, m_in[v], m_out[v]])``
    ``e_uv'    = relu(W [e_uv, h_u', h_v'])``
    A node without in- (out-) edges gets a zero ``m_in`` (``m_out``).

Policy (joint global + local, as in Sec. IV-A)
    Step 0 (global, pi_G): LSTM input = mean node embedding; attention
    ``v^T tanh(W_g g_k + W_h h)`` over the K nodes picks the subspace k.
    Then M modifications (local, pi_L): each is two LSTM steps, one picking a decision (edge),
    one picking a choice (op) for it. The first local input is the chosen node's GNN embedding
    (the local policy sees Omega_alpha); the op step's input is the decision embedding plus the
    embedding of the op that decision currently holds; the next step's input is the chosen op's
    embedding. Logits are clipped with ``c * tanh(logits)`` (ENAS style; 1.5 for the subspace
    and 1.5 / 2.5 = 0.6 for edits in the authors' code). Choosing the op a decision already has
    is a no-op, so after M edits the child is within distance M of the center (Eq. 3).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

#: finite "minus infinity" for masked choices (keeps 0 * log p at 0, not NaN)
_MASKED = -1e9


# ----- pure helpers -------------------------------------------------------------------------
def improvement_reward(score_child: float, score_parent: float) -> float:
    """R(beta | alpha) = score(beta) - score(alpha)  (Sec. III-A, Eq. 2)."""
    return float(score_child) - float(score_parent)


def absolute_reward(score_child: float, score_parent: float) -> float:
    """R(beta) = score(beta): the ablation of Fig. 8a (the parent's score is ignored)."""
    return float(score_child)


#: policy reward forms (``DSMConfig.reward``): the paper's improvement reward and the Fig. 8a ablation
REWARDS = {"improvement": improvement_reward, "absolute": absolute_reward}


def ema_update(baseline: float | None, reward: float, decay: float) -> float:
    """Exponential moving average baseline; the first reward initialises it."""
    if baseline is None:
        return float(reward)
    return decay * baseline + (1.0 - decay) * float(reward)


def clip_logits(logits: torch.Tensor, c: float | None) -> torch.Tensor:
    """``c * tanh(logits)`` when ``c`` is set, else the logits unchanged."""
    return logits if c is None else c * torch.tanh(logits)


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy ``-sum p log p`` of ``softmax(logits)`` (last dim)."""
    logp = F.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def reinforce_loss(log_prob: torch.Tensor, entropy: torch.Tensor, advantage: float,
                   entropy_weight: float) -> torch.Tensor:
    """REINFORCE loss with an entropy bonus: ``-A * log pi(a) - w * H(pi)``."""
    return -float(advantage) * log_prob - float(entropy_weight) * entropy


def apply_edits(choices: Sequence[int], edits: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """beta = alpha (+) Delta alpha (Eq. 1): set decision ``d`` to choice ``c`` for each edit in order."""
    out = list(choices)
    for d, c in edits:
        out[d] = int(c)
    return tuple(out)


def build_subspace_graph(onehots: np.ndarray, scores: Sequence[float], score_scale: float = 1.0
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node features, adjacency and edge features of the subspace graph.

    ``onehots``: [K, F] flattened one-hot encodings of the K centers; ``scores``: their scores.
    Returns ``x`` [K, F+1] (one-hot, then ``score * score_scale``), ``adj`` [K, K] with
    ``adj[a, b] = 1`` for an edge a -> b (score[a] < score[b], or equal scores and a < b), and
    ``edge`` [K, K, F+1] with ``edge[a, b] = x[b] - x[a]`` on edges and 0 elsewhere.
    """
    onehots = np.asarray(onehots, dtype=np.float32)
    s = np.asarray(scores, dtype=np.float64)
    k = len(s)
    x = np.concatenate([onehots, (s * score_scale).astype(np.float32)[:, None]], axis=1)
    idx = np.arange(k)
    adj = (s[:, None] < s[None, :]) | ((s[:, None] == s[None, :]) & (idx[:, None] < idx[None, :]))
    edge = (x[None, :, :] - x[:, None, :]) * adj[:, :, None]
    return x, adj.astype(np.float32), edge.astype(np.float32)


# ----- modules --------------------------------------------------------------------------------
def _linear(n_in: int, n_out: int, bias: bool = True) -> nn.Linear:
    return skip_init(nn.Linear, n_in, n_out, bias=bias)


class EdgeGNNLayer(nn.Module):
    """One edge-aware message-passing layer on a dense K x K graph (see module docstring)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.p_in = _linear(2 * dim, dim)
        self.p_out = _linear(2 * dim, dim)
        self.q = _linear(3 * dim, dim)
        self.w = _linear(3 * dim, dim)

    def forward(self, h: torch.Tensor, e: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = h.shape[0]
        hu = h[:, None, :].expand(k, k, -1)  # hu[a, b] = h[a]
        hv = h[None, :, :].expand(k, k, -1)  # hv[a, b] = h[b]
        # messages along a -> b into b come from a; messages into a along a -> b come from b
        msg_in = F.relu(self.p_in(torch.cat([hu, e], -1))) * adj[:, :, None]
        msg_out = F.relu(self.p_out(torch.cat([hv, e], -1))) * adj[:, :, None]
        m_in = msg_in.sum(0) / adj.sum(0).clamp(min=1.0)[:, None]
        m_out = msg_out.sum(1) / adj.sum(1).clamp(min=1.0)[:, None]
        h2 = F.relu(self.q(torch.cat([h, m_in, m_out], -1)))
        e2 = F.relu(self.w(torch.cat([e, h2[:, None, :].expand(k, k, -1), h2[None, :, :].expand(k, k, -1)], -1)))
        return h2, e2 * adj[:, :, None]


class DSMController(nn.Module):
    """GNN + LSTM-cell policy: picks a subspace, then ``n_edits`` (decision, choice) edits.

    Parameters are initialised uniformly in [-init_range, init_range] from ``generator`` (the
    authors' code uses 0.1), without touching torch's global RNG. ``allowed`` (bool
    [n_decisions, max_choices], e.g. a :class:`~spacenas.subspace.Subspace` mask) restricts the
    choices an edit may set.
    """

    def __init__(self, in_dim: int, n_choices: Sequence[int], hidden: int = 64, gnn_layers: int = 2,
                 global_clip: float | None = 1.5, local_clip: float | None = 0.6,
                 generator: torch.Generator | None = None, init_range: float = 0.1,
                 allowed: np.ndarray | None = None) -> None:
        super().__init__()
        self.n_choices = tuple(int(n) for n in n_choices)
        n_dec, max_c = len(self.n_choices), max(self.n_choices)
        self.global_clip, self.local_clip = global_clip, local_clip
        self.node_in = _linear(in_dim, hidden)
        self.edge_in = _linear(in_dim, hidden)
        self.gnn = nn.ModuleList(EdgeGNNLayer(hidden) for _ in range(gnn_layers))
        self.lstm = skip_init(nn.LSTMCell, hidden, hidden)
        self.attn_node = _linear(hidden, hidden, bias=False)
        self.attn_hid = _linear(hidden, hidden, bias=False)
        self.attn_v = _linear(hidden, 1, bias=False)
        self.decision_head = _linear(hidden, n_dec)
        self.choice_head = _linear(hidden, max_c)
        self.decision_emb = skip_init(nn.Embedding, n_dec, hidden)
        self.choice_emb = skip_init(nn.Embedding, max_c, hidden)
        mask = torch.zeros(n_dec, max_c)
        for i, n in enumerate(self.n_choices):
            mask[i, n:] = _MASKED
        if allowed is not None:  # a Subspace mask [n_dec, max_c]: forbidden choices are never proposed
            mask[~torch.as_tensor(np.asarray(allowed, dtype=bool))] = _MASKED
        self.register_buffer("choice_mask", mask)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-init_range, init_range, generator=generator)

    def embed_graph(self, x: torch.Tensor, adj: torch.Tensor, edge: torch.Tensor) -> torch.Tensor:
        """Node embeddings [K, hidden] after the GNN."""
        h = self.node_in(x)
        e = self.edge_in(edge) * adj[:, :, None]
        for layer in self.gnn:
            h, e = layer(h, e, adj)
        return h

    def forward(self, x: torch.Tensor, adj: torch.Tensor, edge: torch.Tensor, centers: Sequence[Sequence[int]],
                n_edits: int, generator: torch.Generator | None = None,
                actions: Sequence[int] | None = None) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        """Sample (or, with ``actions``, re-score) a subspace choice and ``n_edits`` edits.

        Returns ``(actions, log_prob_sum, entropy_sum)`` where ``actions`` is the flat list
        ``[k, d_1, c_1, ..., d_M, c_M]``.
        """
        g = self.embed_graph(x, adj, edge)
        out: list[int] = []
        logps, ents = [], []

        def pick(logits: torch.Tensor) -> torch.Tensor:
            logp = F.log_softmax(logits, -1)
            if actions is None:
                # sampled on the CPU: the strategy's generator is a CPU generator whatever the device
                a = int(torch.multinomial(logp.detach().exp().cpu(), 1, generator=generator))
            else:
                a = int(actions[len(out)])
            out.append(a)
            logps.append(logp[a])
            ents.append(-(logp.exp() * logp).sum())
            return a

        state = self.lstm(g.mean(0, keepdim=True))
        h = state[0]
        attn = self.attn_v(torch.tanh(self.attn_node(g) + self.attn_hid(h))).view(-1)
        k = pick(clip_logits(attn, self.global_clip))
        cur = list(centers[k])
        inp = g[k:k + 1]
        for _ in range(n_edits):
            state = self.lstm(inp, state)
            d = pick(clip_logits(self.decision_head(state[0]).view(-1), self.local_clip))
            inp = self.decision_emb.weight[d:d + 1] + self.choice_emb.weight[cur[d]:cur[d] + 1]
            state = self.lstm(inp, state)
            c = pick(clip_logits(self.choice_head(state[0]).view(-1), self.local_clip) + self.choice_mask[d])
            cur[d] = c
            inp = self.choice_emb.weight[c:c + 1]
        return out, torch.stack(logps).sum(), torch.stack(ents).sum()
