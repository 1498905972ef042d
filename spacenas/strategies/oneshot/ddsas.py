"""DDSAS (Yang et al., ACML 2021): UCB subspace sampling + differentiable search inside it.

Two parts, kept apart so that they recombine:

* :class:`UCBSubspaceSampler` -- the **subspace producer**. It owns the bandit state per cell
  type (sample counts ``t``, sampling iterations ``T``, saliency ``s``, the elastic space) and
  turns ``f(zeta)`` into a sampled subspace ``Z`` (Eq. 4, top-L with one op per edge). It knows
  nothing about torch or the supernet.
* :class:`DDSAS` -- a one-shot strategy that owns ``alpha`` (via the mixer, as every one-shot
  strategy) and ``zeta`` (space parameters), asks the sampler for ``Z`` every ``M`` arch steps,
  passes ``Z`` as the op mask (ops outside ``Z`` are never computed), and mixes with Eq. 7:
  ``w = f(zeta) q / sum f(zeta) q``. ``q`` is the mixer's in-subspace distribution: Eq. 8's
  masked softmax (``mixing: softmax``, the paper) or DrNAS's Dirichlet sample
  (``mixing: dirichlet``) -- DDSAS sampling driving DrNAS mixing by configuration alone.

The final arch takes, per edge, the op with the highest saliency (Eq. 11-12), ``none`` excluded
(``supernet.derive`` with saliency as scores: one op per edge on NB201, two incoming edges per
node on DARTS). Step order (Algorithm 1): at arch steps 0, M, 2M, ... the open period's saliency
is updated (Eq. 11, with ``p q`` at the end of the period) and a new ``Z`` is sampled; weight
steps in between use the current ``Z``.
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from spacenas.config import StrictModel
from spacenas.errors import SpacenasError, unknown
from spacenas.spaces.base import Arch, SearchSpace
from spacenas.strategies.oneshot import ddsas_math as dm
from spacenas.strategies.oneshot.base import Mixer, OneShotConfig, OneShotStrategy
from spacenas.subspace import Subspace

#: the paper's L for its two spaces, by cell shape (n_edges, n_ops)
PAPER_L = {(6, 5): 12, (14, 8): 28}


class UCBSubspaceSampler:
    """Bandit state and UCB top-L sampling per cell type (see the module docstring)."""

    def __init__(self, shapes: dict[str, tuple[int, int]], L: dict[str, int], rng: np.random.Generator,
                 c: float = 1.0, form: str = "paper") -> None:
        self.shapes = dict(shapes)
        self.L = {k: dm.validate_subspace_size(L[k], *shapes[k]) for k in shapes}
        self.rng, self.c, self.form = rng, float(c), form
        self.T = 0
        self.t = {k: np.zeros(s) for k, s in shapes.items()}
        self.saliency = {k: np.zeros(s) for k, s in shapes.items()}
        self.allowed = {k: np.ones(s, bool) for k, s in shapes.items()}
        self.always = {k: np.zeros(s, bool) for k, s in shapes.items()}
        self.z: dict[str, np.ndarray] | None = None

    def sample(self, f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Eq. 4 + top-L: a new ``Z`` per cell type; then ``t += Z`` and ``T += 1`` (Alg. 1, 3-6)."""
        z = {}
        for k in sorted(self.shapes):
            ucb = dm.ucb_scores(f[k], self.t[k], self.T, self.c, self.form)
            z[k] = dm.select_top_l(ucb, self.L[k], self.rng, allowed=self.allowed[k],
                                   always=self.always[k], tiebreak=f[k])
            self.t[k] = self.t[k] + z[k]
        self.T += 1
        self.z = z
        return z

    def saliency_after(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Eq. 11 applied to the current ``Z`` with ``values = p q`` (not stored)."""
        if self.z is None:
            return {k: v.copy() for k, v in self.saliency.items()}
        return {k: dm.saliency_update(self.saliency[k], self.t[k] - self.z[k], values[k], self.z[k])
                for k in self.shapes}

    def observe(self, values: dict[str, np.ndarray]) -> None:
        """Close the current sampling iteration: store Eq. 11 for the ops of ``Z``."""
        self.saliency = self.saliency_after(values)

    def shrink(self, n: int, required: dict[str, np.ndarray] | None = None) -> None:
        """Delete the ``n`` lowest-saliency ops of each cell type from the space (Section 4.2);
        every edge keeps one of its ``required`` ops (see :func:`ddsas_math.shrink_space`)."""
        for k in self.shapes:
            self.allowed[k] = dm.shrink_space(self.allowed[k], self.saliency[k], n, protect=self.always[k],
                                              required=None if required is None else required[k])

    def set_allowed(self, allowed: dict[str, np.ndarray]) -> None:
        for k in self.shapes:
            self.allowed[k] = np.asarray(allowed[k], bool) | self.always[k]

    def subspace(self, space: SearchSpace, key: str | None = None) -> Subspace:
        """The current ``Z`` of cell type ``key`` as a :class:`Subspace` of ``space`` (for
        spaces whose decisions are that cell's edges, e.g. NB201)."""
        if self.z is None:
            raise SpacenasError("no subspace sampled yet")
        if key is None:
            if len(self.z) != 1:
                raise SpacenasError(f"name the cell type (allowed: {', '.join(sorted(self.z))})")
            key = next(iter(self.z))
        if key not in self.z:
            raise unknown("cell type", key, sorted(self.z))
        return Subspace(space, self.z[key])

    def state_dict(self) -> dict[str, Any]:
        """Plain values and tensors only (numpy arrays as tensors of the same dtype)."""
        ten = lambda d: None if d is None else {k: torch.from_numpy(np.array(v, copy=True)) for k, v in d.items()}  # noqa: E731
        return {"T": self.T, "t": ten(self.t), "saliency": ten(self.saliency), "allowed": ten(self.allowed),
                "always": ten(self.always), "z": ten(self.z), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, st: dict[str, Any]) -> None:
        self.T = int(st["T"])
        arr = lambda v: v.numpy().copy() if torch.is_tensor(v) else np.array(v)  # noqa: E731
        for name in ("t", "saliency", "allowed", "always"):
            setattr(self, name, {k: arr(v) for k, v in st[name].items()})
        self.z = None if st["z"] is None else {k: arr(v) for k, v in st["z"].items()}
        self.rng.bit_generator.state = st["rng"]


class DirichletOptions(StrictModel):
    """DrNAS's mixer options (see :mod:`spacenas.strategies.oneshot.drnas`). With the default
    ``weight_decay`` anchor, Adam's weight decay is ``arch_weight_decay + anchor_lambda``; set
    ``arch_weight_decay: 0`` for DrNAS's exact setting."""

    anchor: Literal["weight_decay", "l2", "kl", "none"] = "weight_decay"
    anchor_lambda: float = Field(1e-3, ge=0.0)
    init_std: float = Field(1e-3, gt=0.0)


class DDSASConfig(OneShotConfig):
    """DDSAS options (paper defaults; the authors' code choices as options)."""

    #: subspace size per cell type; None: the paper's value for NB201 (12) or DARTS (28) cells
    L: int | None = Field(None, ge=1)
    #: arch steps between two samplings
    M: int = Field(30, ge=1)
    #: UCB exploration constant and form: paper c*sqrt(2 log T / t); code: 1.44*sqrt(log T / t)
    ucb_c: float = Field(1.0, ge=0.0)
    ucb_form: Literal["paper", "code"] = "paper"
    #: in-subspace distribution q of Eq. 7: softmax (Eq. 8) or DrNAS's Dirichlet sample
    mixing: Literal["softmax", "dirichlet"] = "softmax"
    #: Eq. 11 term: the paper's p*q, or the normalized Eq. 7 weight (authors' code)
    saliency_value: Literal["pq", "mixing"] = "pq"
    #: authors' code: 'none' is always in Z and not counted in L
    keep_none: bool = False
    #: derive the non-zero op with the highest saliency (Section 3.5)
    derive_exclude_none: bool = True
    #: shrinking space: every shrink_every epochs delete shrink_n ops per cell type
    shrink_every: int | None = Field(None, ge=1)
    shrink_n: int = Field(14, ge=1)
    #: expanding space: start from these ops on every edge, add expand_order one by one
    expand_initial: list[str] | None = None
    expand_order: list[str] = []
    expand_every: int = Field(10, ge=1)
    #: epoch at which each expand_order op enters (None: one every expand_every epochs); the
    #: ImageNet schedule adds the four non-parametric ops together at epoch 40
    expand_epochs: list[int] | None = None
    #: options of DrNAS's Dirichlet mixer (mixing: dirichlet)
    dirichlet: DirichletOptions = DirichletOptions()


class DDSAS(OneShotStrategy):
    """DDSAS: see the module docstring."""

    Config = DDSASConfig

    def __init__(self, supernet_shapes, config=None, generator=None, device="cpu") -> None:
        self.zeta: dict[str, torch.nn.Parameter] = {}
        super().__init__(supernet_shapes, config, generator, device)
        c = self.config
        if c.shrink_every is not None and c.expand_initial is not None:
            raise SpacenasError("DDSAS: choose a shrinking (shrink_every) or an expanding (expand_initial) space, not both")
        L = {}
        for k, shape in self.shapes.items():
            L[k] = c.L if c.L is not None else PAPER_L.get(shape)
            if L[k] is None:
                raise SpacenasError(f"DDSAS: set L for cell {k!r} of {shape[0]} edges x {shape[1]} ops "
                                    f"(allowed: integers {shape[0] + 1}..{shape[0] * shape[1]})")
        seed = int(torch.randint(0, 2**62, (1,), generator=self.generator, device=self.generator.device))
        self.sampler = UCBSubspaceSampler(self.shapes, L, np.random.default_rng(seed), c.ucb_c, c.ucb_form)
        # space parameters zeta, initialized like alpha; one Adam for alpha and zeta (authors' code)
        self.zeta = {k: torch.nn.Parameter(self.mixer.init(s, self.generator).to(self.device))
                     for k, s in self.shapes.items()}
        self.arch_optimizer = self.make_arch_optimizer()
        self.steps = 0
        self.space_epoch = -1
        self.op_names: tuple[str, ...] | None = None
        self.derived: list[Any] = []
        self.exploration: list[float] = []

    def make_mixer(self) -> Mixer:
        if self.config.mixing == "dirichlet":
            from spacenas.strategies.oneshot.drnas import DirichletMixer
            d = self.config.dirichlet
            return DirichletMixer(d.anchor, d.anchor_lambda, d.init_std)
        from spacenas.strategies.oneshot.darts import SoftmaxMixer
        return SoftmaxMixer()

    def arch_parameters(self) -> list[torch.nn.Parameter]:
        return super().arch_parameters() + [self.zeta[k] for k in sorted(self.zeta)]

    # ----- the sampled subspace ---------------------------------------------------------
    def _f(self) -> dict[str, np.ndarray]:
        return {k: torch.sigmoid(v.detach()).cpu().double().numpy() for k, v in self.zeta.items()}

    def _values(self) -> dict[str, np.ndarray]:
        """The Eq. 11 term per op: ``p q`` (or the Eq. 7 weight) under the current ``Z``."""
        with torch.no_grad():
            out = {}
            for k in self.shapes:
                q = self.mixer.scores(self.params[k], self._mask(k))
                p = torch.sigmoid(self.zeta[k])
                v = p * q if self.config.saliency_value == "pq" else dm.combine_space_weights(p, q)
                out[k] = v.cpu().double().numpy()
            return out

    def resample(self) -> None:
        """Close the open sampling iteration (Eq. 11) and sample a new ``Z`` (Eq. 4)."""
        if self.sampler.z is not None:
            self.sampler.observe(self._values())
        z = self.sampler.sample(self._f())
        self.set_op_masks({k: torch.as_tensor(v) for k, v in z.items()})

    def setup(self, supernet, epochs: int) -> None:
        self.op_names = tuple(supernet.op_names)
        if self.config.keep_none:
            if "none" not in self.op_names:
                raise SpacenasError(f"DDSAS keep_none: the supernet has no 'none' op (ops: {', '.join(self.op_names)})")
            for k, (e, m) in self.shapes.items():
                self.sampler.always[k][:, self.op_names.index("none")] = True
        if self.sampler.z is None:
            self.on_epoch_start(0, supernet)
            if self.sampler.z is None:
                self.resample()

    def on_epoch_start(self, epoch: int, supernet) -> None:
        c = self.config
        if self.op_names is None:
            self.op_names = tuple(supernet.op_names)
        if epoch == self.space_epoch:
            return
        self.space_epoch = epoch
        changed = False
        if c.shrink_every is not None and epoch > 0 and epoch % c.shrink_every == 0:
            real = np.array([o != "none" for o in self.op_names])
            self.sampler.shrink(c.shrink_n, {k: np.tile(real, (e, 1)) for k, (e, _) in self.shapes.items()})
            changed = True
        if c.expand_initial is not None:
            new = {k: dm.expanding_space(self.op_names, e, c.expand_initial, c.expand_order, epoch, c.expand_every,
                                         c.expand_epochs)
                   for k, (e, m) in self.shapes.items()}
            changed = changed or any(((new[k] | self.sampler.always[k]) != self.sampler.allowed[k]).any() for k in new)
            self.sampler.set_allowed(new)
        if changed and self.sampler.z is not None:
            self.resample()

    def arch_step(self, supernet, batch, train_batch=None, lr=None) -> dict[str, float]:
        if self.sampler.z is None or (self.steps > 0 and self.steps % self.config.M == 0):
            self.resample()
        stats = super().arch_step(supernet, batch, train_batch, lr)
        self.steps += 1
        stats["subspace_ops"] = float(sum(int(z.sum()) for z in self.sampler.z.values()))
        return stats

    def log_extra(self) -> dict[str, Any]:
        """``{"sample_counts": {cell: [[t per op] per edge]}}``: how many sampling iterations
        each op has been in the sampled subspace so far (the UCB counts ``t_k``, Eq. 4)."""
        return {"sample_counts": {k: [[int(v) for v in row] for row in t] for k, t in sorted(self.sampler.t.items())},
                "sample_iterations": int(self.sampler.T)}

    # ----- mixing (Eq. 7) -------------------------------------------------------------------
    def mixing_weights(self):
        q = super().mixing_weights()
        return {k: dm.combine_space_weights(torch.sigmoid(self.zeta[k]), q[k]) for k in q}

    def scores(self):
        with torch.no_grad():
            return {k: dm.combine_space_weights(torch.sigmoid(self.zeta[k]),
                                                self.mixer.scores(self.params[k], self._mask(k))).detach()
                    for k in sorted(self.params)}

    # ----- derivation ----------------------------------------------------------------------
    def saliency(self) -> dict[str, np.ndarray]:
        """Saliency per op, including the still open sampling iteration (Eq. 11-12)."""
        return self.sampler.saliency_after(self._values())

    def derive_masks(self) -> dict[str, torch.Tensor]:
        """Ops the final arch may take: the (elastic) space, without ``none`` where an edge
        has another op."""
        out = {}
        for k, allowed in self.sampler.allowed.items():
            m = allowed.copy()
            if self.config.derive_exclude_none and self.op_names and "none" in self.op_names:
                j = self.op_names.index("none")
                other = np.delete(m, j, axis=1).any(axis=1)
                m[other, j] = False
            out[k] = torch.as_tensor(m, device=self.device)
        return out

    def derive(self, supernet):
        if self.op_names is None:
            self.op_names = tuple(supernet.op_names)
        sal = {k: torch.as_tensor(v, dtype=torch.float32, device=self.device) for k, v in self.saliency().items()}
        return supernet.derive(sal, self.derive_masks())

    def on_epoch_end(self, epoch: int, supernet) -> bool:
        """Record the derived arch and its cosine distance to the previous epoch's (Fig. 5)."""
        arch = self.derive(supernet)
        if self.derived:
            prev = supernet.space.one_hot(self.derived[-1])
            self.exploration.append(dm.cosine_distance(prev, supernet.space.one_hot(arch)))
        self.derived.append(arch)
        return False

    # ----- checkpointing ---------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        return {"zeta": {k: v.detach().cpu().clone() for k, v in self.zeta.items()},
                "sampler": self.sampler.state_dict(), "steps": self.steps, "space_epoch": self.space_epoch,
                "derived": [[a.space, list(a.choices)] for a in self.derived],
                "exploration": [float(x) for x in self.exploration]}

    def load_extra_state(self, st: dict[str, Any]) -> None:
        with torch.no_grad():
            for k, v in st["zeta"].items():
                self.zeta[k].copy_(v.to(self.device))
        self.sampler.load_state_dict(st["sampler"])
        self.steps, self.space_epoch = int(st["steps"]), int(st["space_epoch"])
        self.derived = [Arch(sp, tuple(int(c) for c in ch)) for sp, ch in st["derived"]]
        self.exploration = [float(x) for x in st["exploration"]]
