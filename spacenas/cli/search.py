"""``spacenas search``: one search, any method, any space.

Query-based methods on a table space build a :class:`~spacenas.sweep.RunSpec` and call
:func:`spacenas.sweep.run_search`; on a supernet space (mobilenet) the same, with the supernet
options; one-shot methods build a :class:`~spacenas.strategies.oneshot.build.OneShotSearchConfig`
and call :func:`spacenas.strategies.oneshot.build.run_oneshot`.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from spacenas import registry
from spacenas.cli.options import check_resume, method_options, nonempty, nonneg_int, positive_int, seed
from spacenas.cli.search_supernet import (add_supernet_arguments, print_result, reject_supernet_flags,
                                          supernet_options)
from spacenas.errors import SpacenasError

DATASETS_HELP = "cifar10, cifar100, imagenet16-120, ninapro, darcy"
DEFAULT_CHECKPOINT_EVERY = 25

log = logging.getLogger(__name__)


def add_hw_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hardware-aware search (query-based methods on nb201)")
    g.add_argument("--constraint", dest="constraints", action="append", default=None, metavar="METRIC<=X",
                   help="hard limit, repeatable: latency:DEVICE<=MS, energy:DEVICE<=MJ, params<=N, flops<=N "
                        "(suffixes k, M, G; the operator may also be <, >= or >)")
    g.add_argument("--objectives", default=None, type=nonempty, metavar="accuracy,latency:DEVICE",
                   help="multi-objective run: report the Pareto front of what was evaluated and its hypervolume")
    g.add_argument("--weights", default=None, metavar="W1,W2",
                   help="weights of the normalized objectives in the scalarized reward of single-objective "
                        "methods (default: equal)")


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--space", default="nb201", help="search space (default: nb201)")
    s.add_argument("--dataset", default=None, type=nonempty,
                   help=f"data set ({DATASETS_HELP}; default: cifar10); for one-shot methods the training data "
                        "when --data is not given")
    s.add_argument("--method", required=True, help="search method (see registry: random, evolution, reinforce, local, dsm, ...)")
    s.add_argument("--seed", type=seed, default=0, help="random seed (default: 0)")
    s.add_argument("--budget", type=positive_int, default=None,
                   help="budget in the evaluator's unit (nb201: unique queries; default: 100)")
    s.add_argument("--search-metric", default=None, type=nonempty, help="reward metric: valid or test (default: valid)")
    s.add_argument("--run-dir", default=None, help="write config, log, checkpoints and result here")
    s.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    s.add_argument("--checkpoint-every", type=nonneg_int, default=None,
                   help=f"steps between checkpoints (0: never; default: {DEFAULT_CHECKPOINT_EVERY})")
    s.add_argument("--set", dest="options", action="append", metavar="KEY=VALUE",
                   help="method option (repeatable); a dotted key sets a nested value: --set a.b=1")
    add_hw_arguments(s)
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    g = s.add_argument_group("one-shot methods")
    g.add_argument("--data", default=None, type=nonempty, help="training data for one-shot methods (default: digits; your own: "
                   "folder:PATH with a sub-folder of images per class, or npz:PATH with arrays x, y)")
    g.add_argument("--data-dir", default=None, help="directory of the data set files")
    g.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="also log per-epoch scalars to TensorBoard in DIR (needs the tensorboard package)")
    g.add_argument("--device", default=None, type=nonempty, help="torch device for one-shot methods (default: cpu)")
    g.add_argument("--epochs", type=positive_int, default=None, help="search epochs for one-shot methods")
    g.add_argument("--progressive", action="store_true", help="progressive variant (DrNAS)")
    add_supernet_arguments(s, data_flags=False)  # --space mobilenet also takes --data/--data-dir/--epochs/--device


def fmt(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def run(args: argparse.Namespace) -> int:
    if args.method in registry.ONESHOT_STRATEGIES:
        return run_oneshot_search(args)
    if args.tensorboard:
        raise SpacenasError(f"--tensorboard: only for one-shot methods and train, not for {args.method!r}")
    registry.check_method(args.method)
    check_resume(args.resume, args.run_dir)
    if args.space in registry.SUPERNET_SPACES:  # query-based search on a supernet trained on --data
        return run_supernet_search(args)
    reject_supernet_flags(args, args.space)
    dataset = args.dataset or "cifar10"
    oneshot_flags = [f for f, v in (("--data", args.data), ("--data-dir", args.data_dir), ("--device", args.device),
                                    ("--epochs", args.epochs), ("--progressive", args.progressive or None)) if v]
    if oneshot_flags:
        raise SpacenasError(f"{', '.join(oneshot_flags)}: only for one-shot methods "
                            f"({', '.join(sorted(registry.ONESHOT_STRATEGIES))}), not to {args.method!r}")
    from spacenas.sweep import make_evaluator

    metric = args.search_metric or "valid"
    # names first (space, dataset, metric, constraints, objectives), then the budget default
    make_evaluator(args.space, dataset, metric, tuple(args.constraints or ()), args.objectives)
    res = run_query_search(args, dataset, metric)
    if res is None:  # --json: printed
        return 0
    print_query_result(res)
    if res.objectives and args.run_dir and len(res.objectives) == 2:
        from spacenas.reporting.plots import plot_pareto_run

        log.info(f"wrote {plot_pareto_run(res, args.run_dir)}")
    return 0


def run_query_search(args: argparse.Namespace, dataset: str, metric: str, **supernet: Any):
    """What a query-based search on a table space and on a supernet space (``supernet``: the
    RunSpec's supernet, data_dir and device) share: the method's options, the space's default
    budget, the :class:`~spacenas.sweep.RunSpec`, :func:`~spacenas.sweep.run_search`. Returns the
    :class:`~spacenas.runner.RunResult`, or None after printing it as JSON (``--json``)."""
    from spacenas.sweep import RunSpec, run_search

    opts = method_options(args.options, [args.method], scoped=False).get(args.method, {})
    budget = args.budget if args.budget is not None else registry.default_budget(args.space)
    spec = RunSpec(args.method, dataset, args.seed, budget, args.space, metric, opts,
                   tuple(args.constraints or ()), args.objectives, args.weights, **supernet)
    res = run_search(spec, run_dir=args.run_dir, resume=args.resume, checkpoint_every=checkpoint_every(args),
                     progress=not args.no_progress)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
        return None
    return res


def checkpoint_every(args: argparse.Namespace) -> int:
    return DEFAULT_CHECKPOINT_EVERY if args.checkpoint_every is None else args.checkpoint_every


def print_query_result(res) -> None:
    print(f"{res.method} on {res.space}/{res.dataset}, seed {res.seed}: {res.steps} steps, "
          f"spent {res.spent:g} of {res.budget:g} (search metric: {res.search_metric}; stopped by {res.stopped})")
    n = 4 if res.dataset == "darcy" else 2  # darcy: a score in [-1, 1]
    if res.constraints:
        print(f"subject to {', '.join(res.constraints)} (the optimum below is the constrained one)")
    if res.arch is None:
        print("found    nothing feasible: no evaluated architecture satisfies the constraints")
    else:
        print(f"found    {res.arch}")
        print(f"         valid {fmt(res.valid, n)}  test {fmt(res.test, n)}")
        if (res.constraints or res.objectives) and res.metrics:  # the found arch's hardware cost
            from spacenas.evaluators.units import hardware_line
            print(f"         {hardware_line(res.metrics, res.constraints, res.dataset)}")
    if res.optimum_test_arch is None:  # an evaluator without a table (e.g. a plugin's)
        print("optimum  n/a: no table optimum for this space (no gap)")
    else:
        print(f"optimum  {res.optimum_test_arch}")
        print(f"         test {fmt(res.optimum_test, n)} (best valid in the table: {fmt(res.optimum_valid, n)})")
        print(f"gap      {fmt(res.gap, n)} (optimum test - found test, before rounding)")
    if res.objectives:
        print_front(res)


def print_front(res) -> None:
    names = res.objectives
    print(f"Pareto front of the {res.steps} evaluated ({len(res.front)} archs; accuracy = {res.search_metric}):")
    for row in res.front:
        print("  " + "  ".join(f"{n} {row[n]:.4g}" for n in names) + f"  {row['arch']}")
    if res.hv_ratio is not None:
        print(f"hypervolume {res.hypervolume:.4g} of the exact front's {res.exact_hypervolume:.4g}: "
              f"ratio {res.hv_ratio:.4f}")


def run_supernet_search(args: argparse.Namespace) -> int:
    """``spacenas search --space mobilenet ...``: train (or load) the supernet, search, print."""
    if args.progressive:
        raise SpacenasError("--progressive: only for the one-shot method drnas")
    if args.data is not None and args.dataset is not None and args.data != args.dataset:
        raise SpacenasError(f"--data {args.data} and --dataset {args.dataset} disagree: on space {args.space!r} "
                            "both name the data the supernet is trained on; give one")
    data = args.data or args.dataset or "digits"
    res = run_query_search(args, data, args.search_metric or "valid", supernet=supernet_options(args),
                           data_dir=args.data_dir, device="cpu" if args.device is None else args.device)
    if res is None:  # --json: printed
        return 0
    print_result(res)
    return 0


def epoch_line(rec: dict[str, Any]) -> str:
    parts = [f"epoch {rec['epoch'] + 1:>3}", f"lr {rec['lr']:.4f}", f"train {rec.get('train_loss', float('nan')):.3f}"
             f"/{100 * rec.get('train_acc', float('nan')):.1f}%"]
    if "valid_loss" in rec:
        parts.append(f"valid {rec['valid_loss']:.3f}/{100 * rec['valid_acc']:.1f}%")
    parts.append(rec["arch"])
    if "benchmark" in rec:
        b = rec["benchmark"]
        parts.append(f"[{b['dataset']} table: valid {b['valid']:.2f} test {b['test']:.2f}]")
    return "  ".join(parts)


def run_oneshot_search(args: argparse.Namespace) -> int:
    """``spacenas search --method darts|gdas|drnas|ddsas|adarts ...``."""
    query_only = [f for f, v in (("--budget", args.budget), ("--search-metric", args.search_metric),
                                 ("--checkpoint-every", args.checkpoint_every)) if v is not None]
    if query_only:
        raise SpacenasError(f"{', '.join(query_only)}: only for query-based methods, not for the one-shot "
                            f"method {args.method!r} (it takes --epochs and --set options)")
    hw = [f for f, v in (("--constraint", args.constraints), ("--objectives", args.objectives),
                         ("--weights", args.weights)) if v]
    if hw:
        raise SpacenasError(f"{', '.join(hw)}: only for query-based methods on the nb201 table, not for the "
                            f"one-shot method {args.method!r}")
    sn = [f for f, v in (("--madds-limit", args.madds_limit), ("--supernet", args.supernet_options)) if v]
    if sn:
        raise SpacenasError(f"{', '.join(sn)}: only for query-based methods on --space mobilenet, not for the "
                            f"one-shot method {args.method!r}")
    check_resume(args.resume, args.run_dir)
    from tqdm.auto import tqdm

    from spacenas.config import build_config
    from spacenas.strategies.oneshot.build import OneShotSearchConfig, run_oneshot

    opts = method_options(args.options, [args.method], scoped=False).get(args.method, {})
    # --data: training data; --dataset: the benchmark data set. Either one alone names both.
    data = args.data if args.data is not None else (args.dataset or "digits")
    if args.data is not None and args.dataset is not None and args.dataset != args.data:
        opts["dataset"] = args.dataset
    config = build_config(OneShotSearchConfig, {
        "space": args.space, "method": args.method, "data": data, "data_dir": args.data_dir, "seed": args.seed,
        "epochs": args.epochs, "progressive": args.progressive, "options": opts, "device": "cpu" if args.device is None else args.device,
        "run_dir": args.run_dir, "resume": args.resume, "progress": not args.no_progress}, where="search")
    quiet = args.json
    tb = None
    if args.tensorboard:  # fails before any work
        from spacenas.tensorboard import ScalarLogger
        tb = ScalarLogger(args.tensorboard)

    def on_start(built, dev, ctx) -> None:
        for note in built.notes:  # notes are info: -q silences them
            log.info(note)
        if not quiet:
            world = f", {ctx.world_size} processes" if ctx else ""
            print(f"{args.method} on {args.space}/{built.data}: {built.loop.epochs} epochs, device {dev}{world}")

    def on_epoch(rec: dict[str, Any]) -> None:
        if not quiet:
            tqdm.write(epoch_line(rec))
        if tb is not None:
            tb.log(rec, rec["epoch"] + 1)

    try:
        res, built, main = run_oneshot(config, on_start=on_start,
                                       callback=on_epoch if (tb is not None or not quiet) else None)
    finally:
        if tb is not None:
            tb.close()
    if not main:
        return 0
    from spacenas.strategies.oneshot.short_runs import margin_warning
    warning = margin_warning(res.scores)
    if warning:
        print(warning, file=sys.stderr)
    discarded = res.history[-1].get("discarded") if res.history else None  # a method's own rule: its reason
    if discarded:
        print(f"warning: the method's rule discards the derived arch ({discarded}; 'discarded' in the log): "
              "search again with another --seed", file=sys.stderr)
    if quiet:
        print(json.dumps({"method": args.method, "space": args.space, "data": built.data, "arch": res.arch_text,
                          "benchmark": res.benchmark, "scores": res.scores, "run_dir": res.run_dir,
                          "discarded": discarded or False}, indent=2))
        return 0
    print(f"derived  {res.arch_text}")
    if res.benchmark is not None:
        print(f"         {built.loop.dataset} table (NB201, 200 epochs): valid {res.benchmark['valid']:.2f} "
              f"test {res.benchmark['test']:.2f}")
    return 0
