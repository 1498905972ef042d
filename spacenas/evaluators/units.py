"""Units and display of metrics, for printed results, reports and plot axes (one place).

``latency:DEVICE`` is in ms, ``energy:DEVICE`` in mJ, ``params`` a count, ``flops``
multiply-accumulates per image; ``valid``/``test``/``accuracy``/``score``/``error`` are percent
on the image data sets, but a score in [-1, 1] on Darcy (DSM-NAS Table III), shown with four
decimals. NinaPro is reported as error (%), as in DSM-NAS Table III.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

#: data sets whose accuracy column is a score, not a percent (more decimals, no % sign)
SCORE_DATASETS: tuple[str, ...] = ("darcy",)
#: data sets the papers report as error (100 - accuracy) rather than accuracy
ERROR_DATASETS: tuple[str, ...] = ("ninapro",)


def unit(metric: str, dataset: str | None = None) -> str:
    """The unit of ``metric`` ('' for counts and Darcy scores)."""
    kind = metric.partition(":")[0]
    if kind == "latency":
        return "ms"
    if kind == "energy":
        return "mJ"
    if kind in ("valid", "test", "accuracy", "score", "error"):
        return "" if dataset in SCORE_DATASETS else "%"
    return ""


def axis_label(metric: str, dataset: str | None = None) -> str:
    """``metric`` with its unit for an axis, e.g. ``latency:pixel3 (ms)``, ``params (count)``."""
    u = unit(metric, dataset) or {"params": "count", "flops": "MACs per image"}.get(metric, "")
    if metric in ("accuracy", "score") and dataset in SCORE_DATASETS:
        u = "score"
    return f"{metric} ({u})" if u else metric


def digits(dataset: str | None) -> int:
    """Decimals for accuracies of ``dataset``: 4 for Darcy's scores, else 2."""
    return 4 if dataset in SCORE_DATASETS else 2


def quality_label(dataset: str | None, split: str = "test") -> str:
    """How ``dataset``'s quality column is named in tables, e.g. ``Test accuracy (%)``,
    ``Test score (Darcy)`` or ``Test error (%)`` (NinaPro)."""
    if dataset in SCORE_DATASETS:
        return f"{split.capitalize()} score"
    if dataset in ERROR_DATASETS:
        return f"{split.capitalize()} error (%)"
    return f"{split.capitalize()} accuracy (%)"


def quality_value(dataset: str | None, accuracy: float | None) -> float | None:
    """The number shown under :func:`quality_label`: error = 100 - accuracy for NinaPro."""
    if accuracy is None:
        return None
    return 100.0 - accuracy if dataset in ERROR_DATASETS else accuracy


def format_metric(metric: str, value: float, dataset: str | None = None) -> str:
    """``value`` of ``metric`` with its unit: ``3.21 ms``, ``0.37M`` params, ``91.45%``."""
    u = unit(metric, dataset)
    if metric == "params":
        return f"{value / 1e6:.3f}M"
    if metric == "flops":
        return f"{value / 1e6:.2f}M"
    if u in ("ms", "mJ"):
        return f"{value:.4g} {u}"
    if u == "%":
        return f"{value:.2f}%"
    return f"{value:.{digits(dataset)}f}"


def hardware_line(metrics: Mapping[str, float], constraints: Iterable[str] = (), dataset: str | None = None) -> str:
    """The found arch's hardware metrics on one line: those its constraints name first, then every
    latency/energy, params and flops, e.g. ``latency:pixel3 3.2 ms  params 0.372M  flops 52.73M``."""
    named = []
    for c in constraints:
        m = str(c)
        for op in ("<=", ">=", "<", ">"):
            m = m.split(op)[0]
        named.append(m.strip())
    hw = [k for k in metrics if k.partition(":")[0] in ("latency", "energy")] + ["params", "flops"]
    keys = [k for k in dict.fromkeys([*named, *hw]) if k in metrics and metrics[k] is not None]
    return "  ".join(f"{k} {format_metric(k, float(metrics[k]), dataset)}" for k in keys)
