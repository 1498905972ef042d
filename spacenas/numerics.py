"""Numerical faults: stop a run the moment a loss, the weights or the architecture parameters stop
being finite, with one line that says where, what, and what to try.

Every training loop calls :func:`check_finite` (one line per quantity) before it derives,
checkpoints or writes a result, so a diverged run ends with a :class:`NumericalError` (a
:class:`~spacenas.errors.SpacenasError`: the CLI prints it and exits 2), the last good checkpoint
is left as it was, and nothing that looks finished is written. Without the check, NaN weights
surface much later as unrelated errors (an edge "with every op masked out", a sampler's
"probability tensor contains inf/nan") or, worse, as an ordinary-looking answer.

Hand example: ``check_finite(float('nan'), "loss", "epoch 3 step 5")`` raises
``non-finite loss (nan) at epoch 3 step 5: the run diverged; the learning rate may be too high``.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from spacenas.errors import SpacenasError

DEFAULT_HINT = "the learning rate may be too high"


class NumericalError(SpacenasError):
    """A loss, weight or architecture parameter became NaN or infinite."""


def _named_tensors(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(name, tensor-or-number) pairs of a number, tensor, module, mapping or iterable."""
    if isinstance(value, nn.Module):
        yield from ((prefix + n, p) for n, p in value.named_parameters())
        yield from ((prefix + n, b) for n, b in value.named_buffers() if b.is_floating_point())
    elif isinstance(value, (torch.Tensor, int, float)):
        yield prefix.rstrip("."), value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _named_tensors(v, f"{prefix}{k}.")
    elif isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        for i, v in enumerate(value):
            yield from _named_tensors(v, f"{prefix}{i}.")


def first_non_finite(value: Any) -> tuple[str, float] | None:
    """``(name, offending value)`` of the first NaN/inf entry in ``value`` (a number, tensor,
    module's parameters and float buffers, or a mapping/iterable of these), else ``None``."""
    items = [(n, t) for n, t in _named_tensors(value)
             if not isinstance(t, torch.Tensor) or t.is_floating_point() or t.is_complex()]
    tensors = [t.detach() for _, t in items if isinstance(t, torch.Tensor) and t.numel()]
    numbers_ok = all(math.isfinite(t) for _, t in items if not isinstance(t, torch.Tensor))
    if numbers_ok and (not tensors or bool(torch.stack([torch.isfinite(t).all().cpu() for t in tensors]).all())):
        return None  # the fast path: one device sync for all tensors
    for name, t in items:
        if isinstance(t, torch.Tensor):
            bad = t.detach()[~torch.isfinite(t.detach())]
            if bad.numel():
                return name, float(bad.flatten()[0])
        elif not math.isfinite(t):
            return name, float(t)
    return None


def check_finite(value: Any, what: str, where: str, hint: str = DEFAULT_HINT) -> None:
    """Raise :class:`NumericalError` naming ``what`` (e.g. "loss", "weights", "architecture
    parameters"), ``where`` (e.g. "epoch 2 step 7") and ``hint`` if ``value`` holds a NaN or inf."""
    found = first_non_finite(value)
    if found is None:
        return
    name, bad = found
    part = f" ({name} = {bad})" if name else f" ({bad})"
    raise NumericalError(f"non-finite {what}{part} at {where}: the run diverged; {hint}")
