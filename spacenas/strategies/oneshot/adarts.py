"""A-DARTS (Wang et al., "Scalable NAS with Factorizable Architectural Parameters"), Sec. 3.2-3.4.

The op set is factorized, ``O = O1 x O2``: working ops x the nine activations of
:mod:`spacenas.nn.activations`. Per edge there are two architecture tensors:

* ``alpha [E, |O1|]`` -- op mixing by ``softmax(alpha)`` (Eq. 2), as in DARTS (inherited);
* ``beta  [E, 9]``    -- activation mixing by ``softmax(beta)`` (Eq. 3), passed to the supernet as
  ``act_weights``; the mixture replaces the leading ReLU of the parameterized ops only.

Each has its own Adam (paper Sec. 4.2: lr 6e-4, betas (0.5, 0.999), weight decay 1e-3). One
architecture step is Algorithm 1, lines 4-5: an alpha step on a validation batch with beta
fixed, then a beta step on the same batch with the *updated* alpha (a second forward pass); the
weight step (line 3) is the loop's. ``fixed_activation`` searches with one activation (beta not
learned; Table 2's "search with ReLU" rows).

:meth:`ADARTS.derive` returns the op part (an arch of ``supernet.space``, as for every one-shot
strategy, so the loop and the NB201 table work unchanged); :meth:`ADARTS.derive_factorized`
returns the full arch in the factorized space ``<space>-act`` (:mod:`spacenas.spaces.factorized`):
on every edge whose op is parameterized, the activation ``argmax(beta)`` of that edge, or one
fixed activation everywhere (retraining with a fixed activation, Tables 2 and 4). The text form
of each epoch's full arch is kept in ``ADARTS.derived``.

The paper's recipe (Sec. 4.1), beyond the defaults above:

* search 25 epochs with the weight lr 0.05 cosine-annealed to 0.001 (loop options; the
  ``adarts-darts`` preset);
* **the skip-connect rule**: "after the search process, we check if there is at least one
  skip-connect operator in the normal cell, if not, it is discarded" -- :func:`keeps_skip_rule`
  on the derived arch, ``skip_rule: true`` logs the verdict every epoch (``discarded``), and
  :func:`search_until_kept` re-runs the search with the next seed until an arch is kept;
* **Config-A** (Table 2): the activation parameters beta fixed at the end of an earlier search
  and only alpha (and the weights) searched: ``frozen_beta`` (raw beta per cell type, e.g.
  from :func:`config_a`, which reads the ``beta`` every epoch's log record holds).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from spacenas.errors import SpacenasError, unknown
from spacenas.nn.activations import ACTIVATIONS
from spacenas.nn.ops import make_op
from spacenas.spaces.base import Arch
from spacenas.spaces.factorized import FactorizedSpace, activation_factor
from spacenas.strategies.oneshot.darts import DARTS, DARTSConfig


def parameterized_ops(op_names: tuple[str, ...]) -> tuple[str, ...]:
    """The ops that take the activation mixture (those with a leading activation)."""
    return tuple(n for n in op_names if n != "none" and make_op(n, 2, 1, False, False).has_act)


def activation_weights(beta: torch.Tensor) -> torch.Tensor:
    """Eq. 3 mixing weights per edge: ``softmax(beta)`` over the activations (last dim)."""
    return torch.softmax(beta, dim=-1)


def factorized_space_of(supernet) -> FactorizedSpace:
    """The op x activation space of ``supernet`` (``nb201`` -> ``nb201-act``)."""
    base = supernet.space
    return FactorizedSpace(base, [activation_factor(parameterized_ops(tuple(supernet.op_names)))],
                           name=f"{base.name}-act")


def darts_edge_of_decision(arch: Arch, i: int) -> tuple[str, int]:
    """DARTS space: op decision ``i`` (``<cell>.node<n>.op<slot>``) -> ``(cell type, edge)``,
    the supernet edge from the decision's input to its node (edge order of
    :func:`spacenas.nn.cells.darts_edges`)."""
    from spacenas.nn.cells import darts_edges
    from spacenas.spaces.darts import CELL_TYPES, STEPS
    block, pos = divmod(i, 4)
    if pos not in (1, 3):
        raise SpacenasError(f"DARTS decision {i} is not an op decision")
    t, node = divmod(block, STEPS)
    src = arch.choices[i - 1]
    return CELL_TYPES[t], darts_edges(STEPS).index((node, src))


def decision_edges(supernet, base_arch: Arch, fspace: FactorizedSpace) -> list[tuple[str, int]]:
    """``(cell type, edge)`` whose activation each factored decision of ``base_arch`` takes.

    Spaces whose decisions are the edges of one cell type (NB201) map one to one; other spaces
    provide ``edge_of_decision(arch, i) -> (cell_type, edge)``.
    """
    shapes = supernet.arch_shapes()
    if supernet.space.name == "darts":
        return [darts_edge_of_decision(base_arch, i) for i in fspace.factored]
    if hasattr(supernet.space, "edge_of_decision"):
        return [tuple(supernet.space.edge_of_decision(base_arch, i)) for i in fspace.factored]
    if len(shapes) == 1:
        (key, (e, _)), = shapes.items()
        if e == supernet.space.n_decisions:
            return [(key, i) for i in fspace.factored]
    raise SpacenasError(f"A-DARTS cannot map the decisions of space {supernet.space.name!r} to supernet "
                        "edges (the space needs an edge_of_decision method)")


class ADARTSConfig(DARTSConfig):
    """A-DARTS options (paper Sec. 4.2 defaults)."""

    arch_lr: float = 6e-4
    act_lr: float = Field(6e-4, gt=0.0)
    act_beta1: float = Field(0.5, ge=0, lt=1)
    act_beta2: float = Field(0.999, ge=0, lt=1)
    act_weight_decay: float = Field(1e-3, ge=0.0)
    #: search with this one activation everywhere (beta not learned); None: search beta
    fixed_activation: str | None = None
    #: tri_level: Algorithm 1 (alpha step, then beta step at the new alpha: two forward passes);
    #: joint: one forward/backward for both (cheaper; not the paper's order)
    update: Literal["tri_level", "joint"] = "tri_level"
    #: Config-A: beta per cell type fixed to these values (raw beta, [edges][activations]); None: search beta
    frozen_beta: dict[str, list[list[float]]] | None = None
    #: the paper's rule: an arch whose normal cell has no skip_connect is discarded (logged per epoch)
    skip_rule: bool = False


def keeps_skip_rule(space, arch: Arch) -> bool:
    """A-DARTS Sec. 4.1: does the normal cell hold at least one ``skip_connect``? The normal
    cell is the decisions named ``normal.*``; a single-cell space (NB201) is its own normal cell."""
    ds = space.decisions
    normal = [i for i, d in enumerate(ds) if d.name.startswith("normal.")] or list(range(len(ds)))
    return any(ds[i].choices[arch.choices[i]] == "skip_connect" for i in normal)


def config_a(source: str | Path | ADARTS) -> dict[str, Any]:
    """Config-A options from an earlier A-DARTS search: ``{"frozen_beta": beta at its end}``,
    from a strategy or a run dir (the last record of its ``log.jsonl``)."""
    if isinstance(source, ADARTS):
        beta = {k: v.detach().cpu().tolist() for k, v in sorted(source.beta.items())}
    else:
        log = Path(source) / "log.jsonl"
        try:
            lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
        except OSError as e:
            raise SpacenasError(f"Config-A needs an A-DARTS run dir: cannot read {log}: {e.strerror or e}") from None
        last = json.loads(lines[-1]) if lines else {}
        if "beta" not in last:
            raise SpacenasError(f"Config-A: {log} has no 'beta' record (not an A-DARTS search, or no epoch done)")
        beta = last["beta"]
    return {"frozen_beta": beta}


#: what the log's ``discarded`` says when the skip rule discards an arch
DISCARD_REASON = "no skip_connect in the normal cell (A-DARTS paper Sec. 4.1)"


def search_until_kept(run: Callable[[int], tuple[Any, ADARTS, Any]], seeds: Iterable[int]
                      ) -> tuple[int, Any, list[int]]:
    """The paper's discard rule as a procedure: ``run(seed) -> (result, strategy, supernet)``
    for each seed in turn until the derived arch keeps a ``skip_connect`` in its normal cell.
    Returns ``(seed, result, discarded seeds)``; no kept arch is a :class:`SpacenasError`."""
    discarded = []
    for seed in seeds:
        result, strategy, supernet = run(seed)
        if keeps_skip_rule(supernet.space, result.arch):
            return seed, result, discarded
        discarded.append(seed)
    raise SpacenasError(f"A-DARTS: every search (seeds {discarded}) ended without a skip_connect in the normal "
                        "cell, so each was discarded (paper Sec. 4.1); try more seeds")


class ADARTS(DARTS):
    """A-DARTS: DARTS with a factorized activation choice (see the module docstring)."""

    Config = ADARTSConfig
    #: supernet constructor options this method needs (for builders such as the CLI)
    supernet_options: dict[str, Any] = {"act_mixture": True}

    def __init__(self, supernet_shapes, config=None, generator=None, device="cpu") -> None:
        super().__init__(supernet_shapes, config, generator, device)
        fixed = self.config.fixed_activation
        if fixed is not None and fixed not in ACTIVATIONS:
            raise unknown("activation", fixed, ACTIVATIONS)
        n = len(ACTIVATIONS)
        self.beta = {k: torch.nn.Parameter(self.mixer.init((e, n), self.generator).to(self.device))
                     for k, (e, _) in self.shapes.items()}
        frozen = self.config.frozen_beta
        if frozen is not None:
            if fixed is not None:
                raise SpacenasError("A-DARTS: choose fixed_activation or frozen_beta (Config-A), not both")
            if set(frozen) != set(self.beta):
                raise SpacenasError(f"frozen_beta needs cell types {sorted(self.beta)}, got {sorted(frozen)}")
            with torch.no_grad():
                for k, b in self.beta.items():
                    v = torch.as_tensor(frozen[k], dtype=b.dtype)
                    if tuple(v.shape) != tuple(b.shape):
                        raise SpacenasError(f"frozen_beta[{k!r}] has shape {tuple(v.shape)}, expected "
                                            f"{tuple(b.shape)} (edges x {n} activations)")
                    b.copy_(v.to(self.device))
        self.act_optimizer = self.make_act_optimizer()
        #: text form (with activations) of the arch derived after each epoch
        self.derived: list[str] = []
        self._last: tuple[Any, Arch] | None = None

    def setup(self, supernet, epochs: int) -> None:
        from spacenas.nn.mixed import MixedOp
        if not any(getattr(m, "acts", None) is not None for m in supernet.modules() if isinstance(m, MixedOp)):
            raise SpacenasError("A-DARTS needs a supernet built with act_mixture=True "
                                "(see ADARTS.supernet_options)")
        super().setup(supernet, epochs)

    def act_parameters(self) -> list[torch.nn.Parameter]:
        return [self.beta[k] for k in sorted(self.beta)]

    def make_act_optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        return torch.optim.Adam(self.act_parameters(), lr=c.act_lr, betas=(c.act_beta1, c.act_beta2),
                                weight_decay=c.act_weight_decay)

    def act_weights(self) -> dict[str, torch.Tensor]:
        fixed = self.config.fixed_activation
        if fixed is not None:
            j = ACTIVATIONS.index(fixed)
            return {k: F.one_hot(torch.full((b.shape[0],), j, device=b.device), b.shape[1]).to(b.dtype)
                    for k, b in self.beta.items()}
        return {k: activation_weights(self.beta[k]) for k in sorted(self.beta)}

    def arch_step(self, supernet, batch, train_batch=None, lr=None) -> dict[str, float]:
        """Algorithm 1 lines 4-5: alpha step (beta fixed), then beta step with the new alpha
        (``update: joint``: both from one forward pass)."""
        if self.config.fixed_activation is not None or self.config.frozen_beta is not None:
            return super().arch_step(supernet, batch, train_batch, lr)  # alpha only
        betas = self.act_parameters()
        if self.config.update == "joint" and not self.config.second_order:
            loss, stats = self.arch_loss(supernet, batch)
            params = self.arch_parameters() + betas
            grads = [torch.zeros_like(p) if g is None else g
                     for p, g in zip(params, torch.autograd.grad(loss, params, allow_unused=True))]
            self._apply(self.arch_parameters(), grads[: len(params) - len(betas)], self.arch_optimizer)
            self._apply(betas, grads[len(params) - len(betas):], self.act_optimizer)
            return stats
        stats = super().arch_step(supernet, batch, train_batch, lr)
        x, y = batch
        loss = F.cross_entropy(self.forward(supernet, x), y)
        grads = [torch.zeros_like(b) if g is None else g
                 for b, g in zip(betas, torch.autograd.grad(loss, betas, allow_unused=True))]
        self._apply(betas, grads, self.act_optimizer)
        stats["act_loss"] = float(loss.detach())
        return stats

    def _apply(self, params, grads, optimizer) -> None:
        if self.grad_reducer is not None:
            self.grad_reducer(grads)
        for p, g in zip(params, grads):
            p.grad = g.detach().clone()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    # ----- derivation -----------------------------------------------------------------------
    def act_scores(self) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {k: v.detach() for k, v in self.act_weights().items()}

    def derive_factorized(self, supernet, activation: str | None = None) -> Arch:
        """The searched arch in ``<space>-act`` with its activation per edge (argmax of beta);
        ``activation`` (or ``fixed_activation``) puts one activation everywhere."""
        fspace = factorized_space_of(supernet)
        base = self.derive(supernet)
        edges = decision_edges(supernet, base, fspace)
        acts = self.act_scores()
        arch = fspace.compose(base, {"act": [int(acts[k][e].argmax()) for k, e in edges]})
        fixed = activation or self.config.fixed_activation
        return fspace.fix_factor(arch, "act", fixed) if fixed is not None else arch

    def describe(self, supernet, arch: Arch) -> str:
        """The full factorized text form (ops and activations) of the current derivation."""
        return factorized_space_of(supernet).format(self.derive_factorized(supernet))

    def log_extra(self) -> dict[str, Any]:
        """``beta`` (raw, per cell type: what :func:`config_a` reads) and, with ``skip_rule``,
        ``discarded``: the reason the rule discards this epoch's arch, or False."""
        out: dict[str, Any] = {"beta": {k: v.detach().cpu().tolist() for k, v in sorted(self.beta.items())}}
        if self.config.skip_rule and self._last is not None:
            out["discarded"] = not keeps_skip_rule(*self._last) and DISCARD_REASON
        return out

    def text_space(self, supernet) -> str:
        return factorized_space_of(supernet).name

    def on_epoch_end(self, epoch: int, supernet) -> bool:
        """Record the factorized text form of this epoch's arch (the loop logs the op part)."""
        changed = super().on_epoch_end(epoch, supernet)
        arch = self.derive_factorized(supernet)
        self.derived.append(factorized_space_of(supernet).format(arch))
        self._last = (supernet.space, self.derive(supernet))
        return changed

    # ----- checkpointing ----------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        return {"beta": {k: v.detach().cpu().clone() for k, v in self.beta.items()},
                "act_optimizer": self.act_optimizer.state_dict(), "derived": list(self.derived)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for k, v in state["beta"].items():
                self.beta[k].copy_(v.to(self.device))
        self.act_optimizer = self.make_act_optimizer()
        self.act_optimizer.load_state_dict(state["act_optimizer"])
        self.derived = list(state["derived"])
