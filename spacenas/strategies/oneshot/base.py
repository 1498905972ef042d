"""The one-shot strategy contract: architecture parameters, mixing weights, masks, derivation.

A one-shot strategy owns one architecture tensor per cell type of the supernet
(``supernet.arch_shapes()``) and separates three things that later methods recombine:

* **how mixing weights are made from the parameters** -- a :class:`Mixer`
  (``softmax`` for DARTS, ``gumbel`` for GDAS, ``dirichlet`` for DrNAS; see
  :func:`make_mixer`). A mixer is a small object with pure-function maths behind it;
* **which ops are active** -- ``op_masks``: a boolean tensor per cell type, ``None`` meaning
  every op. Progressive pruning (DrNAS) and subspace producers (DDSAS) only ever call
  :meth:`OneShotStrategy.set_op_masks`; the mixer then mixes over the active ops only;
* **how the supernet is called** -- :meth:`OneShotStrategy.forward` draws the mixing weights
  once (``mixing_weights()``, a fresh sample for stochastic mixers), reads the masks of that
  draw (``masks()``; GDAS narrows them to the sampled op) and the optional activation weights
  (``act_weights()``, A-DARTS), and calls ``supernet(x, weights, masks, act_weights)``.

The bi-level loop (:mod:`spacenas.strategies.oneshot.loop`) only uses this class's public
methods, so a new method is a new mixer and/or a subclass overriding a hook.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from spacenas.config import StrictModel, build_config
from spacenas.errors import SpacenasError
from spacenas.nn.supernet_base import Supernet
from spacenas.spaces.base import Arch

Tensors = dict[str, torch.Tensor]


class Mixer(ABC):
    """Turns one architecture tensor ``[E, O]`` (and an active-op mask) into mixing weights."""

    #: Adam weight decay the mixer wants on its parameters (DrNAS's anchor), or 0
    weight_decay: float = 0.0

    def init(self, shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
        """Initial parameters: ``1e-3 * N(0, 1)`` (DARTS, GDAS and DrNAS all use it)."""
        return 1e-3 * torch.randn(shape, generator=generator, device=generator.device)

    @abstractmethod
    def weights(self, params: torch.Tensor, mask: torch.Tensor | None,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(weights [E, O], forward mask or None)``; masked-out ops get weight 0."""

    @abstractmethod
    def scores(self, params: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Deterministic per-op scores used to derive the arch and to log (probabilities)."""

    def penalty(self, params: torch.Tensor) -> torch.Tensor | None:
        """Regularizer added to the validation loss (e.g. DrNAS's anchor), or ``None``."""
        return None


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last axis restricted to ``mask``; masked entries are exactly 0.

    Hand example: logits (0, ln 3, 5), mask (T, T, F) -> (1/4, 3/4, 0).
    """
    if mask is None:
        return F.softmax(logits, dim=-1)
    return F.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)


def on_device_of(t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``t`` moved to the generator's device (sampling happens where the generator lives)."""
    return t if t.device == generator.device else t.to(generator.device)


def on_device_generator(generator: torch.Generator, device: torch.device) -> torch.Generator:
    """``generator`` when it lives on ``device``'s type, else a generator on ``device`` seeded
    by one draw from it: every random draw of the search (Dirichlet and Gumbel samples,
    masks) then happens on the device, with no host-device copy per step. CPU runs keep the
    given generator, so their results are unchanged."""
    if generator.device.type == device.type:
        return generator
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    return torch.Generator(device=device).manual_seed(seed)


class OneShotConfig(StrictModel):
    """Options shared by all one-shot strategies (architecture optimizer: Adam)."""

    arch_lr: float = Field(3e-4, gt=0)
    arch_beta1: float = Field(0.5, ge=0, lt=1)
    arch_beta2: float = Field(0.999, ge=0, lt=1)
    #: Adam weight decay of the architecture parameters (DARTS/GDAS code: 1e-3)
    arch_weight_decay: float = Field(1e-3, ge=0)


class OneShotStrategy(ABC):
    """Base of DARTS, GDAS, DrNAS (and DDSAS, A-DARTS): see the module docstring."""

    Config: ClassVar[type[StrictModel]] = OneShotConfig

    def __init__(self, supernet_shapes: dict[str, tuple[int, int]],
                 config: dict[str, Any] | StrictModel | None = None,
                 generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.config = config if isinstance(config, StrictModel) else build_config(
            self.Config, config, where=type(self).__name__)
        if not isinstance(self.config, self.Config):
            raise SpacenasError(f"{type(self).__name__} needs a config of type {self.Config.__name__}, "
                                f"got one of type {type(self.config).__name__}")
        self.device = torch.device(device)
        self.generator = on_device_generator(generator if generator is not None else torch.Generator().manual_seed(0),
                                             self.device)
        self.shapes = {k: (int(e), int(o)) for k, (e, o) in supernet_shapes.items()}
        self.mixer = self.make_mixer()
        self.params: dict[str, nn.Parameter] = {
            k: nn.Parameter(self.mixer.init(shape, self.generator).to(self.device)) for k, shape in self.shapes.items()}
        self.op_masks: Tensors | None = None
        self._last_masks: Tensors | None = None
        #: called on the list of arch parameters after backward, before the optimizer step
        #: (the distributed helper installs an all-reduce here)
        self.grad_reducer: Callable[[list[torch.Tensor]], None] | None = None
        self.arch_optimizer = self.make_arch_optimizer()
        #: the loop's SGD over the supernet weights (:meth:`bind_weight_optimizer`)
        self.weight_optimizer: torch.optim.Optimizer | None = None

    # ----- hooks for subclasses -----------------------------------------------------------
    @abstractmethod
    def make_mixer(self) -> Mixer:
        """The mixer of this method, built from ``self.config``."""

    def make_arch_optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        wd = c.arch_weight_decay + self.mixer.weight_decay
        return torch.optim.Adam(self.arch_parameters(), lr=c.arch_lr, betas=(c.arch_beta1, c.arch_beta2),
                                weight_decay=wd)

    def setup(self, supernet: Supernet, epochs: int) -> None:
        """Called once before the first epoch of a (fresh or resumed) search."""

    def bind_weight_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Called by the loop whenever it (re)builds the weight optimizer: second-order DARTS
        reads its momentum buffers; progressive learning installs carried-over buffers."""
        self.weight_optimizer = optimizer

    def arch_active(self, epoch: int) -> bool:
        """Whether ``epoch`` makes architecture steps (besides the loop's global
        ``arch_start_epoch``); DrNAS's progressive stages warm up per stage."""
        return True

    def on_epoch_start(self, epoch: int, supernet: Supernet) -> None:
        """Called before each epoch (GDAS: sets the temperature)."""

    def on_epoch_end(self, epoch: int, supernet: Supernet) -> bool:
        """Called after each epoch; return True when the supernet's parameters changed
        (progressive widening) so that the loop rebuilds the weight optimizer."""
        return False

    def log_extra(self) -> dict[str, Any]:
        """Extra JSON-serialisable fields merged into each epoch's log record (after
        ``mixing``), e.g. DrNAS's Dirichlet ``concentration`` or DDSAS's ``sample_counts``,
        which :mod:`spacenas.reporting.plots_search` draws. Default: nothing."""
        return {}

    def replay_structure(self, supernet: Supernet) -> None:
        """Re-apply structural supernet changes (partial channels, widening) recorded in this
        strategy's state to a freshly built supernet, before its checkpointed weights load."""

    # ----- mixing ----------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.params[k] for k in sorted(self.params)]

    def set_op_masks(self, masks: Tensors | None) -> None:
        """Restrict every edge to the ops marked True (``None``: all ops)."""
        if masks is not None:
            out = {}
            for k, shape in self.shapes.items():
                m = torch.as_tensor(masks[k], dtype=torch.bool, device=self.device)
                if tuple(m.shape) != shape:
                    raise SpacenasError(f"op mask for {k!r} has shape {tuple(m.shape)}, expected {shape}")
                if not m.any(dim=1).all():
                    raise SpacenasError(f"op mask for {k!r} leaves an edge without any op")
                out[k] = m
            masks = out
        self.op_masks = masks

    def _mask(self, key: str) -> torch.Tensor | None:
        return None if self.op_masks is None else self.op_masks[key]

    def mixing_weights(self) -> Tensors:
        """Mixing weights for one forward pass (stochastic mixers draw a fresh sample)."""
        out, fmasks = {}, {}
        for k in sorted(self.params):
            w, fm = self.mixer.weights(self.params[k], self._mask(k), self.generator)
            out[k] = w
            fmasks[k] = fm if fm is not None else self._mask(k)
        self._last_masks = None if all(v is None for v in fmasks.values()) else {
            k: (v if v is not None else torch.ones(self.shapes[k], dtype=torch.bool, device=self.device))
            for k, v in fmasks.items()}
        return out

    def masks(self) -> Tensors | None:
        """Masks of the latest :meth:`mixing_weights` draw (before any draw: the op masks)."""
        return self._last_masks if self._last_masks is not None else self.op_masks

    def act_weights(self) -> Tensors | None:
        """Activation-mixture weights (A-DARTS); ``None`` keeps each op's own activation."""
        return None

    def forward(self, supernet: nn.Module, x: torch.Tensor, arch_grad: bool = True) -> torch.Tensor:
        """Logits of ``supernet`` on ``x`` under a fresh draw of mixing weights; with
        ``arch_grad=False`` the weights are detached (weight steps, evaluation)."""
        w = self.mixing_weights()
        a = self.act_weights()
        if not arch_grad:
            w = {k: v.detach() for k, v in w.items()}
            a = None if a is None else {k: v.detach() for k, v in a.items()}
        return supernet(x, w, self.masks(), a)

    def scores(self) -> Tensors:
        """Deterministic per-op scores (probabilities) used by :meth:`derive` and the log."""
        with torch.no_grad():
            return {k: self.mixer.scores(self.params[k], self._mask(k)).detach() for k in sorted(self.params)}

    def derive(self, supernet: Supernet) -> Arch:
        return supernet.derive(self.scores(), self.op_masks)

    def describe(self, supernet: Supernet, arch: Arch) -> str:
        """Text form of a derived arch for logs and the CLI (A-DARTS adds its activations)."""
        return supernet.space.format(arch)

    def text_space(self, supernet: Supernet) -> str:
        """Name of the space whose text form :meth:`describe` writes (``train --space``)."""
        return supernet.space.name

    def penalty(self) -> torch.Tensor | None:
        terms = [p for k in sorted(self.params) if (p := self.mixer.penalty(self.params[k])) is not None]
        return torch.stack(terms).sum() if terms else None

    # ----- the architecture step --------------------------------------------------------------
    def arch_loss(self, supernet: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        x, y = batch
        logits = self.forward(supernet, x)
        loss = F.cross_entropy(logits, y)
        stats = {"arch_loss": float(loss.detach()),
                 "arch_acc": float((logits.detach().argmax(1) == y).float().mean())}
        pen = self.penalty()
        if pen is not None:
            stats["arch_penalty"] = float(pen.detach())
            loss = loss + pen
        return loss, stats

    def arch_grads(self, supernet: nn.Module, batch, train_batch=None, lr: float | None = None
                   ) -> tuple[list[torch.Tensor], dict]:
        """Gradients of the validation objective w.r.t. :meth:`arch_parameters` (first order:
        the weights are held fixed). Weight gradients are not touched."""
        loss, stats = self.arch_loss(supernet, batch)
        params = self.arch_parameters()
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)], stats

    def arch_step(self, supernet: nn.Module, batch, train_batch=None, lr: float | None = None) -> dict[str, float]:
        """One Adam step on the architecture parameters using a validation ``batch``.

        ``train_batch`` and ``lr`` (the current weight learning rate) are only used by
        second-order DARTS. Returns floats for the log.
        """
        grads, stats = self.arch_grads(supernet, batch, train_batch, lr)
        if self.grad_reducer is not None:
            self.grad_reducer(grads)
        for p, g in zip(self.arch_parameters(), grads):
            p.grad = g.detach().clone()
        self.arch_optimizer.step()
        self.arch_optimizer.zero_grad(set_to_none=True)
        return stats

    # ----- checkpointing ------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """Subclass state beyond parameters, optimizer, generator and masks."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {
            "params": {k: v.detach().cpu().clone() for k, v in self.params.items()},
            "arch_optimizer": self.arch_optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "op_masks": None if self.op_masks is None else {k: v.cpu().clone() for k, v in self.op_masks.items()},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for k, v in state["params"].items():
                self.params[k].copy_(v.to(self.device))
        self.generator.set_state(state["generator"])
        self.set_op_masks(state["op_masks"])
        self.load_extra_state(state["extra"])
        self.arch_optimizer = self.make_arch_optimizer()
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
