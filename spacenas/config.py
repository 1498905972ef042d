"""Typed configs, validated at the edge.

Every component that takes options declares a pydantic model (``extra='forbid'``: an unknown
key is an error, never silently ignored). :func:`build_config` turns a pydantic validation
failure into a one-line :class:`SpacenasError` that names the field, the value and what is
allowed.
"""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from spacenas.errors import SpacenasError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of all spacenas configs: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def build_config(model: type[M], values: dict[str, Any] | None = None, *, where: str = "") -> M:
    """Validate ``values`` against ``model``; raise :class:`SpacenasError` on the first problem."""
    try:
        return model(**(values or {}))
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "?"
        prefix = f"{where}: " if where else ""
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(model.model_fields) or "none: this component takes no options"
            raise SpacenasError(f"{prefix}unknown option {field!r} (allowed: {allowed})") from None
        value = err.get("input")
        raise SpacenasError(f"{prefix}bad value {value!r} for {field!r}: {err['msg']}") from None


def parse_device(device: Any = None):
    """``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` (or a :class:`torch.device`) -> a torch device;
    an unknown name or CUDA on a machine without it is a :class:`SpacenasError`."""
    import torch

    try:
        dev = torch.device(device or "cpu")
    except RuntimeError:
        raise SpacenasError(f"unknown device {device!r} (allowed: cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SpacenasError(f"device {device!r} requested but CUDA is not available here (use --device cpu)")
    return dev
