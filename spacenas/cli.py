"""Command line: ``spacenas search | sweep | report | train | show | autospace | autospace-search``
(also ``python -m spacenas``).

Bad input never gives a traceback: a :class:`SpacenasError` (or an argparse error) becomes one
line on stderr, ``spacenas: error: ...``, and exit code 2. Only this top level catches them.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from spacenas.errors import SpacenasError

DATASETS_HELP = "cifar10, cifar100, imagenet16-120, ninapro, darcy"


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block) raised as SpacenasError."""

    def error(self, message: str):  # type: ignore[override]
        raise SpacenasError(f"{message} (see '{self.prog} --help')")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{v} must be a positive integer")
    return v


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} must be >= 0")
    return v


def _csv(text: str) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise argparse.ArgumentTypeError("empty list")
    return items


def parse_options(pairs: list[str] | None, methods: list[str], scoped: bool) -> dict[str, dict[str, Any]]:
    """``key=value`` (search) or ``method.key=value`` (sweep) -> ``{method: {key: value}}``.

    Values are read as JSON when they parse (``3``, ``0.5``, ``true``, ``[1,2]``), else as text.
    """
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SpacenasError(f"bad --set {pair!r}: expected key=value")
        method, dot, name = key.partition(".")
        if not dot:
            if scoped and len(methods) > 1:
                raise SpacenasError(f"bad --set {pair!r}: a sweep needs method.key=value "
                                    f"(methods: {', '.join(methods)})")
            method, name = methods[0], key
        elif method not in methods:
            raise SpacenasError(f"bad --set {pair!r}: method {method!r} is not run here (allowed: {', '.join(methods)})")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(method, {})[name] = value
    return out


