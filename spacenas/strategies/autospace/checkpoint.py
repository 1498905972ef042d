"""Checkpoint and resume for AutoSpace's DEA (one file, written atomically after every round).

A DEA run is resumable at round boundaries. What the next round depends on, and is saved:

* the populations (cell text, fitness, iteration count ``n'(d)`` of every member), the total
  iteration count ``n``, the loss curve and the per-round log;
* the weights: stem/head of the supernet (:class:`LayerwiseNet`) and every cached cell module
  (``(layer, cell text)`` -> state dict, BN running statistics included);
* the random states: the ``numpy.random.Generator``'s bit generator state and the
  ``torch.Generator``'s state;
* the two batch streams (:class:`BatchStream`): the current epoch's permutation and position.

The weight optimizer is rebuilt at the start of every round (the set of supernet parameters
changes with the selected cells), so at a round boundary it holds no state to save; the fitness
scores take plain SGD steps (no optimizer state either). With all of the above restored, a
resumed run computes exactly what the uninterrupted run computes (tested bit for bit).

File: ``torch.save`` of a dict holding tensors and one JSON text (``meta``) for everything
else; loaded with ``weights_only=True``. Written to ``NAME.tmp`` and renamed over ``NAME``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from spacenas.data.splits import ImageTensorDataset
from spacenas.errors import SpacenasError
from spacenas.nn.open_cell_net import LayerwiseNet, make_block

if TYPE_CHECKING:
    from spacenas.strategies.autospace.evolution import AutoSpace, RunState

CHECKPOINT_FORMAT = "spacenas.autospace-checkpoint/1"


class BatchStream(Iterator[tuple[torch.Tensor, torch.Tensor]]):
    """Shuffled batches, epoch after epoch, without end; its position can be saved and restored.

    Draws the permutation of an epoch from ``generator`` when the epoch's first batch is asked
    for (as :func:`~spacenas.data.splits.iterate_batches` does), so it consumes the generator at
    the same moments as ``while True: yield from iterate_batches(...)``."""

    def __init__(self, data: ImageTensorDataset, batch_size: int, generator: torch.Generator,
                 device: str = "cpu") -> None:
        if batch_size < 1:
            raise SpacenasError(f"batch size must be >= 1, got {batch_size}")
        self.data, self.batch_size, self.generator, self.device = data, batch_size, generator, device
        self.order: torch.Tensor | None = None
        self.pos = 0

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.data)
        if self.order is None or self.pos >= n:
            self.order, self.pos = torch.randperm(n, generator=self.generator), 0
        x, y = self.data.batch(self.order[self.pos:self.pos + self.batch_size])
        self.pos += self.batch_size
        return x.to(self.device), y.to(self.device)

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order, self.pos = state["order"], int(state["pos"])


def save_checkpoint(path: str | Path, meta: dict[str, Any], tensors: dict[str, Any]) -> None:
    """Write ``meta`` (JSON-able) and ``tensors`` (nested dicts of tensors) atomically."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    try:
        torch.save({"format": CHECKPOINT_FORMAT, "meta": json.dumps(meta), **tensors}, tmp)
        os.replace(tmp, p)
    except OSError as e:
        raise SpacenasError(f"cannot write checkpoint {p}: {e.strerror or e}") from None


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(meta, tensors)`` of a file written by :func:`save_checkpoint`; one-line errors."""
    p = Path(path)
    if not p.is_file():
        raise SpacenasError(f"cannot resume: no checkpoint {p} (the run stopped before its first round ended?)")
    try:
        doc = torch.load(p, map_location="cpu", weights_only=True)
        if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not an AutoSpace checkpoint (expected format {CHECKPOINT_FORMAT!r})")
        meta = json.loads(doc.pop("meta"))
    except Exception as e:  # unpickling errors come in many types
        raise SpacenasError(f"cannot resume: checkpoint {p} is unreadable or corrupt "
                            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    doc.pop("format")
    return meta, doc


# ----- the DEA's state (see AutoSpace.run) ------------------------------------------------------
def save_run(dea: AutoSpace, path: str | Path, st: RunState, rng: np.random.Generator,
             generator: torch.Generator) -> None:
    """Checkpoint a DEA run at a round boundary (everything listed in the module docstring)."""
    meta = {"config": dea.config.model_dump(), "plan": dea.plan.model_dump(), "next_round": st.next_round,
            "n_total": st.n_total, "losses": st.losses, "log": st.log, "numpy_rng": rng.bit_generator.state,
            "pops": [[[m.text, m.fitness, m.iters] for m in pop] for pop in st.pops],
            "cache_keys": [[l, t] for l, t in dea.cache]}
    save_checkpoint(path, meta, {
        "body": dea.body.state_dict(), "torch_rng": generator.get_state(),
        "cache": [m.state_dict() for m in dea.cache.values()],
        "streams": [st.tb.state_dict(), st.vb.state_dict()]})


def restore_run(dea: AutoSpace, path: str | Path, train: ImageTensorDataset, valid: ImageTensorDataset,
                rng: np.random.Generator, generator: torch.Generator, device: str,
                Member: type, RunState: type) -> RunState:
    """Load a checkpoint into ``dea`` (weights), ``rng`` and ``generator``; return the run state
    (a ``RunState`` of ``Member`` objects: the classes come from the caller, so this module does not
    import :mod:`.evolution`, which imports it)."""

    meta, ten = load_checkpoint(path)
    for what, mine in (("config", dea.config.model_dump()), ("plan", dea.plan.model_dump())):
        if meta[what] != mine:
            diff = sorted(k for k in mine if meta[what].get(k) != mine[k])
            raise SpacenasError(f"cannot resume: checkpoint {path} was written with a different DEA {what} "
                                f"(differs in: {', '.join(diff)})")
    if meta["numpy_rng"]["bit_generator"] != rng.bit_generator.state["bit_generator"]:
        raise SpacenasError(f"cannot resume: checkpoint uses {meta['numpy_rng']['bit_generator']}, "
                            f"rng is {rng.bit_generator.state['bit_generator']}")
    dea.body = LayerwiseNet(dea.plan, generator=torch.Generator())  # weights: from the file
    dea.body.load_state_dict(ten["body"])
    dea.body.to(device)
    dea.cache = {}
    for (l, text), sd in zip(meta["cache_keys"], ten["cache"]):
        c_in, c_out, _, s = dea.plan.layer_geometry(l)
        m = make_block(text, c_in, c_out, s)
        m.load_state_dict(sd)
        dea.cache[(l, text)] = m.to(device)
    bs = dea.config.batch_size
    st = RunState([[Member(t, f, i) for t, f, i in pop] for pop in meta["pops"]],
                  BatchStream(train, bs, generator, device), BatchStream(valid, bs, generator, device),
                  n_total=meta["n_total"], losses=meta["losses"], log=meta["log"], next_round=meta["next_round"])
    st.tb.load_state_dict(ten["streams"][0])
    st.vb.load_state_dict(ten["streams"][1])
    rng.bit_generator.state = meta["numpy_rng"]
    generator.set_state(ten["torch_rng"])
    return st
