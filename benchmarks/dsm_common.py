"""Shared pieces of the DSM-NAS benchmark scripts (benchmarks/dsm_*.py): one query run on the
NB201 table, a process pool over many runs, and Markdown formatting of mean +- std and paired tests.

A run is ``(method, dataset, seed, budget, options)``: strategy ``method`` from the registry with
config ``options`` on ``TabularEvaluator(dataset)`` (search on the 200-epoch validation accuracy,
budget = distinct queries, see docs/protocol.md), reporting the test accuracy of ``best()``.
"""
from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

# the paired test of the sweep reports (scipy.stats.wilcoxon, two-sided, zero differences dropped,
# 1.0 when every difference is 0): one implementation for the library and these scripts
from spacenas.reporting.report import wilcoxon_p  # noqa: F401 (re-exported to the dsm_* scripts)

DATASETS = ["cifar10", "cifar100", "imagenet16-120"]

Job = tuple[str, str, int, int, dict[str, Any]]


def run_one(job: Job) -> dict[str, Any]:
    """Run one search; returns test/valid and text of the answer, the final centers (text), the number of
    center replacements and the test accuracies of every arch evaluated, in order."""
    from spacenas import registry
    from spacenas.evaluators import TabularEvaluator

    method, dataset, seed, budget, options = job
    ev = TabularEvaluator(dataset)
    s = registry.query_strategy(method)(ev.space, seed=seed, config=dict(options))
    while ev.spent < budget:
        a = s.ask()
        s.tell(a, ev.evaluate(a))
    arch, res = s.best()
    return {"test": res.metrics["test"], "valid": res.metrics["valid"], "arch": ev.space.format(arch),
            "centers": [ev.space.format(c) for c in getattr(s, "centers", [])],
            "replacements": getattr(s, "n_replacements", None),
            "sampled": [r.metrics["test"] for _, r in s.history]}


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def job_key(job: Job) -> str:
    return json.dumps(list(job), sort_keys=True)


def run_jobs(jobs: list[Job], workers: int, label: str = "runs", cache: str | None = None) -> list[dict[str, Any]]:
    """All ``jobs`` in a process pool of ``workers`` (1: in this process); results in job order.

    ``cache``: a JSON-lines file of finished runs (job -> result), appended to as runs finish and
    read first, so scripts share identical runs and an interrupted script continues. Runs are
    deterministic given the job, so a cached result is the result the run would give again
    (delete the file after changing the strategies' code)."""
    t0 = time.perf_counter()
    done: dict[str, dict[str, Any]] = {}
    if cache and os.path.exists(cache):
        with open(cache) as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    done[rec["job"]] = rec["result"]
    todo = list(dict.fromkeys(k for k in map(job_key, jobs) if k not in done))
    todo_jobs = [tuple(json.loads(k)) for k in todo]
    out = open(cache, "a") if cache else None
    try:
        if workers <= 1:
            _init_worker()
            results = map(run_one, todo_jobs)
            pool = None
        else:
            pool = ProcessPoolExecutor(workers, initializer=_init_worker)
            results = pool.map(run_one, todo_jobs, chunksize=max(1, min(4, len(todo_jobs) // (8 * workers) or 1)))
        for k, r in zip(todo, results):
            done[k] = r
            if out:
                out.write(json.dumps({"job": k, "result": r}) + "\n")
                out.flush()
        if pool is not None:
            pool.shutdown()
    finally:
        if out:
            out.close()
    print(f"[{label}: {len(jobs)} runs ({len(jobs) - len(todo)} from cache) in {time.perf_counter() - t0:.0f} s "
          f"wall, {workers} worker(s)]", file=sys.stderr, flush=True)
    return [done[job_key(j)] for j in jobs]


def ms(x) -> str:
    """``mean +- std`` (population std, as in the paper's tables) with 2 decimals."""
    x = np.asarray(x, dtype=float)
    return f"{x.mean():.2f} +- {x.std():.2f}"


def wilcoxon(a, b) -> str:
    """Mean paired difference a - b and the two-sided Wilcoxon signed-rank p (scipy; 1 if all equal)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return f"{(a - b).mean():+.2f}, p = {wilcoxon_p(a, b):.2g}"


def common_args(p, seeds: int = 100, budget: int = 100) -> None:
    """--seeds / --budget / --workers / --quick, shared by the scripts."""
    p.add_argument("--seeds", type=int, default=seeds, help=f"seeds 0..N-1 (default {seeds})")
    p.add_argument("--budget", type=int, default=budget, help=f"distinct queries per run (default {budget})")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="process pool size (default 2)")
    p.add_argument("--datasets", default=",".join(DATASETS), help="comma list (default: all three)")
    p.add_argument("--cache", default=None, help="JSON-lines file of finished runs, shared by the dsm_* scripts "
                   "(read first, appended to; default: none)")
    p.add_argument("--quick", action="store_true", help="tiny run for smoke tests: 2 seeds, budget 12, 1 worker")


def apply_quick(a) -> None:
    if a.quick:
        a.seeds, a.budget, a.workers = 2, 12, 1
    a.datasets = [d for d in a.datasets.split(",") if d]
