"""One-shot search from names: data + supernet + strategy (:func:`build_search`), and the whole
search as one call (:func:`run_oneshot`, what ``spacenas search --method darts ...`` runs).

Options (a flat ``{key: value}``) are routed by name to the loop (:class:`LoopConfig`:
``batch_size``, ``lr``, ``max_steps``, ``dataset`` ...), the method's config (``arch_lr``,
``anchor``, ``second_order``, ``progressive`` ...) or the supernet constructor (``C``, ``N``,
``layers``, ``bn_affine``, ``fused`` ...; validated by :func:`supernet_options_model`, a typed model
made from the constructor's signature). Where the space has a benchmark table (NB201) the table's
accuracies of the derived arch are reported when the data set is one of the table's; for other
data, the option ``dataset=cifar10`` names the table's data set.

Seeds: one ``seed`` s gives the supernet initialisation (s), the strategy's sampling (s+1),
the 50/50 search split (s+2) and the batch order (s), each from its own generator.
Launched by ``torchrun --nproc_per_node=G``, every process runs one rank
(:mod:`spacenas.strategies.oneshot.distributed`).
"""
from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from pydantic import ConfigDict, Field, create_model

from spacenas import registry
from spacenas.config import Seed, StrictModel, build_config, parse_device
from spacenas.errors import SpacenasError, unknown
from spacenas.strategies.oneshot.base import OneShotStrategy
from spacenas.strategies.oneshot.loop import LoopConfig, OneShotResult, search

#: supernet arguments that come from the data or the seed, never from options
NET_FIXED = {"self", "num_classes", "in_channels", "generator", "act_mixture"}
#: search epochs when neither ``epochs`` nor the option ``epochs`` is given (digits: a CPU-minutes default)
DEFAULT_EPOCHS = {"digits": 10}


@dataclass
class BuiltSearch:
    strategy: OneShotStrategy
    supernet: torch.nn.Module
    train: Any
    valid: Any
    loop: LoopConfig
    data: str
    notes: list[str] = field(default_factory=list)  # defaults chosen for this run (printed on stderr)


class OneShotSearchConfig(StrictModel):
    """One one-shot search, as :func:`run_oneshot` takes it (the ``spacenas search`` flags of a
    one-shot method)."""

    space: str = "nb201"
    method: str
    data: str = "digits"
    data_dir: str | None = None
    seed: Seed = 0
    epochs: int | None = Field(None, ge=1)
    progressive: bool = False
    #: loop / strategy / supernet options by key (routed by name, see the module docstring)
    options: dict[str, Any] = Field(default_factory=dict)
    device: str = "cpu"
    run_dir: str | None = None
    resume: bool = False
    progress: bool = True


class SupernetOptions(StrictModel):
    """Base of the models :func:`supernet_options_model` makes: strict types (the constructors
    take exact ints and bools)."""

    model_config = ConfigDict(strict=True)


@functools.cache
def supernet_options_model(net_cls: type) -> type[StrictModel]:
    """The supernet options of ``net_cls`` as a strict config: one field per constructor parameter
    (less :data:`NET_FIXED`) with its annotation and default, so ``--set fused=5`` or ``C=4.5`` is
    a one-line error naming the key (an ``int`` takes no float or bool; a ``bool`` only true/false)
    before the network is built. Unannotated parameters take any value."""
    try:
        hints = typing.get_type_hints(net_cls.__init__)
    except (NameError, TypeError):  # an annotation that cannot be resolved here: leave it untyped
        hints = {}
    fields: dict[str, Any] = {}
    for name, p in inspect.signature(net_cls).parameters.items():
        if name in NET_FIXED or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        fields[name] = (hints.get(name, Any), ... if p.default is p.empty else p.default)
    return create_model(f"{net_cls.__name__}Options", __base__=SupernetOptions, **fields)


