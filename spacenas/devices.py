"""Which torch device a run may use: checked before any work starts, one line if not usable.

:func:`resolve_device` accepts ``cpu``, ``cuda``/``cuda:N`` (when CUDA is available and ``N`` is
one of its devices) and ``mps`` (when this torch has a usable MPS backend). Everything else -
an empty string, a typo, ``meta`` (tensors without data), ``tpu`` - is refused with a
:class:`SpacenasError` naming the value and what is allowed here.
"""
from __future__ import annotations

import torch

from spacenas.errors import SpacenasError


def available_devices() -> list[str]:
    """Device names usable on this machine (``cpu`` always)."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def resolve_device(device: str | torch.device | None, what: str = "device") -> torch.device:
    """``device`` (``None``: cpu) as a usable :class:`torch.device`, or a one-line error."""
    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        text = str(device)
    elif isinstance(device, str):
        text = device.strip()
    else:
        raise SpacenasError(f"bad {what} {device!r}: expected a device name such as cpu or cuda")
    allowed = ", ".join(available_devices())
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise SpacenasError(f"unknown {what} {text!r} (allowed here: {allowed})") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SpacenasError(f"{what} {text!r} requested but CUDA is not available here (allowed here: {allowed})")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SpacenasError(f"{what} {text!r}: there are {torch.cuda.device_count()} CUDA devices "
                                f"(allowed here: {allowed})")
        return dev
    if dev.type == "mps" and "mps" in available_devices():
        return dev
    raise SpacenasError(f"{what} {text!r} cannot run spacenas here (allowed here: {allowed})")
