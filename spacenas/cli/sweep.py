"""``spacenas sweep``: methods x datasets x seeds, calling :func:`spacenas.sweep.sweep`."""
from __future__ import annotations

import argparse

from spacenas.cli.options import csv_list, flag_hint, method_options, nonempty, nonneg_int, positive_int
from spacenas.cli.search import DATASETS_HELP, add_hw_arguments
from spacenas.cli.search_supernet import add_supernet_arguments, sweep_supernet_kwargs

#: data sets of a sweep without --datasets: on a table space, and on a supernet space
DEFAULT_TABLE_DATASETS = ["cifar10", "cifar100", "imagenet16-120"]
DEFAULT_SUPERNET_DATASETS = ["digits"]


def add_arguments(w: argparse.ArgumentParser) -> None:
    w.add_argument("--space", default="nb201", help="search space (default: nb201)")
    w.add_argument("--datasets", "--data", type=csv_list, default=None,  # --data: as search and train spell it
                   help=f"comma list (default: cifar10, cifar100, imagenet16-120; mobilenet: digits; "
                        f"allowed: {DATASETS_HELP})")
    w.add_argument("--methods", type=csv_list, required=True, help="comma list of query-based methods")
    w.add_argument("--seeds", default="100", help="N (seeds 0..N-1), A:B, or a comma list (default: 100)")
    w.add_argument("--budget", type=positive_int, default=None, help="budget per run (nb201 default: 100 queries)")
    w.add_argument("--search-metric", default="valid", type=nonempty, help="valid or test (default: valid)")
    w.add_argument("--workers", type=positive_int, default=None, help="parallel runs (default: CPU count)")
    w.add_argument("--ray", default=None, metavar="ADDRESS", help="run as Ray tasks: 'local' or a cluster address")
    w.add_argument("--checkpoint-every", type=nonneg_int, default=25, help="steps between checkpoints (0: never)")
    w.add_argument("--set", dest="options", action="append", metavar="METHOD.KEY=VALUE", help="method option")
    add_hw_arguments(w)
    add_supernet_arguments(w, data_flags=True)
    w.add_argument("--out", required=True, help="sweep directory")
    w.add_argument("--no-progress", action="store_true", help="no progress bar")
    flag_hint(w, "--resume", "a sweep has no --resume; it continues when you run the same command again "
                            "(finished runs are skipped, the others continue from their last checkpoints)")
    flag_hint(w, "--run-dir", "a sweep has no --run-dir; --out names its dir, one run dir per "
                             "dataset/method/seed under it")


def run(args: argparse.Namespace) -> int:
    from spacenas.sweep import sweep

    opts = method_options(args.options, args.methods, scoped=True)
    sn = sweep_supernet_kwargs(args)  # mobilenet: supernet options, data dir, device (else {} or an error)
    datasets = args.datasets or (DEFAULT_SUPERNET_DATASETS if sn else DEFAULT_TABLE_DATASETS)
    summ = sweep(args.out, args.methods, datasets, args.seeds, budget=args.budget, space=args.space, **sn,
                 search_metric=args.search_metric, options=opts, workers=args.workers, ray=args.ray,
                 checkpoint_every=args.checkpoint_every, progress=not args.no_progress,
                 constraints=tuple(args.constraints or ()), objectives=args.objectives, weights=args.weights,
                 plugins=tuple(args.plugin or ()))  # pool workers load them too
    print(f"{summ.total} runs in {summ.out} ({summ.skipped} already finished, {summ.total - summ.skipped} run now)")
    print(f"next: spacenas report {summ.out}")
    return 0


def interrupt_hint(args: argparse.Namespace) -> str:
    """What a Ctrl-C leaves of a sweep: every finished run, and the checkpoints of the others."""
    return (f"the finished runs are kept in {args.out}; the same command again skips them and "
            "continues the others from their last checkpoints")
