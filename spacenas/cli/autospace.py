"""``spacenas autospace`` (learn a layer-wise space with the DEA:
:func:`spacenas.strategies.autospace.build.learn_space`) and ``spacenas autospace-search`` (search a
learned or the manual IRB space, train and report the network found:
:func:`spacenas.strategies.autospace.build.search_layerwise`). See ``docs/autospace.md``."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from spacenas import registry
from spacenas.cli.options import check_resume, key_values, positive_int, seed
from spacenas.errors import SpacenasError


def add_autospace_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits", help="training data (default: digits)")
    p.add_argument("--data-dir", default=None, help="directory of the data set files")
    p.add_argument("--layers", type=positive_int, default=None, help="layers of the network (default: 3)")
    p.add_argument("--rounds", type=positive_int, default=None, help="DEA rounds (default: 4)")
    p.add_argument("--population", type=positive_int, default=None, help="cells per layer in the population (default: 8)")
    p.add_argument("--k", type=positive_int, default=None, help="paths per layer = cells per layer kept (default: 3)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default: 0)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--set", dest="options", action="append", metavar="KEY=VALUE",
                   help="DEA option (steps_per_round, tournament, offspring, eps, lr, arch_lr, lam, tau, "
                        "reference, ...) or network option (stem_channels, channels, strides); repeatable")
    p.add_argument("--out", default=None,
                   help="also write the learned space (JSON) here (it is always in the run dir's space.json)")
    p.add_argument("--run-dir", default=None, help="write config and a checkpoint after every round here")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--space-file", default=None, help="a layer-wise space file (from 'spacenas autospace')")
    g.add_argument("--manual-irb", action="store_true",
                   help="the manual baseline: IRB kernels 3/5/7 x expansions 3/6 (+ zero where a layer can be skipped)")
    p.add_argument("--method", required=True, help=f"search method ({', '.join(registry.AUTOSPACE_METHODS)})")
    p.add_argument("--budget", type=positive_int, default=None,
                   help="proxyless: supernet epochs (default: 12); random: architectures (default: 4)")
    p.add_argument("--lam", type=float, default=None, help="proxyless: Eq. 6 lambda per million MAdds (default: 0)")
    p.add_argument("--data", default="digits", help="data (default: digits)")
    p.add_argument("--data-dir", default=None, help="directory of the data set files")
    p.add_argument("--layers", type=positive_int, default=None, help="with --manual-irb: layers of the network (default: 3)")
    p.add_argument("--train-epochs", type=positive_int, default=5,
                   help="epochs to train the found network on the full training set (default: 5)")
    p.add_argument("--run-dir", default=None, help="write config, result and arch here (a killed run starts over)")
    p.add_argument("--resume", action="store_true", help="return the finished run in --run-dir (or redo a killed one)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default: 0)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--set", dest="options", action="append", metavar="KEY=VALUE",
                   help="proxyless: batch_size, lr, arch_lr, warmup_epochs, mode; random: arch_epochs, batch_size, "
                        "lr; network (with --manual-irb): stem_channels, channels, strides")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def sayer(progress: bool, to_stderr: bool = False):
    """Status lines (above the progress bar, if any); on stderr when stdout carries JSON."""
    f = sys.stderr if to_stderr else sys.stdout

    def say(line: str) -> None:
        if progress:
            from tqdm.auto import tqdm

            tqdm.write(line, file=f)
        else:
            print(line, file=f, flush=True)
    return say


def run_autospace(args: argparse.Namespace) -> int:
    from spacenas.config import build_config
    from spacenas.strategies.autospace.build import LearnSpaceConfig, learn_space, space_path

    check_resume(args.resume, args.run_dir)
    options = key_values(args.options)
    for flag, key in (("--rounds", "rounds"), ("--population", "population"), ("--k", "k")):
        v = getattr(args, key)
        if v is not None:
            if key in options:
                raise SpacenasError(f"{flag} and --set {key}=... both given (command line or --config); use one")
            options[key] = v
    config = build_config(LearnSpaceConfig, {
        "data": args.data, "data_dir": args.data_dir, "layers": args.layers, "seed": args.seed,
        "device": args.device, "options": options, "out": args.out, "run_dir": args.run_dir,
        "resume": args.resume, "progress": not args.no_progress}, where="autospace")
    say = sayer(config.progress)

    def on_round(rec: dict[str, Any]) -> None:
        say(f"round {rec['round'] + 1:>3}/{rec['rounds']}  loss {rec['loss']:.4f}")

    res = learn_space(config, say=say, on_round=on_round)
    print(f"learned space: top-{max(map(len, res.space.layers), default=0)} cells per layer (fitness)")
    for l, (cells, fit) in enumerate(zip(res.space.layers, res.fitness)):
        print(f"layer {l}:")
        for c, f in zip(cells, fit):
            print(f"  {f:+.4f}  {c}")
    path = space_path(config)
    print(f"wrote {path}")
    print(f"next: spacenas autospace-search --space-file {path} --method proxyless --data {args.data}")
    return 0


def run_search(args: argparse.Namespace) -> int:
    from spacenas.config import build_config
    from spacenas.strategies.autospace.build import LayerwiseSearchConfig, search_layerwise

    check_resume(args.resume, args.run_dir)
    config = build_config(LayerwiseSearchConfig, {
        "space_file": args.space_file, "manual_irb": args.manual_irb, "method": args.method, "budget": args.budget,
        "lam": args.lam, "data": args.data, "data_dir": args.data_dir, "layers": args.layers,
        "train_epochs": args.train_epochs, "seed": args.seed, "device": args.device,
        "options": key_values(args.options), "progress": not args.no_progress,
        "run_dir": args.run_dir, "resume": args.resume}, where="autospace-search")
    res = search_layerwise(config, say=sayer(config.progress, args.json))
    n_layers = res.pop("n_layers")
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{args.method} search in {res['space']} ({n_layers} layers) on {args.data}, seed {args.seed}: found")
    for l, b in enumerate(res["blocks"]):
        print(f"  layer {l}: {b}")
    print(f"test accuracy {100 * res['test_acc']:.2f} % after {args.train_epochs} epochs; "
          f"MAdds {res['madds'] / 1e6:.3f} M; params {res['params']:,}")
    return 0
