"""Estimated time of a preset's full run on one GPU, from a measured step time (issue 12).

A preset may name a measured step time (``estimate: {step: KEY, images: N}``): ``KEY`` is an
entry of ``timings/gpu_step_times.yaml`` (device, what one step is, the config it was measured
with, median ms, where it was printed) and ``N`` the images one epoch steps through (e.g. the
25,000-image search half of CIFAR-10's training set). The estimate is
``epochs x ceil(N / batch_size) x ms``: search (or training) steps only, no evaluation passes,
with the step time of the path that was measured. A step time is used only where the preset's
space, method and options equal every key of the measured config, so an estimate never
silently carries a number across configs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from spacenas.errors import SpacenasError

_FIELDS = {"device", "step", "config", "ms", "source"}


def step_times() -> dict[str, dict[str, Any]]:
    """The measured step times, by key (schema checked)."""
    text = resources.files(__package__).joinpath("timings", "gpu_step_times.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    for key, entry in data.items():
        if not isinstance(entry, dict) or set(entry) != _FIELDS:
            raise SpacenasError(f"gpu_step_times.yaml: entry {key!r} must have exactly {sorted(_FIELDS)}")
        if not isinstance(entry["ms"], (int, float)) or entry["ms"] <= 0:
            raise SpacenasError(f"gpu_step_times.yaml: entry {key!r} has a bad ms {entry['ms']!r}")
    return data


@dataclass(frozen=True)
class Estimate:
    key: str  # the step-time entry used
    device: str
    epochs: int
    steps_per_epoch: int
    ms: float

    @property
    def hours(self) -> float:
        return self.epochs * self.steps_per_epoch * self.ms / 3.6e6

    def text(self) -> str:
        return (f"{self.hours:.1f} h on {self.device} ({self.epochs} epochs x {self.steps_per_epoch} steps "
                f"x {self.ms:g} ms, `{self.key}`)")


def estimate(preset: dict[str, Any]) -> Estimate | None:
    """The estimate of a loaded preset (:func:`spacenas.presets.load_preset`), or ``None`` if it
    names no step time. A step time whose config the preset does not match is an error."""
    spec = preset.get("estimate")
    if spec is None:
        return None
    name = preset.get("name", "?")
    if not isinstance(spec, dict) or set(spec) != {"step", "images"}:
        raise SpacenasError(f"preset {name!r}: 'estimate' must be {{step: KEY, images: N}}, got {spec!r}")
    times = step_times()
    if spec["step"] not in times:
        raise SpacenasError(f"preset {name!r}: unknown step time {spec['step']!r} (known: {', '.join(sorted(times))})")
    entry = times[spec["step"]]
    have = {**{k: preset[k] for k in ("space", "method") if k in preset}, **preset["options"]}
    # a measured value of null means the option must be absent or null (e.g. no progressive stages)
    wrong = {k: (have.get(k), v) for k, v in entry["config"].items() if have.get(k) != v}
    if wrong:
        raise SpacenasError(f"preset {name!r}: step time {spec['step']!r} was measured with another config "
                            f"(preset value, measured value): {wrong}")
    opts = preset["options"]
    steps = math.ceil(int(spec["images"]) / int(opts["batch_size"]))
    return Estimate(spec["step"], entry["device"], int(opts["epochs"]), steps, float(entry["ms"]))
