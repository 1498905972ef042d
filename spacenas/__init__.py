"""spacenas: neural architecture search where the search space is a first-class, changing object.

The public names below are imported lazily (on first attribute access), so ``import spacenas``
stays cheap and does not import torch or every strategy::

    from spacenas import RunSpec, run_search
    res = run_search(RunSpec("dsm", "cifar10", seed=0, budget=100))

(``run_sweep`` is :func:`spacenas.sweep.sweep`; the name ``sweep`` stays the submodule.)
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "SpacenasError": "spacenas.errors:SpacenasError",
    "Arch": "spacenas.spaces.base:Arch",
    "Decision": "spacenas.spaces.base:Decision",
    "SearchSpace": "spacenas.spaces.base:SearchSpace",
    "NB201Space": "spacenas.spaces.nb201:NB201Space",
    "Subspace": "spacenas.subspace:Subspace",
    "load_nb201": "spacenas.benchmarks.nb201:load_nb201",
    "Result": "spacenas.evaluators.base:Result",
    "Evaluator": "spacenas.evaluators.base:Evaluator",
    "TabularEvaluator": "spacenas.evaluators.tabular:TabularEvaluator",
    "QueryStrategy": "spacenas.strategies.base:QueryStrategy",
    "Runner": "spacenas.runner:Runner",
    "RunResult": "spacenas.runner:RunResult",
    "read_log": "spacenas.runner:read_log",
    "RunSpec": "spacenas.sweep:RunSpec",
    "build_runner": "spacenas.sweep:build_runner",
    "run_search": "spacenas.sweep:run_search",
    "run_sweep": "spacenas.sweep:sweep",
    "load_runs": "spacenas.reporting.report:load_runs",
    "load_dataset": "spacenas.data:load_dataset",
    "build_search": "spacenas.strategies.oneshot.build:build_search",
    "search_oneshot": "spacenas.strategies.oneshot.loop:search",
    "OneShotSearchConfig": "spacenas.strategies.oneshot.build:OneShotSearchConfig",
    "run_oneshot": "spacenas.strategies.oneshot.build:run_oneshot",
    "LearnSpaceConfig": "spacenas.strategies.autospace.build:LearnSpaceConfig",
    "learn_space": "spacenas.strategies.autospace.build:learn_space",
    "LayerwiseSearchConfig": "spacenas.strategies.autospace.build:LayerwiseSearchConfig",
    "search_layerwise": "spacenas.strategies.autospace.build:search_layerwise",
    "make_plan": "spacenas.strategies.autospace.build:make_plan",
    "load_space_file": "spacenas.strategies.autospace.build:load_space_file",
    "TrainJob": "spacenas.train.job:TrainJob",
    "train_and_export": "spacenas.train.job:train_and_export",
    "write_html_report": "spacenas.reporting.html:write_html_report",
    "render_arch": "spacenas.reporting.pictures:render_arch",
    "write_report": "spacenas.reporting.kinds:write_report",  # every kind of run dir (query sweeps as before)
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, _, attr = _EXPORTS[name].partition(":")
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spacenas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
