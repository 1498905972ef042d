"""Drive one ask/tell strategy on one evaluator under a budget, with a log, checkpoints and resume.

Loop (a *step* is one ask)::

    while evaluator.spent < budget and step < max_steps:
        arch = strategy.ask(); result = evaluator.evaluate(arch); strategy.tell(arch, result)

The budget is a hard limit in the evaluator's cost unit (NB201: unique queries, so a run stops
exactly at ``budget``; with a cost in seconds, the query that crosses the budget is the last).
``max_steps`` (default ``50 * budget``) stops a strategy that only re-asks architectures it has
already seen (those cost nothing) instead of looping forever; ``RunResult.stopped`` says which
limit ended the run.

Run directory (optional; ``run_dir=None`` keeps everything in memory), through
:class:`spacenas.runs.RunDir` (lock, refusals, atomic files; see :mod:`spacenas.runs`):

* ``config.json`` -- kind (``query``, or ``supernet`` for supernet-backed spaces), space,
  dataset, method, seed, budget, search metric, method config;
* ``log.jsonl`` -- one line per step: step, arch text, score, metrics, cost, spent, and the
  best-so-far (by score) arch, score and test metric (lines reach the file with the checkpoint
  that covers them);
* ``checkpoint.pt`` -- every ``checkpoint_every`` steps: strategy and evaluator state
  (``state_dict``: plain values and tensors) and the runner counters;
* ``result.json`` (last) and ``arch.txt`` -- written only when the run has finished.

Hardware-aware runs (:mod:`spacenas.evaluators.hw_tabular`): the answer is ``strategy.best()`` when it
satisfies the evaluator's hard constraints (``metrics['feasible']``), else the best feasible arch by
score in ``strategy.history`` (``arch = None`` if nothing feasible was evaluated); the optimum and gap
are the constrained ones (the evaluator's ``benchmark`` is restricted to feasible archs).

Evaluators without a table (:class:`~spacenas.evaluators.supernet_run.SupernetRunEvaluator`, the
MobileNet-like space): the optimum and gap fields are ``None``; when the evaluator has
``answer_metrics(arch, result)``, its output (e.g. the answer's test accuracy, measured once) fills
``valid`` / ``test`` and ``RunResult.metrics``. With
``objectives`` the result also carries the Pareto front of ``strategy.history`` and its
hypervolume ratio (:func:`spacenas.evaluators.multiobjective.front_report`).

``run(resume=True)`` loads the checkpoint, restores the log to the checkpointed steps and
continues; because strategies checkpoint their generator states, the final result and the log
are exactly those of an uninterrupted run with the same seed.
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import MISSING, asdict, dataclass, field, fields
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spacenas.errors import SpacenasError
from spacenas.runs import CHECKPOINT, CONFIG, LOG, RESULT, RunDir, read_json, write_json  # noqa: F401 (re-exported)
from spacenas.evaluators.base import Evaluator
from spacenas.evaluators.constraints import Objective, is_feasible
from spacenas.spaces.base import Arch
from spacenas.strategies.base import QueryStrategy

MAX_STEPS_FACTOR = 50


@dataclass
class RunResult:
    """The outcome of one run (also the content of ``result.json``, minus ``run_dir``)."""

    method: str
    space: str
    dataset: str | None
    seed: int
    budget: float
    search_metric: str | None
    arch: str | None  # found architecture (strategy.best(), feasible), text form; None: nothing feasible found
    score: float | None  # its search-metric value
    valid: float | None
    test: float | None
    optimum_valid: float | None  # best valid accuracy in the table
    optimum_valid_arch: str | None
    optimum_test: float | None  # best test accuracy in the table
    optimum_test_arch: str | None
    gap: float | None  # optimum_test - test
    spent: float
    steps: int
    stopped: str  # "budget" or "max_steps"
    run_dir: str | None = None
    # hardware-aware runs (absent from older result files; None / empty when not used)
    constraints: list[str] = field(default_factory=list)  # hard constraints, text form
    feasible: bool | None = None  # does the found arch satisfy them (None: no constraints)
    objectives: list[str] | None = None  # multi-objective run: objective names
    front: list[dict[str, Any]] | None = None  # found Pareto front: arch + objective values
    hypervolume: float | None = None  # of the found front (minimization form, table reference point)
    exact_hypervolume: float | None = None  # of the table's exact (feasible) front
    hv_ratio: float | None = None  # hypervolume / exact_hypervolume, in [0, 1]
    # evaluators without a table (supernet runs): the found arch's metrics (accuracy, madds, params, ...)
    metrics: dict[str, Any] | None = None
    kind: str = "query"  # run-dir kind: "query", or "supernet" (supernet-backed space)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("run_dir")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], run_dir: str | None = None) -> RunResult:
        names = {f.name for f in fields(cls)} - {"run_dir"}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        missing = required - set(d)
        if missing:
            raise SpacenasError(f"result file is incomplete: missing {', '.join(sorted(missing))}")
        return cls(**{k: d[k] for k in names if k in d}, run_dir=run_dir)


class Runner:
    """One strategy x one evaluator x budget x seed; see the module docstring."""

    def __init__(self, strategy: QueryStrategy, evaluator: Evaluator, budget: float, seed: int,
                 run_dir: str | Path | None = None, checkpoint_every: int = 25, progress: bool = True,
                 config: dict[str, Any] | None = None, max_steps: int | None = None,
                 objectives: Sequence[Objective] | None = None) -> None:
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0 \
                or not math.isfinite(budget):
            raise SpacenasError(f"bad budget {budget!r}: must be a positive number")
        if not isinstance(checkpoint_every, int) or checkpoint_every < 0:
            raise SpacenasError(f"bad checkpoint interval {checkpoint_every!r}: must be an integer >= 0 (0: never)")
        self.strategy, self.evaluator = strategy, evaluator
        self.objectives = tuple(objectives) if objectives else None
        self.budget, self.seed = budget, int(seed)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.checkpoint_every, self.progress = checkpoint_every, progress
        self.max_steps = int(max_steps) if max_steps is not None else int(math.ceil(MAX_STEPS_FACTOR * budget))
        self.config = self._make_config(config or {})
        self.step = 0
        self.best: dict[str, Any] | None = None  # best-so-far by score: arch, score, test

    def _make_config(self, extra: dict[str, Any]) -> dict[str, Any]:
        cfg = {
            "kind": "query",
            "space": self.evaluator.space.name,
            "dataset": getattr(self.evaluator, "dataset", None),
            "search_metric": getattr(self.evaluator, "search_metric", None),
            "method": type(self.strategy).__name__,
            "seed": self.seed,
            "budget": self.budget,
            "method_config": self.strategy.config.model_dump(mode="json"),
        }
        cfg.update(extra)
        return json.loads(json.dumps(cfg))  # plain JSON types, so it compares equal after a reload

    # ----- the loop ------------------------------------------------------------------------
    def run(self, resume: bool = False) -> RunResult:
        """Run to the budget (or continue from the checkpoint when ``resume``)."""
        if self.run_dir is None:
            if resume:
                raise SpacenasError("resume needs a run dir (--run-dir) holding a checkpoint")
            return self._result(self._loop(None))
        with RunDir.open(self.run_dir, self.config, resume=resume) as rd:
            if rd.result is not None:
                return RunResult.from_dict(rd.result, run_dir=str(self.run_dir))
            if rd.resumed:
                self._restore(rd.state)
            result = self._result(self._loop(rd))
            rd.finish(result.to_dict(), result.arch)
        return result

    def _loop(self, rd: RunDir | None) -> str:
        from tqdm import tqdm

        space = self.evaluator.space
        bar = tqdm(total=self.budget, initial=min(self.evaluator.spent, self.budget), file=sys.stderr,
                   disable=not self.progress, desc=str(self.config.get("method")), unit="q", leave=False)
        try:
            while self.evaluator.spent < self.budget:
                if self.step >= self.max_steps:
                    return "max_steps"
                arch = self._ask()
                res = self.evaluator.evaluate(arch)
                self.strategy.tell(arch, res)
                self.step += 1
                text = space.format(arch)
                if self.best is None or res.score > self.best["score"]:
                    self.best = {"arch": text, "score": res.score, "test": res.metrics.get("test")}
                if rd is not None:
                    rd.log({"step": self.step, "arch": text, "score": res.score, "metrics": res.metrics,
                            "cost": res.cost, "spent": self.evaluator.spent, "best_arch": self.best["arch"],
                            "best_score": self.best["score"], "best_test": self.best["test"]})
                bar.update(min(self.evaluator.spent, self.budget) - bar.n)
                if self.checkpoint_every and self.step % self.checkpoint_every == 0 and rd is not None:
                    rd.checkpoint(self._state())
            return "budget"
        finally:
            bar.close()

    def _ask(self) -> Arch:
        """``strategy.ask()``, checked: anything but an Arch is a one-line error naming the strategy
        (a plugin's bug would otherwise surface as an AttributeError deep down)."""
        arch = self.strategy.ask()
        name = type(self.strategy).__name__
        if not isinstance(arch, Arch):
            shown = repr(arch) if len(repr(arch)) <= 60 else repr(arch)[:57] + "..."
            raise SpacenasError(f"strategy {name}: ask() returned a {type(arch).__name__} ({shown}), not an "
                                "Arch; return self.space.make(choices) or self.space.parse(text)")
        return arch

    # ----- state ---------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"strategy": self.strategy.state_dict(), "evaluator": self.evaluator.state_dict(),
                "step": self.step, "best": self.best}

    def _restore(self, ck: dict[str, Any]) -> None:
        try:
            self.strategy.load_state_dict(ck["strategy"])
            self.evaluator.load_state_dict(ck["evaluator"])
            self.step, self.best = int(ck["step"]), ck["best"]
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as e:
            raise SpacenasError(f"corrupt checkpoint in {self.run_dir}: {type(e).__name__}: "
                                f"{str(e).splitlines()[0] if str(e) else ''}; delete the run dir to start over") from None

    def _answer(self):
        """``strategy.best()``, unless it violates a hard constraint: then the best feasible arch by
        score among everything evaluated (``None`` when nothing feasible was evaluated)."""
        arch, res = self.strategy.best()
        if is_feasible(res):
            return arch, res
        ok = [(a, r) for a, r in self.strategy.history if is_feasible(r)]
        return max(ok, key=lambda ar: ar[1].score) if ok else (None, None)

    def _result(self, stopped: str) -> RunResult:
        space, ev = self.evaluator.space, self.evaluator
        arch, res = self._answer()
        constraints = [str(c) for c in getattr(ev, "constraints", ())]
        extra: dict[str, Any] = {"constraints": constraints, "feasible": (res is not None) if constraints else None}
        if self.objectives:
            from spacenas.evaluators.multiobjective import front_report

            rep = front_report(self.strategy.history, ev, self.objectives)
            extra.update({k: rep[k] for k in ("objectives", "front", "hypervolume", "exact_hypervolume", "hv_ratio")})
        metrics = res.metrics if res is not None else {}
        answer_metrics = getattr(ev, "answer_metrics", None)  # e.g. test accuracy of the answer only
        if answer_metrics is not None and arch is not None:
            metrics = answer_metrics(arch, res)
        if arch is not None and metrics:  # the found arch's metrics (hardware runs: latency, energy, ...)
            extra["metrics"] = dict(metrics)
        dataset = getattr(ev, "dataset", None)
        bench = getattr(ev, "benchmark", None)
        opt_v = opt_t = (None, None)
        if bench is not None and dataset is not None:
            opt_v, opt_t = bench.optimum(dataset, "valid"), bench.optimum(dataset, "test")
        test = metrics.get("test")
        return RunResult(
            method=str(self.config["method"]), space=space.name, dataset=dataset, seed=self.seed,
            budget=self.budget, search_metric=getattr(ev, "search_metric", None),
            arch=space.format(arch) if arch is not None else None,
            score=res.score if res is not None else None, valid=metrics.get("valid"), test=test,
            optimum_valid=opt_v[1], optimum_valid_arch=space.format(opt_v[0]) if opt_v[0] else None,
            optimum_test=opt_t[1], optimum_test_arch=space.format(opt_t[0]) if opt_t[0] else None,
            gap=(opt_t[1] - test) if opt_t[1] is not None and test is not None else None,
            spent=ev.spent, steps=self.step, stopped=stopped,
            run_dir=str(self.run_dir) if self.run_dir is not None else None, kind=str(self.config["kind"]), **extra)


# ----- run-directory files (spacenas.runs owns them) ----------------------------------------
def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """The events of a run's ``log.jsonl``."""
    path = Path(run_dir) / LOG
    try:
        return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, json.JSONDecodeError) as e:
        raise SpacenasError(f"cannot read log {path}: {type(e).__name__}: {e}") from None
