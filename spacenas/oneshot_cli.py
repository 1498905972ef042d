"""``spacenas search`` for one-shot methods (darts, gdas, drnas, ...): data + supernet + strategy
from names, the bi-level search, and the derived architecture printed epoch by epoch.

``--set key=value`` options are routed by name to the loop (:class:`LoopConfig`: ``batch_size``,
``lr``, ``max_steps``, ``dataset`` ...), the method's config (``arch_lr``, ``anchor``,
``second_order``, ``progressive`` ...) or the supernet constructor (``C``, ``N``, ``layers``,
``bn_affine`` ...). On NB201 the benchmark accuracies of the derived arch are printed when the
data set is one of the benchmark's (cifar10, cifar100, imagenet16-120); for other data,
``--set dataset=cifar10`` prints the CIFAR-10 table entry of the arch found.

Seeds: one ``--seed`` s gives the supernet initialisation (s), the strategy's sampling (s+1),
the 50/50 search split (s+2) and the batch order (s), each from its own generator.
Launched by ``torchrun --nproc_per_node=G``, every process runs one rank
(:mod:`spacenas.strategies.oneshot.distributed`).
"""
from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from spacenas import registry
from spacenas.config import build_config
from spacenas.errors import SpacenasError, unknown
from spacenas.strategies.oneshot.base import OneShotStrategy
from spacenas.strategies.oneshot.loop import LoopConfig, OneShotResult, search

#: supernet class of each space that has one
SUPERNETS: dict[str, str] = {
    "nb201": "spacenas.nn.supernets:NB201Supernet",
    "darts": "spacenas.nn.supernets:DARTSSupernet",
}
#: supernet arguments that come from the data or the seed, never from --set
_NET_FIXED = {"self", "num_classes", "in_channels", "generator", "act_mixture"}
#: search epochs when neither --epochs nor --set epochs is given (digits: a CPU-minutes default)
DEFAULT_EPOCHS = {"digits": 10}


@dataclass
class BuiltSearch:
    strategy: OneShotStrategy
    supernet: torch.nn.Module
    train: Any
    valid: Any
    loop: LoopConfig
    data: str