def _hw_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hardware-aware search (query-based methods on nb201)")
    g.add_argument("--constraint", dest="constraints", action="append", default=None, metavar="METRIC<=X",
                   help="hard limit, repeatable: latency:DEVICE<=MS, energy:DEVICE<=MJ, params<=N, flops<=N "
                        "(suffixes k, M, G)")
    g.add_argument("--objectives", default=None, metavar="accuracy,latency:DEVICE",
                   help="multi-objective run: report the Pareto front of what was evaluated and its hypervolume")
    g.add_argument("--weights", default=None, metavar="W1,W2",
                   help="weights of the normalized objectives in the scalarized reward of single-objective "
                        "methods (default: equal)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="spacenas", description="Neural architecture search with first-class search spaces.")
    sub = p.add_subparsers(dest="command", metavar="{search,sweep,report,train,show,autospace,autospace-search}")
    sub.required = True

    s = sub.add_parser("search", help="run one search and print the found architecture")
    s.add_argument("--space", default="nb201", help="search space (default: nb201)")
    s.add_argument("--dataset", default=None,
                   help=f"data set ({DATASETS_HELP}; default: cifar10); for one-shot methods the training data "
                        "when --data is not given")
    s.add_argument("--method", required=True, help="search method (see registry: random, evolution, reinforce, local, dsm, ...)")
    s.add_argument("--seed", type=_nonneg_int, default=0, help="random seed (default: 0)")
    s.add_argument("--budget", type=_positive_int, default=None,
                   help="budget in the evaluator's unit (nb201: unique queries; default: 100)")
    s.add_argument("--search-metric", default=None, help="reward metric: valid or test (default: valid)")
    s.add_argument("--run-dir", default=None, help="write config, log, checkpoints and result here")
    s.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    s.add_argument("--checkpoint-every", type=_nonneg_int, default=None,
                   help="steps between checkpoints (0: never; default: 25)")
    s.add_argument("--set", dest="options", action="append", metavar="KEY=VALUE", help="method option (repeatable)")
    _hw_args(s)
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    g = s.add_argument_group("one-shot methods")
    g.add_argument("--data", default=None, help="training data for one-shot methods (default: digits)")
    g.add_argument("--data-dir", default=None, help="directory of the data set files")
    g.add_argument("--device", default=None, help="torch device for one-shot methods (default: cpu)")
    g.add_argument("--epochs", type=_positive_int, default=None, help="search epochs for one-shot methods")
    g.add_argument("--progressive", action="store_true", help="progressive variant (DrNAS)")
    from spacenas.supernet_cli import add_supernet_arguments

    add_supernet_arguments(s, data_flags=False)  # --space mobilenet also takes --data/--data-dir/--epochs/--device

    w = sub.add_parser("sweep", help="run methods x datasets x seeds")
    w.add_argument("--space", default="nb201", help="search space (default: nb201)")
    w.add_argument("--datasets", type=_csv, default=None,
                   help=f"comma list (default: cifar10, cifar100, imagenet16-120; mobilenet: digits; "
                        f"allowed: {DATASETS_HELP})")
    w.add_argument("--methods", type=_csv, required=True, help="comma list of query-based methods")
    w.add_argument("--seeds", default="100", help="N (seeds 0..N-1), A:B, or a comma list (default: 100)")
    w.add_argument("--budget", type=_positive_int, default=None, help="budget per run (nb201 default: 100 queries)")
    w.add_argument("--search-metric", default="valid", help="valid or test (default: valid)")
    w.add_argument("--workers", type=_positive_int, default=None, help="parallel runs (default: CPU count)")
    w.add_argument("--ray", default=None, metavar="ADDRESS", help="run as Ray tasks: 'local' or a cluster address")
    w.add_argument("--checkpoint-every", type=_nonneg_int, default=25, help="steps between checkpoints (0: never)")
    w.add_argument("--set", dest="options", action="append", metavar="METHOD.KEY=VALUE", help="method option")
    _hw_args(w)
    add_supernet_arguments(w, data_flags=True)
    w.add_argument("--out", required=True, help="sweep directory")
    w.add_argument("--no-progress", action="store_true", help="no progress bar")

    r = sub.add_parser("report", help="aggregate a sweep dir into tables and plots")
    r.add_argument("dir", help="sweep directory (or any dir holding run dirs)")
    r.add_argument("--out", default=None, help="where to write report.md, report.csv and PNGs (default: DIR)")
    r.add_argument("--no-plots", action="store_true", help="tables only")
    r.add_argument("--html", default=None, metavar="OUT.html",
                   help="write one self-contained HTML page for a run or sweep dir")
    r.add_argument("--space", default=None, help="space of a one-shot run's arch (default: guessed)")

    from spacenas.plots_arch import add_show_arguments
    from spacenas.train.cli_entry import add_train_arguments

    t = sub.add_parser("train", help="retrain an architecture from scratch; report accuracy, params, MAdds; export")
    add_train_arguments(t)
    v = sub.add_parser("show", help="draw an architecture as PNG/SVG")
    add_show_arguments(v)

    from spacenas.autospace_cli import add_autospace_arguments, add_search_arguments

    a = sub.add_parser("autospace", help="learn a layer-wise space of open cells (AutoSpace DEA); save it")
    add_autospace_arguments(a)
    b = sub.add_parser("autospace-search", help="search a learned (or the manual IRB) layer-wise space; "
                       "train and report the network found")
    add_search_arguments(b)
    return p


def _fmt(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def cmd_search(args: argparse.Namespace) -> int:
    from spacenas import registry

    if args.method in registry.ONESHOT_STRATEGIES:
        return _oneshot(args)
    registry.get({**registry.QUERY_STRATEGIES, **registry.ONESHOT_STRATEGIES}, args.method, "method")
    from spacenas import supernet_cli
    from spacenas.sweep import SUPERNET_SPACES

    if args.space in SUPERNET_SPACES:  # query-based search on a supernet trained on --data
        return supernet_cli.run_supernet_search(args, parse_options)
    supernet_cli.reject_supernet_flags(args, args.space)
    args.dataset = args.dataset or "cifar10"
    oneshot_flags = [f for f, v in (("--data", args.data), ("--data-dir", args.data_dir), ("--device", args.device),
                                    ("--epochs", args.epochs), ("--progressive", args.progressive or None)) if v]
    if oneshot_flags:
        raise SpacenasError(f"{', '.join(oneshot_flags)}: only for one-shot methods "
                            f"({', '.join(sorted(registry.ONESHOT_STRATEGIES)) or 'none registered yet'}), "
                            f"not to {args.method!r}")
    if args.resume and not args.run_dir:
        raise SpacenasError("--resume needs --run-dir (the dir of the run to continue)")
    from spacenas.sweep import RunSpec, default_budget, make_evaluator, run_search

    constraints = tuple(args.constraints or ())
    # names first (space, dataset, metric, constraints, objectives), then the budget default
    make_evaluator(args.space, args.dataset, args.search_metric or "valid", constraints, args.objectives)

    opts = parse_options(args.options, [args.method], scoped=False).get(args.method, {})
    budget = args.budget if args.budget is not None else default_budget(args.space)
    spec = RunSpec(args.method, args.dataset, args.seed, budget, args.space, args.search_metric or "valid", opts,
                   constraints, args.objectives, args.weights)
    ckpt = 25 if args.checkpoint_every is None else args.checkpoint_every
    res = run_search(spec, run_dir=args.run_dir, resume=args.resume, checkpoint_every=ckpt,
                     progress=not args.no_progress)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
        return 0
    print(f"{res.method} on {res.space}/{res.dataset}, seed {res.seed}: {res.steps} steps, "
          f"spent {res.spent:g} of {res.budget:g} (search metric: {res.search_metric}; stopped by {res.stopped})")
    n = 4 if res.dataset == "darcy" else 2  # darcy: a score in [-1, 1]
    if res.constraints:
        print(f"subject to {', '.join(res.constraints)} (the optimum below is the constrained one)")
    if res.arch is None:
        print("found    nothing feasible: no evaluated architecture satisfies the constraints")
    else:
        print(f"found    {res.arch}")
        print(f"         valid {_fmt(res.valid, n)}  test {_fmt(res.test, n)}")
    print(f"optimum  {res.optimum_test_arch}")
    print(f"         test {_fmt(res.optimum_test, n)} (best valid in the table: {_fmt(res.optimum_valid, n)})")
    print(f"gap      {_fmt(res.gap, n)} (optimum test - found test)")
    if res.objectives:
        _print_front(res)
        if args.run_dir and len(res.objectives) == 2:
            from spacenas.plots import plot_pareto_run

            print(f"wrote {plot_pareto_run(res, args.run_dir)}", file=sys.stderr)
    return 0


def _print_front(res) -> None:
    names = res.objectives
    print(f"Pareto front of the {res.steps} evaluated ({len(res.front)} archs; accuracy = {res.search_metric}):")
    for row in res.front:
        print("  " + "  ".join(f"{n} {row[n]:.4g}" for n in names) + f"  {row['arch']}")
    if res.hv_ratio is not None:
        print(f"hypervolume {res.hypervolume:.4g} of the exact front's {res.exact_hypervolume:.4g}: "
              f"ratio {res.hv_ratio:.4f}")


def _oneshot(args: argparse.Namespace) -> int:
    query_only = [f for f, v in (("--budget", args.budget), ("--search-metric", args.search_metric),
                                 ("--checkpoint-every", args.checkpoint_every)) if v is not None]
    if query_only:
        raise SpacenasError(f"{', '.join(query_only)}: only for query-based methods, not for the one-shot "
                            f"method {args.method!r} (it takes --epochs and --set options)")
    try:
        mod = importlib.import_module("spacenas.oneshot_cli")
    except ModuleNotFoundError as e:
        if e.name != "spacenas.oneshot_cli":
            raise
        raise SpacenasError(f"method {args.method!r} is one-shot, and one-shot methods are not available "
                            "from the command line yet") from None
    hw = [f for f, v in (("--constraint", args.constraints), ("--objectives", args.objectives),
                         ("--weights", args.weights)) if v]
    if hw:
        raise SpacenasError(f"{', '.join(hw)}: only for query-based methods on the nb201 table, not for the "
                            f"one-shot method {args.method!r}")
    # --data: training data; --dataset: the benchmark data set. Either one alone names both.
    if args.data is None:
        args.data = args.dataset or "digits"
    elif args.dataset is not None and args.dataset != args.data:
        args.options = [*(args.options or []), f"dataset={args.dataset}"]
    sn = [f for f, v in (("--madds-limit", args.madds_limit), ("--supernet", args.supernet_options)) if v]
    if sn:
        raise SpacenasError(f"{', '.join(sn)}: only for query-based methods on --space mobilenet, not for the "
                            f"one-shot method {args.method!r}")
    args.device = args.device or "cpu"
    return int(mod.run(args) or 0)


def cmd_sweep(args: argparse.Namespace) -> int:
    from spacenas.sweep import sweep

    from spacenas.supernet_cli import sweep_supernet_kwargs

    opts = parse_options(args.options, args.methods, scoped=True)
    sn = sweep_supernet_kwargs(args)  # mobilenet: supernet options, data dir, device (else {} or an error)
    if args.datasets is None:
        args.datasets = ["digits"] if sn else ["cifar10", "cifar100", "imagenet16-120"]
    summ = sweep(args.out, args.methods, args.datasets, args.seeds, budget=args.budget, space=args.space, **sn,
                 search_metric=args.search_metric, options=opts, workers=args.workers, ray=args.ray,
                 checkpoint_every=args.checkpoint_every, progress=not args.no_progress,
                 constraints=tuple(args.constraints or ()), objectives=args.objectives, weights=args.weights)
    print(f"{summ.total} runs in {summ.out} ({summ.skipped} already finished, {summ.total - summ.skipped} run now)")
    print(f"next: spacenas report {summ.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    if args.html:
        from spacenas.html_report import cli_html

        return cli_html(args)
    from spacenas.report import write_report

    rep = write_report(args.dir, out=args.out, plots=not args.no_plots)
    print(rep.markdown)
    for path in rep.files:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from spacenas.train.cli_entry import run_train

    return run_train(args)


def cmd_show(args: argparse.Namespace) -> int:
    from spacenas.plots_arch import run_show

    return run_show(args)


def cmd_autospace(args: argparse.Namespace) -> int:
    from spacenas.autospace_cli import run_autospace

    return run_autospace(args)


def cmd_autospace_search(args: argparse.Namespace) -> int:
    from spacenas.autospace_cli import run_search

    return run_search(args)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        fresh = None  # no --run-dir: a fresh runs/<kind>-<method>-<time>, named on the last line
        if hasattr(args, "run_dir") and args.run_dir is None and not getattr(args, "resume", False):
            from spacenas.runs import fresh_run_dir
            fresh = fresh_run_dir(args.command, getattr(args, "method", None), getattr(args, "space", None))
            args.run_dir = str(fresh) if fresh is not None else None
        rc = {"search": cmd_search, "sweep": cmd_sweep, "report": cmd_report,
              "train": cmd_train, "show": cmd_show, "autospace": cmd_autospace,
              "autospace-search": cmd_autospace_search}[args.command](args)
        if fresh is not None and rc == 0:
            print(f"run dir: {fresh}", file=sys.stderr if getattr(args, "json", False) else sys.stdout)
        return rc
    except SpacenasError as e:
        print(f"spacenas: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spacenas: interrupted (a run with --run-dir can continue with --resume)", file=sys.stderr)
        return 130