def supernet_options(net_cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` checked against :func:`supernet_options_model` (only the keys given: the
    constructor's own defaults stand for the rest)."""
    cfg = build_config(supernet_options_model(net_cls), options, where="search")
    return {k: getattr(cfg, k) for k in options}


def route_options(options: dict[str, Any], tables: dict[str, set[str]]) -> dict[str, dict[str, Any]]:
    """Send every option to the first table that has its key; unknown keys are errors."""
    out: dict[str, dict[str, Any]] = {k: {} for k in tables}
    for key, value in options.items():
        homes = [name for name, keys in tables.items() if key in keys]
        if not homes:
            allowed = sorted(set().union(*tables.values()))
            raise unknown("option", key, allowed)
        out[homes[0]][key] = value
    return out


def build_search(space: str, method: str, data: str = "digits", *, data_dir: str | None = None, seed: int = 0,
                 epochs: int | None = None, progressive: bool = False, options: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu") -> BuiltSearch:
    """Everything a one-shot search needs, built from names (see the module docstring)."""
    from spacenas.benchmarks.nb201 import DATASETS as BENCH_DATASETS
    from spacenas.data import load_dataset
    from spacenas.strategies.oneshot.progressive import default_progressive

    cls = registry.oneshot_strategy(method)
    if space not in registry.SUPERNETS:
        raise unknown("space for one-shot search", space, sorted(registry.SUPERNETS))
    net_cls = registry.load(registry.SUPERNETS[space])
    net_keys = set(supernet_options_model(net_cls).model_fields)
    routed = route_options(dict(options or {}), {"data": {"image_size"}, "loop": set(LoopConfig.model_fields),
                                                 "strategy": set(cls.Config.model_fields), "supernet": net_keys})
    net_opts = supernet_options(net_cls, routed["supernet"])
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
    ds = load_dataset(data, data_dir, **routed["data"])
    train, valid = ds.search_split(torch.Generator().manual_seed(seed + 2))
    loop_vals = {"seed": seed, "dataset": data if data in BENCH_DATASETS else None, **routed["loop"]}
    if epochs is not None:
        if "epochs" in routed["loop"]:  # not silently overridden (found by the CLI fuzz)
            raise SpacenasError("--epochs and --set epochs=... both given; use one")
        loop_vals["epochs"] = epochs
    elif data in DEFAULT_EPOCHS:
        loop_vals.setdefault("epochs", DEFAULT_EPOCHS[data])
    loop = build_config(LoopConfig, loop_vals, where="search")
    notes = scale_arch_lr(cls, strat, loop, len(train))  # short runs: arch_lr x (paper steps / steps)
    try:
        net = net_cls(num_classes=ds.num_classes, in_channels=ds.in_channels,
                      generator=torch.Generator().manual_seed(seed), **net_opts,
                      **getattr(cls, "supernet_options", {}))
    except TypeError as e:
        raise SpacenasError(f"bad supernet option: {e}") from None
    strategy = cls(net.arch_shapes(), strat, torch.Generator().manual_seed(seed + 1), dev)
    return BuiltSearch(strategy, net.to(dev), train, valid, loop, data, notes)


def scale_arch_lr(cls, strat: dict[str, Any], loop: LoopConfig, n_train: int) -> list[str]:
    """Set ``strat['arch_lr']`` by the rule of :mod:`~spacenas.strategies.oneshot.short_runs` unless
    given; returns the note to print (none when the paper's rate stands)."""
    from spacenas.strategies.oneshot.short_runs import REFERENCE_STEPS, scaled_arch_lr
    field_ = cls.Config.model_fields.get("arch_lr")
    if field_ is None or "arch_lr" in strat:
        return []
    per_epoch = -(-n_train // loop.batch_size)
    if loop.max_steps is not None:
        per_epoch = min(per_epoch, loop.max_steps)
    steps = max(1, (loop.epochs - min(loop.arch_start_epoch, loop.epochs)) * per_epoch)
    lr = scaled_arch_lr(field_.default, steps)
    if lr == field_.default:
        return []
    strat["arch_lr"] = lr
    return [f"arch_lr {lr:.4g}: the paper's {field_.default:g} scaled to {steps} architecture steps "
            f"(x {lr / field_.default:.3g}, from {REFERENCE_STEPS} in the papers); --set arch_lr={field_.default:g} "
            "keeps the paper's"]


def run_config_of(config: OneShotSearchConfig) -> dict[str, Any]:
    """What a one-shot run dir's ``config.json`` records of the search besides the loop's and the
    strategy's resolved settings: the names ``spacenas search`` takes (``method`` is the registry
    name), so the file given back as ``--config`` repeats the search. The device, the run dir and
    the progress bar are left out: a run may resume on another device."""
    return {"method": config.method, "space": config.space, "data": config.data, "data_dir": config.data_dir,
            "seed": config.seed, "epochs": config.epochs, "progressive": config.progressive,
            "options": config.options}


def run_oneshot(config: OneShotSearchConfig, *, callback: Callable[[dict[str, Any]], None] | None = None,
                on_start: Callable[[BuiltSearch, torch.device, Any], None] | None = None
                ) -> tuple[OneShotResult, BuiltSearch, bool]:
    """Build and run one one-shot search (one rank of it under torchrun).

    ``callback(record)`` gets every epoch's record, ``on_start(built, device, ctx)`` is called once
    the search is built. Returns ``(result, built, is_main)``; ``is_main`` is False on the other
    ranks of a distributed run."""
    from spacenas.strategies.oneshot.distributed import init_from_env

    ctx, dev = init_from_env(str(parse_device(config.device)))
    try:
        built = build_search(config.space, config.method, config.data, data_dir=config.data_dir, seed=config.seed,
                             epochs=config.epochs, progressive=config.progressive, options=config.options,
                             device=dev)
        main = ctx is None or ctx.is_main
        if on_start is not None and main:
            on_start(built, dev, ctx)
        res = search(built.strategy, built.supernet, built.train, built.valid, built.loop, run_dir=config.run_dir,
                     resume=config.resume, progress=config.progress, distributed=ctx, callback=callback,
                     run_config=run_config_of(config))
        return res, built, main
    finally:
        if ctx is not None:
            import torch.distributed as dist
            dist.destroy_process_group()