def _route(options: dict[str, Any], tables: dict[str, set[str]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {k: {} for k in tables}
    for key, value in options.items():
        homes = [name for name, keys in tables.items() if key in keys]
        if not homes:
            allowed = sorted(set().union(*tables.values()))
            raise unknown("option", key, allowed)
        out[homes[0]][key] = value
    return out


def parse_device(device: str | torch.device | None) -> torch.device:
    try:
        dev = torch.device(device or "cpu")
    except RuntimeError:
        raise SpacenasError(f"unknown device {device!r} (allowed: cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SpacenasError(f"device {device!r} requested but CUDA is not available here (use --device cpu)")
    return dev


def build_search(space: str, method: str, data: str = "digits", *, data_dir: str | None = None, seed: int = 0,
                 epochs: int | None = None, progressive: bool = False, options: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu") -> BuiltSearch:
    """Everything a one-shot search needs, built from names (see the module docstring)."""
    from spacenas.benchmarks.nb201 import DATASETS as BENCH_DATASETS
    from spacenas.data import load_dataset
    from spacenas.strategies.oneshot.progressive import default_progressive

    cls = registry.oneshot_strategy(method)
    if space not in SUPERNETS:
        raise unknown("space for one-shot search", space, sorted(SUPERNETS))
    net_cls = registry._load(SUPERNETS[space])
    net_keys = set(inspect.signature(net_cls).parameters) - _NET_FIXED
    routed = _route(dict(options or {}), {"loop": set(LoopConfig.model_fields), "strategy": set(cls.Config.model_fields),
                                          "supernet": net_keys})
    strat = routed["strategy"]
    if progressive:
        if "progressive" not in cls.Config.model_fields:
            progs = [m for m in sorted(registry.ONESHOT_STRATEGIES)
                     if "progressive" in registry.oneshot_strategy(m).Config.model_fields]
            raise SpacenasError(f"--progressive is not available for {method!r} (available for: {', '.join(progs)})")
        given = strat.get("progressive") or {}
        if not isinstance(given, dict):
            raise SpacenasError(f"bad value {given!r} for 'progressive': expected a JSON object")
        strat["progressive"] = {**default_progressive(space).model_dump(), **given}
    dev = parse_device(device)
    ds = load_dataset(data, data_dir)
    train, valid = ds.search_split(torch.Generator().manual_seed(seed + 2))
    loop_vals = {"seed": seed, "dataset": data if data in BENCH_DATASETS else None, **routed["loop"]}
    if epochs is not None:
        loop_vals["epochs"] = epochs
    elif data in DEFAULT_EPOCHS:
        loop_vals.setdefault("epochs", DEFAULT_EPOCHS[data])
    loop = build_config(LoopConfig, loop_vals, where="search")
    try:
        net = net_cls(num_classes=ds.num_classes, in_channels=ds.in_channels,
                      generator=torch.Generator().manual_seed(seed), **routed["supernet"],
                      **getattr(cls, "supernet_options", {}))
    except TypeError as e:
        raise SpacenasError(f"bad supernet option: {e}") from None
    strategy = cls(net.arch_shapes(), strat, torch.Generator().manual_seed(seed + 1), dev)
    return BuiltSearch(strategy, net.to(dev), train, valid, loop, data)


def _epoch_line(rec: dict[str, Any]) -> str:
    parts = [f"epoch {rec['epoch']:>3}", f"lr {rec['lr']:.4f}", f"train {rec.get('train_loss', float('nan')):.3f}"
             f"/{100 * rec.get('train_acc', float('nan')):.1f}%"]
    if "valid_loss" in rec:
        parts.append(f"valid {rec['valid_loss']:.3f}/{100 * rec['valid_acc']:.1f}%")
    parts.append(rec["arch"])
    if "benchmark" in rec:
        b = rec["benchmark"]
        parts.append(f"[{b['dataset']} table: valid {b['valid']:.2f} test {b['test']:.2f}]")
    return "  ".join(parts)


def run(args) -> int:
    """Entry point used by ``spacenas search`` for one-shot methods. Reads ``args.space``,
    ``method``, ``data``, ``data_dir``, ``device``, ``epochs``, ``progressive``, ``seed``,
    ``run_dir``, ``resume``, ``options`` (the ``--set`` pairs), ``no_progress`` and ``json``."""
    from spacenas.strategies.oneshot.distributed import init_from_env

    if getattr(args, "resume", False) and not getattr(args, "run_dir", None):
        raise SpacenasError("--resume needs --run-dir (the dir of the run to continue)")
    dev = parse_device(getattr(args, "device", None))
    ctx, dev = init_from_env(str(dev))
    try:
        return _run(args, ctx, dev)
    finally:
        if ctx is not None:
            import torch.distributed as dist
            dist.destroy_process_group()


def _run(args, ctx, dev) -> int:
    from spacenas.cli import parse_options

    opts = parse_options(getattr(args, "options", None), [args.method], scoped=False).get(args.method, {})
    built = build_search(args.space, args.method, getattr(args, "data", None) or "digits",
                         data_dir=getattr(args, "data_dir", None), seed=int(getattr(args, "seed", 0)),
                         epochs=getattr(args, "epochs", None), progressive=bool(getattr(args, "progressive", False)),
                         options=opts, device=dev)
    main = ctx is None or ctx.is_main
    quiet = bool(getattr(args, "json", False))
    if main and not quiet:
        world = f", {ctx.world_size} processes" if ctx else ""
        print(f"{args.method} on {args.space}/{built.data}: {built.loop.epochs} epochs, device {dev}{world}")
    res: OneShotResult = search(built.strategy, built.supernet, built.train, built.valid, built.loop,
                                run_dir=getattr(args, "run_dir", None), resume=bool(getattr(args, "resume", False)),
                                progress=not getattr(args, "no_progress", False), distributed=ctx,
                                callback=None if quiet else (lambda rec: tqdm.write(_epoch_line(rec))),
                                run_config={"data": built.data, "seed": int(getattr(args, "seed", 0)), "options": opts})
    if not main:
        return 0
    if quiet:
        print(json.dumps({"method": args.method, "space": args.space, "data": built.data, "arch": res.arch_text,
                          "benchmark": res.benchmark, "scores": res.scores, "run_dir": res.run_dir}, indent=2))
        return 0
    print(f"derived  {res.arch_text}")
    if res.benchmark is not None:
        print(f"         {built.loop.dataset} table (NB201, 200 epochs): valid {res.benchmark['valid']:.2f} "
              f"test {res.benchmark['test']:.2f}")
    return 0
