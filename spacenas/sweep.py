"""Named runs and sweeps (methods x datasets x seeds), locally in a process pool or as Ray tasks.

A :class:`RunSpec` names one run (method, dataset, seed, budget, space, search metric, method
options); :func:`build_runner` turns it into a :class:`~spacenas.runner.Runner` on the space's
benchmark table. :func:`sweep` runs every spec in its own run dir ``out/<dataset>/<method>/seed-<N>``
(a :class:`spacenas.runs.RunDir`), skips runs that have finished (``result.json``), resumes runs
that have a checkpoint, and restarts runs that were interrupted before their first checkpoint;
so re-running an interrupted sweep continues it. One-shot methods (darts, gdas, drnas, ddsas,
adarts) are swept the same way: each spec is a one-shot run dir (``kind: oneshot``; ``dataset`` is
the data set searched on, epochs and other settings come from the method's options; the query
``budget`` does not apply). With ``ray=...`` each run is a Ray task (``out`` must then be on a
filesystem that every Ray node sees, e.g. NFS, when the cluster has more than one machine).

Interruption: the sweep holds a lock on ``out`` (a second sweep on it is refused, naming the
PID). SIGINT / SIGTERM of the sweep process cancels the queued runs and terminates the pool's
workers before the sweep exits. SIGKILL of the sweep process cannot be caught: on Linux each pool
worker asks the kernel to kill it when its parent dies (``PR_SET_PDEATHSIG``); elsewhere a worker
may finish the run it holds. Either way every run dir is locked by the process running it, so a
re-run started while an orphaned worker still runs is refused for that run dir (one line, with the
PID) instead of writing into it; once it is gone, the re-run resumes from the checkpoints. The
``sweep.json`` of a re-run equals the uninterrupted sweep's (methods, datasets and seeds keep their
first order; new ones are appended).
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spacenas import registry
from spacenas.config import MAX_SEED
from spacenas.errors import SpacenasError
from spacenas.runner import CONFIG, RESULT, Runner, RunResult
from spacenas.runs import Lock, read_json, write_json

# the facts (default budgets, supernet spaces) live in the registry; the names stay importable here
from spacenas.registry import DEFAULT_BUDGETS, SUPERNET_SPACES, default_budget  # noqa: E402,F401

SUPERNET_DIR = "supernets"
SWEEP_FILE = "sweep.json"


@dataclass(frozen=True)
class RunSpec:
    """One named run."""

    method: str
    dataset: str
    seed: int
    budget: float
    space: str = "nb201"
    search_metric: str = "valid"
    options: dict[str, Any] = field(default_factory=dict)
    constraints: tuple[str, ...] = ()  # hard constraints, e.g. ("latency:pixel3<=5", "params<=1M")
    objectives: str | None = None  # multi-objective run, e.g. "accuracy,latency:pixel3"
    weights: str | None = None  # scalarization weights (one per objective; default equal)
    # supernet spaces (mobilenet): SupernetRunConfig options, data directory, torch device
    supernet: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    device: str = "cpu"


def make_evaluator(space: str, dataset: str, search_metric: str = "valid",
                   constraints: tuple[str, ...] | list[str] = (), objectives: str | None = None):
    """The query evaluator on the benchmark table of ``space`` (:data:`spacenas.registry.TABLES`;
    NB201: :func:`spacenas.evaluators.table.nb201_evaluator`)."""
    return registry.table_evaluator(space, dataset, search_metric, constraints, objectives)


def make_supernet_run_evaluator(spec: RunSpec, cache: str | Path | None = None, progress: bool = False):
    """The :class:`~spacenas.evaluators.supernet_run.SupernetRunEvaluator` of a supernet-space spec
    (checks the data set, options and MAdds limit; the supernet is trained on first use, or loaded
    from ``cache`` when that file exists)."""
    hw = [f for f, v in (("--constraint", spec.constraints), ("--objectives", spec.objectives),
                         ("--weights", spec.weights)) if v]
    if hw:
        raise SpacenasError(f"{', '.join(hw)}: only for the nb201 table; space {spec.space!r} takes an MAdds "
                            "limit (--madds-limit, supernet option madds_limit)")
    if spec.search_metric != "valid":
        raise SpacenasError(f"bad search metric {spec.search_metric!r} for space {spec.space!r}: archs are scored "
                            "by supernet accuracy on held-out training images (allowed: valid)")
    from spacenas.evaluators.supernet_run import SupernetRunEvaluator

    return SupernetRunEvaluator(spec.dataset, spec.seed, spec.supernet, data_dir=spec.data_dir, cache=cache,
                                device=spec.device, progress=progress)


def supernet_cache_of(out: str | Path, dataset: str, seed: int) -> Path:
    """Where a sweep keeps the supernet of ``(dataset, seed)``, shared by its methods."""
    return Path(out) / dataset / SUPERNET_DIR / f"seed-{seed}.pt"


def build_runner(spec: RunSpec, run_dir: str | Path | None = None, checkpoint_every: int = 25,
                 progress: bool = True, supernet_cache: str | Path | None = None) -> Runner:
    """Validate ``spec`` (names, options, budget) and build its runner; nothing is written yet.

    Supernet spaces: the supernet is cached in ``supernet_cache`` (default: ``run_dir/supernet.pt``;
    none without a run dir), so a resumed run loads it instead of retraining."""
    if spec.method in registry.ONESHOT_STRATEGIES:
        raise SpacenasError(f"method {spec.method!r} is one-shot; query-based runs allow: "
                            f"{', '.join(sorted(registry.QUERY_STRATEGIES))}")
    cls = registry.query_strategy(spec.method)
    if spec.space in SUPERNET_SPACES:
        from spacenas.evaluators.supernet_run import CACHE_FILE

        if supernet_cache is None and run_dir is not None:
            supernet_cache = Path(run_dir) / CACHE_FILE
        evaluator = make_supernet_run_evaluator(spec, supernet_cache, progress)
        if isinstance(spec.budget, (int, float)) and spec.budget > evaluator.space.size:
            raise SpacenasError(f"bad budget {spec.budget:g}: more than the {evaluator.space.size} architectures "
                                f"of {spec.space}")
        strategy = cls(evaluator.space, seed=spec.seed, config=dict(spec.options))
        extra = {"supernet": evaluator.config.model_dump(mode="json"), "madds_limit": evaluator.madds_limit}
        return Runner(strategy, evaluator, spec.budget, spec.seed, run_dir=run_dir,
                      checkpoint_every=checkpoint_every, progress=progress, config={"kind": "supernet", "method": spec.method, **extra})
    evaluator = make_evaluator(spec.space, spec.dataset, spec.search_metric, spec.constraints, spec.objectives)
    options, objectives, extra = dict(spec.options), None, {}
    if spec.constraints:
        extra["constraints"] = [str(c) for c in evaluator.constraints]
    if spec.weights is not None and not spec.objectives:
        raise SpacenasError("weights are for a multi-objective run: give --objectives too")
    if spec.objectives:
        from spacenas.evaluators.constraints import parse_objectives

        objectives = parse_objectives(spec.objectives)
        extra["objectives"] = [str(o) for o in objectives]
        if getattr(cls, "multi_objective", False):  # reads the objective vectors itself
            if spec.weights is not None:
                raise SpacenasError(f"weights scalarize the reward of single-objective methods; {spec.method!r} "
                                    "is multi-objective and takes none")
            if "objectives" in options and options["objectives"] != spec.objectives:
                raise SpacenasError(f"method option objectives={options['objectives']!r} contradicts "
                                    f"--objectives {spec.objectives!r}")
            options["objectives"] = spec.objectives
        else:  # single-objective methods search the weighted sum of normalized objectives
            from spacenas.evaluators.multiobjective import ScalarizedEvaluator, parse_weights

            weights = parse_weights(spec.weights, len(objectives))
            evaluator = ScalarizedEvaluator(evaluator, objectives, weights)
            extra["weights"] = list(weights)
    if isinstance(spec.budget, (int, float)) and spec.budget > evaluator.space.size:
        raise SpacenasError(f"bad budget {spec.budget:g}: more than the {evaluator.space.size} architectures "
                            f"of {spec.space} (each unique query costs 1)")
    strategy = cls(evaluator.space, seed=spec.seed, config=options)
    return Runner(strategy, evaluator, spec.budget, spec.seed, run_dir=run_dir, checkpoint_every=checkpoint_every,
                  progress=progress, config={"method": spec.method, **extra}, objectives=objectives)


def run_search(spec: RunSpec, run_dir: str | Path | None = None, resume: bool = False,
               checkpoint_every: int = 25, progress: bool = True,
               supernet_cache: str | Path | None = None) -> RunResult:
    """Build and run one search; see :class:`~spacenas.runner.Runner` and :func:`build_runner`."""
    return build_runner(spec, run_dir, checkpoint_every, progress, supernet_cache).run(resume=resume)


#: seeds one sweep may run (each is a run per method and data set)
MAX_SWEEP_SEEDS = 100_000


def parse_seeds(seeds: int | str | list[int]) -> list[int]:
    """``100`` -> seeds 0..99; ``"5:10"`` -> 5..9; ``"1,4,9"`` -> those; a list is kept."""
    allowed = "allowed: a count N >= 1 for 0..N-1, 'A:B' for A..B-1, or a comma list"
    if isinstance(seeds, list):
        out = seeds
    else:
        s = str(seeds).strip()
        try:
            if ":" in s:
                a, b = s.split(":")
                out = range(int(a), int(b))  # a range: sized and bounded below before it is listed
            elif "," in s:
                out = [int(x) for x in s.split(",") if x.strip()]
            else:
                out = range(int(s))
        except ValueError:
            raise SpacenasError(f"bad seeds {seeds!r} ({allowed})") from None
        if isinstance(out, range) and not out:
            raise SpacenasError(f"bad seeds {seeds!r}: " + (
                f"'A:B' means seeds A..B-1, so B must be greater than A ({allowed})" if ":" in s
                else f"a count N must be >= 1 ({allowed})"))
    n = max(0, out.stop - out.start) if isinstance(out, range) else len(out)
    if n > MAX_SWEEP_SEEDS:
        raise SpacenasError(f"bad seeds {seeds!r}: {n} seeds; at most {MAX_SWEEP_SEEDS} per sweep")
    if not n:
        raise SpacenasError(f"bad seeds {seeds!r}: need at least one seed ({allowed})")
    bad = next((x for x in out if int(x) < 0 or int(x) > MAX_SEED), None)
    if bad is not None:
        raise SpacenasError(f"bad seeds {seeds!r}: seed {bad} is not in 0..{MAX_SEED}")
    return [int(x) for x in out]


def run_dir_of(out: str | Path, spec: RunSpec) -> Path:
    return Path(out) / spec.dataset / spec.method / f"seed-{spec.seed}"


def _cpus() -> int:
    """CPUs this process may use (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:
        return os.cpu_count() or 1


def _init_worker(parent: int | None = None) -> None:
    import torch

    torch.set_num_threads(1)  # one run per core; our own pool processes only
    if parent is not None:
        import signal

        # Ctrl-C reaches the whole process group: only the sweep process handles it (it terminates
        # the workers); a worker interrupted inside the pool's queues left semaphores behind.
        # (Spawned workers already ignore it from birth: _children_ignore_sigint.)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # tqdm's cross-process lock is a named semaphore in a spawned process; a terminated worker
        # never unlinks it ("leaked semaphore" warnings). Its bars are off and spawn cannot share it.
        from tqdm.std import TqdmDefaultWriteLock

        TqdmDefaultWriteLock.mp_lock = None
        _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """Linux: ask the kernel to SIGKILL this worker when the sweep process dies (also on SIGKILL)."""
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _run_task(spec_d: dict[str, Any], run_dir: str, checkpoint_every: int,
              supernet_cache: str | None = None, plugins: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run (or skip, or resume) one spec in ``run_dir``; returns the result as a dict. A finished
    run returns its result, a checkpointed one resumes, one killed before its first checkpoint
    starts over (:class:`spacenas.runs.RunDir`). ``plugins``: loaded first (a spawned worker
    starts with the built-ins only)."""
    _load_plugins(plugins)
    d = Path(run_dir)
    resume = (d / CONFIG).exists()
    spec = RunSpec(**spec_d)
    if spec.method in registry.ONESHOT_STRATEGIES:
        return sweep_oneshot(spec, d, resume=resume)
    res = run_search(spec, run_dir=d, resume=resume, checkpoint_every=checkpoint_every,
                     progress=False, supernet_cache=supernet_cache)
    return res.to_dict()


def sweep_oneshot(spec: RunSpec, run_dir: str | Path, resume: bool = False, progress: bool = False) -> dict[str, Any]:
    """The one-shot run of a sweep spec (method, space, dataset = the data set searched on, seed,
    options, data_dir, device) in ``run_dir``; returns its ``result.json`` content."""
    from spacenas.runs import RESULT as RESULT_FILE
    from spacenas.strategies.oneshot.build import OneShotSearchConfig, run_oneshot

    run_oneshot(OneShotSearchConfig(space=spec.space, method=spec.method, data=spec.dataset, data_dir=spec.data_dir,
                                    seed=spec.seed, options=dict(spec.options), device=spec.device,
                                    run_dir=str(run_dir), resume=resume, progress=progress))
    return read_json(Path(run_dir) / RESULT_FILE, "run result")


def _load_plugins(plugins: tuple[str, ...]) -> None:
    if plugins:
        from spacenas.plugins import load_plugins

        load_plugins(plugins)


def _pretrain_task(spec_d: dict[str, Any], cache: str, plugins: tuple[str, ...] = ()) -> None:
    """Train the supernet of a spec's (dataset, seed) into ``cache`` (a no-op when it exists)."""
    _load_plugins(plugins)
    make_supernet_run_evaluator(RunSpec(**spec_d), cache).ensure_trained()


@dataclass
class SweepSummary:
    out: str
    total: int
    skipped: int  # already finished before this call
    results: list[RunResult | dict[str, Any]]  # one-shot runs: their result.json content


def sweep(out: str | Path, methods: list[str], datasets: list[str], seeds: int | str | list[int],
          budget: float | None = None, space: str = "nb201", search_metric: str = "valid",
          options: dict[str, dict[str, Any]] | None = None, workers: int | None = None,
          ray: str | None = None, checkpoint_every: int = 25, progress: bool = True,
          constraints: tuple[str, ...] | list[str] = (), objectives: str | None = None,
          weights: str | None = None, supernet: dict[str, Any] | None = None, data_dir: str | None = None,
          device: str = "cpu", plugins: tuple[str, ...] | list[str] = ()) -> SweepSummary:
    """Run methods x datasets x seeds; see the module docstring. ``options``: per-method options;
    ``constraints`` / ``objectives`` / ``weights``: the same for every run (see :class:`RunSpec`).

    Supernet spaces (mobilenet; ``supernet``, ``data_dir``, ``device`` as in :class:`RunSpec`): one
    supernet per (dataset, seed) is trained first (in parallel over ``workers``), cached in
    ``out/<dataset>/supernets/seed-<N>.pt``, and shared by every method's run of that seed.

    ``plugins``: ``module:attr`` plugins (:mod:`spacenas.plugins`) that every worker loads first."""
    plugins = tuple(plugins)
    _load_plugins(plugins)
    constraints = tuple(constraints)
    options = options or {}
    if budget is None:  # one-shot runs have no query budget (epochs are a method option)
        budget = default_budget(space) if any(m not in registry.ONESHOT_STRATEGIES for m in methods) else 0
    seeds_l = parse_seeds(seeds)
    for m in options:
        if m not in methods:
            raise SpacenasError(f"options given for method {m!r}, which is not in the sweep ({', '.join(methods)})")
    hw: dict[str, Any] = {"constraints": constraints, "objectives": objectives, "weights": weights}
    sn = space in SUPERNET_SPACES
    if sn:
        hw.update(supernet=dict(supernet or {}), data_dir=data_dir, device=device)
    elif supernet or data_dir is not None:
        raise SpacenasError(f"supernet options and a data dir are for the supernet spaces "
                            f"({', '.join(SUPERNET_SPACES)}), not for {space!r}")
    specs = [RunSpec(m, ds, s, budget, space, search_metric, dict(options.get(m, {})), **hw)
             for ds in datasets for m in methods for s in seeds_l]
    for m in methods:  # validate every name and option before anything runs or is written
        registry.check_method(m)  # a sweep takes query-based and one-shot methods
        if m in registry.ONESHOT_STRATEGIES:
            registry.oneshot_strategy(m)  # the rest is checked when its first run starts
            continue
        for ds in datasets:
            build_runner(RunSpec(m, ds, 0, budget, space, search_metric, dict(options.get(m, {})), **hw),
                         progress=False)
    out = Path(out)
    fixed = {"space": space, "budget": budget, "search_metric": search_metric, "options": options}
    if constraints or objectives:  # older sweep files (and plain sweeps) keep their keys
        fixed.update(constraints=list(constraints), objectives=objectives, weights=weights)
    if sn:
        fixed["supernet"] = dict(supernet or {})
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SpacenasError(f"cannot use sweep dir {out}: {e.strerror or e}") from None
    lock = Lock(out)  # one sweep process per out dir
    try:
        _write_sweep_file(out, fixed, methods, datasets, seeds_l)
        return _sweep(out, specs, checkpoint_every, sn, workers, ray, progress, plugins)
    finally:
        lock.release()


def _sweep(out: Path, specs: list[RunSpec], checkpoint_every: int, sn: bool, workers: int | None,
           ray: str | None, progress: bool, plugins: tuple[str, ...] = ()) -> SweepSummary:
    tasks = [(asdict(sp), str(run_dir_of(out, sp)), checkpoint_every,
              str(supernet_cache_of(out, sp.dataset, sp.seed)) if sn else None, plugins) for sp in specs]
    if sn:  # one supernet per (dataset, seed) that an unfinished run needs, before the runs share it
        need = {t[3]: t[0] for t in tasks if not (Path(t[1]) / RESULT).exists()}
        _run_pool(_pretrain_task, [(d, cache, plugins) for cache, d in need.items()], workers or _cpus(), progress,
                  "supernets", "net")
    skipped = sum((Path(t[1]) / RESULT).exists() for t in tasks)
    if ray:
        dicts = _run_ray(tasks, ray, workers, progress)
    else:
        dicts = _run_local(tasks, workers or _cpus(), progress)
    results = [d if d.get("kind") == "oneshot" else RunResult.from_dict(d, run_dir=t[1])
               for d, t in zip(dicts, tasks)]
    return SweepSummary(str(out), len(tasks), skipped, results)


def _write_sweep_file(out: Path, fixed: dict[str, Any], methods, datasets, seeds) -> None:
    path = out / SWEEP_FILE
    try:
        out.mkdir(parents=True, exist_ok=True)
        fixed = json.loads(json.dumps(fixed))
        if path.exists():
            old = read_json(path, "sweep file")
            if not isinstance(old, dict) or not all(isinstance(old.get(k, []), list)
                                                    for k in ("methods", "datasets", "seeds")):
                raise SpacenasError(f"{path} is not a sweep file (expected a JSON object with lists 'methods', "
                                    "'datasets', 'seeds'); use another --out, or delete it to start the sweep over")
            keys = [*fixed, *(k for k in old if k not in fixed and k not in ("kind", "methods", "datasets", "seeds"))]
            diff = [k for k in keys if old.get(k) != fixed.get(k)]
            if diff:
                raise SpacenasError(f"{out} holds a sweep with different {', '.join(diff)} "
                                    f"({', '.join(f'{k}={old.get(k)!r}' for k in diff)}); use them or another --out")
            # first order kept, new names appended: a re-run writes the same file as the first run
            methods, datasets, seeds = (_union(old.get(k, []), new) for k, new in
                                        (("methods", methods), ("datasets", datasets), ("seeds", seeds)))
        doc = {"kind": "sweep", **fixed, "methods": list(methods), "datasets": list(datasets), "seeds": list(seeds)}
        write_json(path, doc)
        if not (out / CONFIG).exists() or read_json(out / CONFIG, "sweep config") != doc:
            write_json(out / CONFIG, doc)  # the run-dir contract: config.json with "kind"
    except OSError as e:
        raise SpacenasError(f"cannot use sweep dir {out}: {e.strerror or e}") from None


def _union(old: list, new: list) -> list:
    return list(old) + [x for x in new if x not in old]


def _bar(total: int, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, disable=not progress, desc="runs", unit="run")


def _run_pool(fn, tasks: list[tuple], workers: int, progress: bool, desc: str, unit: str) -> list[Any]:
    """``fn(*t)`` for every task, in this process (1 worker) or a spawn process pool."""
    from tqdm import tqdm

    out: list[Any] = [None] * len(tasks)
    with tqdm(total=len(tasks), file=sys.stderr, disable=not progress, desc=desc, unit=unit) as bar:
        if workers <= 1 or len(tasks) <= 1:
            for i, t in enumerate(tasks):
                out[i] = fn(*t)
                bar.update()
            return out
        import multiprocessing as mp

        pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker, initargs=(os.getpid(),))
        try:
            with _terminate_on_sigterm():
                n = min(workers, len(tasks))
                with _children_ignore_sigint():  # the first submits spawn the workers
                    futs = {pool.submit(fn, *t): i for i, t in enumerate(tasks[:n])}
                futs.update({pool.submit(fn, *t): i for i, t in enumerate(tasks[n:], start=n)})
                for f in as_completed(futs):
                    out[futs[f]] = f.result()
                    bar.update()
        except BaseException:  # error, Ctrl-C or SIGTERM: no worker outlives the sweep
            _kill_pool(pool)
            raise
        pool.shutdown(wait=True)
    return out


@contextlib.contextmanager
def _children_ignore_sigint():
    """Processes started inside ignore SIGINT from birth (an ignored signal stays ignored across
    exec, and Python keeps it so): a Ctrl-C while a worker still imports torch, before its
    initializer runs, would print that worker's traceback and leave its semaphores behind. The
    sweep process itself ignores SIGINT only while it starts them; then it handles Ctrl-C and
    terminates the workers."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that the pool is shut down on the way out."""


@contextlib.contextmanager
def _terminate_on_sigterm():
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Terminated()
    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _kill_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel queued runs and terminate the workers (their run dirs keep the last checkpoint)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()


def _run_local(tasks: list[tuple], workers: int, progress: bool) -> list[dict[str, Any]]:
    if workers < 1:
        raise SpacenasError(f"bad --workers {workers}: must be >= 1")
    return _run_pool(_run_task, tasks, workers, progress, "runs", "run")


def _run_ray(tasks: list[tuple], address: str, workers: int | None, progress: bool) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise SpacenasError("--ray needs the ray package (pip install 'spacenas[ray]')") from None
    started = not ray.is_initialized()
    if started:
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address == "local":
            kw["num_cpus"] = workers or _cpus()
        try:
            ray.init(address=None if address == "local" else address, **kw)
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise SpacenasError(f"cannot connect to the Ray cluster at {address!r}: {e} "
                                "(allowed: 'local' or a cluster address such as ray://host:10001 or auto)") from None
    try:
        remote = ray.remote(num_cpus=1)(_ray_task)
        refs = [remote.remote(*t) for t in tasks]
        pending = list(refs)
        with _bar(len(tasks), progress) as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                bar.update(len(done))
        return ray.get(refs)
    except ray.exceptions.RayTaskError as e:  # re-raise a user error as itself, without Ray's wrapping
        if isinstance(getattr(e, "cause", None), SpacenasError):
            raise SpacenasError(str(e.cause)) from None
        raise
    finally:
        if started:
            ray.shutdown()


def _ray_task(spec_d: dict[str, Any], run_dir: str, checkpoint_every: int,
              supernet_cache: str | None = None, plugins: tuple[str, ...] = ()) -> dict[str, Any]:
    _init_worker()
    return _run_task(spec_d, run_dir, checkpoint_every, supernet_cache, plugins)
