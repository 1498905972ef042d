"""``spacenas autospace`` (learn a layer-wise space with the DEA) and ``spacenas autospace-search``
(search inside a learned or the manual IRB space, train the found network, report it).

Seeds: ``--seed s`` gives the DEA/search ``numpy`` generator (s), the ``torch`` generator for
weights, batches and gates (s) and the 50/50 weights/fitness split of the training set (s+2,
as for one-shot search). See ``docs/autospace.md`` ("Command line").
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from pydantic import Field, ValidationError
from tqdm.auto import tqdm

from spacenas.config import StrictModel, build_config
from spacenas.errors import SpacenasError, unknown

#: network-plan keys ``--set`` may give (the rest of the plan comes from the data)
PLAN_KEYS = ("stem_channels", "channels", "strides")
METHODS = ("proxyless", "random")


class RandomSearchConfig(StrictModel):
    """Random search in a layer-wise space (``--set`` options of ``--method random``)."""
    #: epochs each sampled architecture is trained before it is ranked by validation accuracy
    arch_epochs: int = Field(3, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(0.05, gt=0)


def add_autospace_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits", help="training data (default: digits)")
    p.add_argument("--data-dir", default=None, help="directory of the data set files")
    p.add_argument("--layers", type=_pos, default=None, help="layers of the network (default: 3)")
    p.add_argument("--rounds", type=_pos, default=None, help="DEA rounds (default: 4)")
    p.add_argument("--population", type=_pos, default=None, help="cells per layer in the population (default: 8)")
    p.add_argument("--k", type=_pos, default=None, help="paths per layer = cells per layer kept (default: 3)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--set", dest="options", action="append", metavar="KEY=VALUE",
                   help="DEA option (steps_per_round, tournament, offspring, eps, lr, arch_lr, lam, tau, "
                        "reference, ...) or network option (stem_channels, channels, strides); repeatable")
    p.add_argument("--out", required=True, help="where to write the learned space (JSON)")
    p.add_argument("--run-dir", default=None, help="write config and a checkpoint after every round here")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--space-file", default=None, help="a layer-wise space file (from 'spacenas autospace')")
    g.add_argument("--manual-irb", action="store_true",
                   help="the manual baseline: IRB kernels 3/5/7 x expansions 3/6 (+ zero where a layer can be skipped)")
    p.add_argument("--method", required=True, help=f"search method ({', '.join(METHODS)})")
    p.add_argument("--budget", type=_pos, default=None,
                   help="proxyless: supernet epochs (default: 12); random: architectures (default: 4)")
    p.add_argument("--lam", type=float, default=None, help="proxyless: Eq. 6 lambda per million MAdds (default: 0)")
    p.add_argument("--data", default="digits", help="data (default: digits)")
    p.add_argument("--data-dir", default=None, help="directory of the data set files")
    p.add_argument("--layers", type=_pos, default=None, help="with --manual-irb: layers of the network (default: 3)")
    p.add_argument("--train-epochs", type=_pos, default=5,
                   help="epochs to train the found network on the full training set (default: 5)")
    p.add_argument("--run-dir", default=None, help="write config, result and arch here (a killed run starts over)")
    p.add_argument("--resume", action="store_true", help="return the finished run in --run-dir (or redo a killed one)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--set", dest="options", action="append", metavar="KEY=VALUE",
                   help="proxyless: batch_size, lr, arch_lr, warmup_epochs, mode; random: arch_epochs, batch_size, "
                        "lr; network (with --manual-irb): stem_channels, channels, strides")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _pos(text: str) -> int:
    from spacenas.cli import _positive_int
    return _positive_int(text)


def _seed(text: str) -> int:
    from spacenas.cli import _nonneg_int
    return _nonneg_int(text)


# ----- shared pieces --------------------------------------------------------------------------
def default_plan_values(n_layers: int) -> dict[str, Any]:
    """Stem 16 channels; one stride-2 layer at ``max(1, round(L/3))`` from which the width is 24
    (L = 3: channels 16/24/24, strides 1/2/1, the benchmark's network); L = 1: one 16-channel layer."""
    if n_layers == 1:
        return {"stem_channels": 16, "channels": [16], "strides": [1]}
    down = max(1, round(n_layers / 3))
    return {"stem_channels": 16, "channels": [16 if l < down else 24 for l in range(n_layers)],
            "strides": [2 if l == down else 1 for l in range(n_layers)]}


def make_plan(data, layers: int | None, given: dict[str, Any], where: str):
    """A :class:`NetPlan` for ``data`` from ``--layers`` and the ``--set`` plan keys."""
    from spacenas.nn.open_cell_net import NetPlan

    n = layers
    for key in ("channels", "strides"):
        if key in given:
            if not isinstance(given[key], list):
                raise SpacenasError(f"{where}: bad value {given[key]!r} for {key!r}: expected a JSON list like [16,24]")
            if n is not None and len(given[key]) != n:
                raise SpacenasError(f"{where}: {key} has {len(given[key])} entries but --layers is {n}")
            n = len(given[key])
    vals = {**default_plan_values(n or 3), **given, "in_channels": data.in_channels,
            "image_size": data.image_size, "num_classes": data.num_classes}
    try:
        return NetPlan(**vals)
    except ValidationError as e:
        err = e.errors()[0]
        if not err["loc"]:  # a whole-plan check (lengths, strides)
            raise SpacenasError(f"{where} network: {err['msg'].removeprefix('Value error, ')}") from None
    return build_config(NetPlan, vals, where=f"{where} network")


def split_options(pairs: list[str] | None, tables: dict[str, tuple[str, ...] | set[str]], where: str
                  ) -> dict[str, dict[str, Any]]:
    """``--set`` pairs routed by key to the first table that has it; unknown keys are errors."""
    from spacenas.cli import parse_options

    flat = parse_options(pairs, [where], scoped=False).get(where, {})
    out: dict[str, dict[str, Any]] = {name: {} for name in tables}
    for key, value in flat.items():
        home = next((name for name, keys in tables.items() if key in keys), None)
        if home is None:
            raise unknown(f"{where} option", key, [k for keys in tables.values() for k in sorted(keys)])
        out[home][key] = value
    return out


def load_data(name: str, data_dir: str | None, seed: int):
    from spacenas.data import load_dataset

    if data_dir is not None and name != "digits" and not Path(data_dir).expanduser().is_dir():
        raise SpacenasError(f"--data-dir {data_dir!r} is not a directory")
    data = load_dataset(name, data_dir)
    train, valid = data.search_split(torch.Generator().manual_seed(seed + 2))
    return data, train, valid


def _check_out(path: str, flag: str = "--out") -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        raise SpacenasError(f"{flag} {path!r} is a directory; give a file name like space.json")
    if not p.parent.is_dir():
        raise SpacenasError(f"{flag} {path!r}: directory {str(p.parent)!r} does not exist")
    return p


def _say(line: str, progress: bool, to_stderr: bool = False) -> None:
    """A status line (above the progress bar, if any); on stderr when stdout carries JSON."""
    f = sys.stderr if to_stderr else sys.stdout
    if progress:
        tqdm.write(line, file=f)
    else:
        print(line, file=f, flush=True)


# ----- spacenas autospace ------------------------------------------------------------------------
def run_autospace(args: argparse.Namespace) -> int:
    from spacenas.oneshot_cli import parse_device
    from spacenas.strategies.autospace import AutoSpace, AutoSpaceConfig

    if args.resume and not args.run_dir:
        raise SpacenasError("--resume needs --run-dir (the dir of the run to continue)")
    out = _check_out(args.out)
    dev = str(parse_device(args.device))
    opts = split_options(args.options, {"dea": set(AutoSpaceConfig.model_fields), "plan": PLAN_KEYS}, "autospace")
    for flag, key in (("--rounds", "rounds"), ("--population", "population"), ("--k", "k")):
        v = getattr(args, key)
        if v is not None:
            if key in opts["dea"]:
                raise SpacenasError(f"{flag} and --set {key}=... both given; use one")
            opts["dea"][key] = v
    cfg = build_config(AutoSpaceConfig, opts["dea"], where="autospace")
    data, train, valid = load_data(args.data, args.data_dir, args.seed)
    plan = make_plan(data, args.layers, opts["plan"], "autospace")
    dea = AutoSpace(cfg, plan)
    progress = not args.no_progress
    _say(f"autospace on {args.data}: {plan.n_layers} layers (channels {plan.channels}, strides {plan.strides}), "
         f"{cfg.rounds} rounds x {cfg.steps_per_round} steps, population {cfg.population}, K {cfg.k}, seed {args.seed}",
         progress)
    if args.resume:
        _say(f"resuming the run in {args.run_dir} from its last checkpoint", progress)

    def on_round(rec: dict[str, Any]) -> None:
        _say(f"round {rec['round'] + 1:>3}/{cfg.rounds}  loss {rec['loss']:.4f}", progress)

    res = dea.run(train, valid, np.random.default_rng(args.seed), torch.Generator().manual_seed(args.seed), dev,
                  run_dir=args.run_dir, resume=args.resume, on_round=on_round, progress=progress,
                  run_config={"data": args.data, "seed": args.seed})
    print(f"learned space: top-{cfg.k} cells per layer (fitness)")
    for l, (cells, fit) in enumerate(zip(res.space.layers, res.fitness)):
        print(f"layer {l}:")
        for c, f in zip(cells, fit):
            print(f"  {f:+.4f}  {c}")
    res.space.meta.update({"data": args.data, "seed": args.seed})
    res.save(out)
    print(f"wrote {out}")
    print(f"next: spacenas autospace-search --space-file {out} --method proxyless --data {args.data}")
    return 0


# ----- spacenas autospace-search ---------------------------------------------------------------

def load_space_file(path: str):
    """:func:`load_layerwise` plus checks that every block text parses (one-line errors)."""
    from spacenas.nn.madds import block_cost
    from spacenas.spaces.open_cell import load_layerwise

    try:
        space = load_layerwise(Path(path).expanduser())
    except (KeyError, TypeError, AttributeError) as e:
        raise SpacenasError(f"layer-wise space file {path!r} is corrupt ({type(e).__name__}: {e})") from None
    for l, choices in enumerate(space.layers):
        for b in choices:
            if not isinstance(b, str):
                raise SpacenasError(f"layer-wise space file {path!r} is corrupt: layer {l} has a non-text block {b!r}")
            try:
                block_cost(b, 1, 1, 1)
            except SpacenasError as e:
                raise SpacenasError(f"layer-wise space file {path!r}, layer {l}: {e}") from None
            except Exception:
                raise SpacenasError(f"layer-wise space file {path!r}, layer {l}: bad block {b!r}") from None
    return space


def run_search(args: argparse.Namespace) -> int:
    from spacenas.oneshot_cli import parse_device
    from spacenas.spaces.open_cell import irb_space
    from spacenas.strategies.autospace import ProxylessConfig

    if args.method not in METHODS:
        raise unknown("method", args.method, METHODS)
    if args.method == "random" and args.lam is not None:
        raise SpacenasError("--lam: only for --method proxyless (random search has no MAdds penalty)")
    parse_device(args.device)  # checked before any work
    pkeys = set(ProxylessConfig.model_fields) - {"epochs", "lam"} if args.method == "proxyless" else set(RandomSearchConfig.model_fields)
    opts = split_options(args.options, {"method": pkeys, "plan": PLAN_KEYS if args.manual_irb else ()},
                         f"{args.method} search")
    space = None
    if args.space_file:
        if args.layers is not None:
            raise SpacenasError("--layers: only with --manual-irb (a space file fixes the layers)")
        space = load_space_file(args.space_file)
    data, train, valid = load_data(args.data, args.data_dir, args.seed)
    if space is not None:
        # the file's network geometry (stem, channels, strides); image shape and classes from the data
        file_plan = {k: v for k, v in (space.meta.get("plan") or {}).items() if k in PLAN_KEYS}
        if not file_plan:
            file_plan = default_plan_values(space.n_decisions)
        plan = make_plan(data, space.n_decisions, file_plan, "space file")
    else:
        plan = make_plan(data, args.layers, opts["plan"], "manual-irb")
        space = irb_space(plan.n_layers, skippable=plan.skippable())
    from spacenas.runs import RunDir

    run_config = {"kind": "autospace-search", "method": args.method, "space": space.name,
                  "cells": getattr(space, "layers", None), "plan": plan.model_dump(mode="json"), "data": args.data,
                  "seed": args.seed, "budget": args.budget, "lam": args.lam, "train_epochs": args.train_epochs,
                  "options": opts}
    if args.resume and not args.run_dir:
        raise SpacenasError("--resume needs --run-dir (the dir of the run to continue)")
    rd = RunDir.open(args.run_dir, run_config, resume=args.resume) if args.run_dir else None
    try:  # no checkpoint inside a search: a killed run starts over (same seed, same result)
        res = rd.result if rd is not None and rd.result is not None else \
            _search_work(args, space, plan, data, train, valid, opts)
        if rd is not None and rd.result is None:
            rd.finish(res, res["arch"])
    finally:
        if rd is not None:
            rd.close()
    blocks, test, cost = res["blocks"], res["test_acc"], SimpleNamespace(madds=res["madds"], params=res["params"])
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{args.method} search in {space.name} ({plan.n_layers} layers) on {args.data}, seed {args.seed}: found")
    for l, b in enumerate(blocks):
        print(f"  layer {l}: {b}")
    print(f"test accuracy {100 * test:.2f} % after {args.train_epochs} epochs; "
          f"MAdds {cost.madds / 1e6:.3f} M; params {cost.params:,}")
    return 0


def _search_work(args: argparse.Namespace, space, plan, data, train, valid, opts) -> dict[str, Any]:
    """The search and the final training of ``autospace-search`` (the result.json content)."""
    from spacenas.nn.madds import network_cost
    from spacenas.nn.open_cell_net import LayerwiseNet
    from spacenas.strategies.autospace import ProxylessConfig, proxyless_search
    from spacenas.strategies.autospace.proxyless import accuracy, train_network

    from spacenas.oneshot_cli import parse_device

    dev = str(parse_device(args.device))
    rng, g = np.random.default_rng(args.seed), torch.Generator().manual_seed(args.seed)
    progress = not args.no_progress
    if args.method == "proxyless":
        pcfg = build_config(ProxylessConfig, {**opts["method"], "epochs": args.budget or 12, "lam": args.lam or 0.0},
                            where="proxyless search")
        if pcfg.warmup_epochs >= pcfg.epochs:
            raise SpacenasError(f"--budget {pcfg.epochs} supernet epochs leaves no architecture epochs after "
                                f"warmup_epochs={pcfg.warmup_epochs}; raise --budget or --set warmup_epochs=")
        _say(f"proxyless search: {pcfg.epochs} supernet epochs (lambda {pcfg.lam})", progress, args.json)
        blocks = space.blocks(proxyless_search(space, plan, train, valid, pcfg, g, dev).arch)
    else:
        ro = build_config(RandomSearchConfig, opts["method"], where="random search")
        blocks, best = None, -1.0
        for _ in tqdm(range(args.budget or 4), desc="random search", unit="arch", disable=not progress, leave=False):
            cand = space.blocks(space.sample(rng))
            net = LayerwiseNet.from_blocks(plan, cand, g).to(dev)
            train_network(net, train, ro.arch_epochs, g, ro.batch_size, ro.lr, dev)
            acc = accuracy(net, valid, device=dev)
            _say(f"  valid {100 * acc:5.1f} %  {' ; '.join(cand)}", progress, args.json)
            if acc > best:
                blocks, best = cand, acc
    net = LayerwiseNet.from_blocks(plan, blocks, g).to(dev)
    train_network(net, data.train, args.train_epochs, g, device=dev)
    test = accuracy(net, data.test, device=dev)
    cost = network_cost(blocks, plan.in_channels, plan.image_size, plan.stem_channels, plan.channels,
                        plan.strides, plan.num_classes)
    res = {"space": space.name, "method": args.method, "seed": args.seed, "data": args.data, "blocks": blocks,
           "arch": " ; ".join(blocks), "test_acc": test, "madds": cost.madds, "params": cost.params,
           "train_epochs": args.train_epochs}
    return res
