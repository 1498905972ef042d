"""AutoSpace from names: network plans, layer-wise space files, data, and the two whole runs as
one call each: :func:`learn_space` (``spacenas autospace``: the DEA learns a layer-wise space)
and :func:`search_layerwise` (``spacenas autospace-search``: proxyless or random search in a
learned or the manual IRB space, then train the found network and measure it).

Seeds: ``seed`` s gives the DEA/search ``numpy`` generator (s), the ``torch`` generator for
weights, batches and gates (s) and the 50/50 weights/fitness split of the training set (s+2,
as for one-shot search). See ``docs/autospace.md``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from pydantic import Field, ValidationError
from tqdm.auto import tqdm

from spacenas import registry
from spacenas.config import Seed, StrictModel, build_config, parse_device
from spacenas.errors import SpacenasError, unknown
from spacenas.paths import check_output_path

#: network-plan keys an option may give (the rest of the plan comes from the data)
PLAN_KEYS = ("stem_channels", "channels", "strides")

Say = Callable[[str], None]


def _quiet(line: str) -> None:
    pass


class RandomSearchConfig(StrictModel):
    """Random search in a layer-wise space (options of ``--method random``)."""
    #: epochs each sampled architecture is trained before it is ranked by validation accuracy
    arch_epochs: int = Field(3, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(0.05, gt=0)


class LearnSpaceConfig(StrictModel):
    """One ``spacenas autospace`` run (:func:`learn_space`)."""
    data: str = "digits"
    data_dir: str | None = None
    layers: int | None = Field(None, ge=1)
    seed: Seed = 0
    device: str = "cpu"
    #: :class:`AutoSpaceConfig` options and network-plan options (``PLAN_KEYS``), by key
    options: dict[str, Any] = Field(default_factory=dict)
    #: where to write the learned space (as well as ``run_dir/space.json``); None: the run dir's only
    out: str | None = None
    run_dir: str | None = None
    resume: bool = False
    progress: bool = True


class LayerwiseSearchConfig(StrictModel):
    """One ``spacenas autospace-search`` run (:func:`search_layerwise`): ``space_file`` or ``manual_irb``."""
    space_file: str | None = None
    manual_irb: bool = False
    method: str
    budget: int | None = Field(None, ge=1)
    lam: float | None = Field(None, ge=0)
    data: str = "digits"
    data_dir: str | None = None
    layers: int | None = Field(None, ge=1)
    train_epochs: int = Field(5, ge=1)
    seed: Seed = 0
    device: str = "cpu"
    #: method options, and with ``manual_irb`` network-plan options (``PLAN_KEYS``), by key
    options: dict[str, Any] = Field(default_factory=dict)
    #: run dir (spacenas.runs, kind autospace-search): no checkpoint inside the search, so a killed
    #: run is redone by ``resume``; a finished one returns its stored result
    run_dir: str | None = None
    resume: bool = False
    progress: bool = True


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
    """A :class:`NetPlan` for ``data`` from ``layers`` and the plan options ``given``."""
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


def split_options(flat: dict[str, Any], tables: dict[str, tuple[str, ...] | set[str]], where: str
                  ) -> dict[str, dict[str, Any]]:
    """Options routed by key to the first table that has it; unknown keys are errors."""
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


def check_out_file(path: str, flag: str = "--out") -> Path:
    check_output_path(path, flag)  # empty, under a file, read-only, /proc: one line before the run
    p = Path(path).expanduser()
    if p.is_dir():
        raise SpacenasError(f"{flag} {path!r} is a directory; give a file name like space.json")
    if not p.parent.is_dir():
        raise SpacenasError(f"{flag} {path!r}: directory {str(p.parent)!r} does not exist")
    return p


# ----- spacenas autospace ------------------------------------------------------------------------
def learn_space(config: LearnSpaceConfig, *, say: Say = _quiet, on_round: Callable[[dict], None] | None = None):
    """Run the DEA as ``config`` says, save the learned space to ``config.out``; return the
    :class:`AutoSpaceResult`. ``say`` gets the status lines, ``on_round`` each round's record
    (with ``"rounds"``: the number of rounds)."""
    from spacenas.strategies.autospace import AutoSpace, AutoSpaceConfig

    if config.out is None and config.run_dir is None:
        raise SpacenasError("autospace: give --out FILE or --run-dir DIR (where the learned space goes)")
    out = check_out_file(config.out) if config.out is not None else None
    dev = str(parse_device(config.device))
    opts = split_options(config.options, {"dea": set(AutoSpaceConfig.model_fields), "plan": PLAN_KEYS}, "autospace")
    cfg = build_config(AutoSpaceConfig, opts["dea"], where="autospace")
    data, train, valid = load_data(config.data, config.data_dir, config.seed)
    plan = make_plan(data, config.layers, opts["plan"], "autospace")
    dea = AutoSpace(cfg, plan)
    say(f"autospace on {config.data}: {plan.n_layers} layers (channels {plan.channels}, strides {plan.strides}), "
        f"{cfg.rounds} rounds x {cfg.steps_per_round} steps, population {cfg.population}, K {cfg.k}, "
        f"seed {config.seed}")
    if config.resume:
        say(f"resuming the run in {config.run_dir} from its last checkpoint")
    def each_round(rec: dict[str, Any]) -> None:  # the record, plus the number of rounds
        if on_round is not None:
            on_round({**rec, "rounds": cfg.rounds})

    res = dea.run(train, valid, np.random.default_rng(config.seed), torch.Generator().manual_seed(config.seed), dev,
                  run_dir=config.run_dir, resume=config.resume, on_round=each_round, progress=config.progress,
                  run_config={"data": config.data, "data_dir": config.data_dir,
                              "seed": config.seed})  # a spacenas.runs run dir
    res.space.meta.update({"data": config.data, "seed": config.seed})
    if out is not None:
        res.save(out)
    return res


def space_path(config: LearnSpaceConfig) -> str:
    """Where :func:`learn_space` wrote the learned space: ``out``, else ``run_dir/space.json``."""
    from spacenas.strategies.autospace.evolution import SPACE_FILE

    return config.out if config.out is not None else str(Path(config.run_dir) / SPACE_FILE)


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


def proxyless_blocks(space, plan, train, valid, options: dict[str, Any], budget: int | None,
                     rng: np.random.Generator, g: torch.Generator, dev: str, progress: bool, say: Say,
                     lam: float | None = None) -> list[str]:
    """ProxylessNAS (Eq. 6) in ``space``: ``budget`` supernet epochs (default 12), MAdds weight ``lam``."""
    from spacenas.strategies.autospace import ProxylessConfig, proxyless_search

    pcfg = build_config(ProxylessConfig, {**options, "epochs": budget or 12, "lam": lam or 0.0},
                        where="proxyless search")
    if pcfg.warmup_epochs >= pcfg.epochs:
        raise SpacenasError(f"--budget {pcfg.epochs} supernet epochs leaves no architecture epochs after "
                            f"warmup_epochs={pcfg.warmup_epochs}; raise --budget or --set warmup_epochs=")
    say(f"proxyless search: {pcfg.epochs} supernet epochs (lambda {pcfg.lam})")
    return space.blocks(proxyless_search(space, plan, train, valid, pcfg, g, dev).arch)


def random_layerwise_search(space, plan, train, valid, options: dict[str, Any], budget: int | None,
                            rng: np.random.Generator, g: torch.Generator, dev: str,
                            progress: bool, say: Say) -> list[str]:
    """Random search in ``space``: ``budget`` sampled archs (default 4), each trained
    ``arch_epochs`` and ranked by validation accuracy; returns the best one's blocks."""
    from spacenas.nn.open_cell_net import LayerwiseNet
    from spacenas.strategies.autospace.proxyless import accuracy, train_network

    ro = build_config(RandomSearchConfig, options, where="random search")
    blocks, best = None, -1.0
    for _ in tqdm(range(budget or 4), desc="random search", unit="arch", disable=not progress, leave=False):
        cand = space.blocks(space.sample(rng))
        net = LayerwiseNet.from_blocks(plan, cand, g).to(dev)
        train_network(net, train, ro.arch_epochs, g, ro.batch_size, ro.lr, dev)
        acc = accuracy(net, valid, device=dev)
        say(f"  valid {100 * acc:5.1f} %  {' ; '.join(cand)}")
        if acc > best:
            blocks, best = cand, acc
    return blocks


def takes_lam(method: str) -> bool:
    """Whether the layer-wise search ``method`` has an MAdds penalty (Eq. 6 lambda)."""
    import inspect

    return "lam" in inspect.signature(registry.load(registry.AUTOSPACE_METHODS[method])).parameters


def method_option_keys(method: str) -> set[str]:
    """The option keys each layer-wise search method takes."""
    from spacenas.strategies.autospace import ProxylessConfig

    return {"proxyless": set(ProxylessConfig.model_fields) - {"epochs", "lam"},
            "random": set(RandomSearchConfig.model_fields)}[method]


def search_layerwise(config: LayerwiseSearchConfig, *, say: Say = _quiet) -> dict[str, Any]:
    """Search a layer-wise space as ``config`` says, train the found network on the full training
    set, and return ``{space, method, seed, data, blocks, arch, test_acc, madds, params, train_epochs,
    n_layers}``. ``say`` gets the status lines."""
    from spacenas.spaces.open_cell import irb_space

    search_fn = registry.get(registry.AUTOSPACE_METHODS, config.method, "method")
    if (config.space_file is None) == (not config.manual_irb):
        raise SpacenasError("give one of a space file (--space-file) or the manual IRB space (--manual-irb)")
    if config.lam is not None and not takes_lam(config.method):
        raise SpacenasError(f"--lam: only for --method proxyless ({config.method} search has no MAdds penalty)")
    dev = str(parse_device(config.device))
    opts = split_options(config.options, {"method": method_option_keys(config.method),
                                          "plan": PLAN_KEYS if config.manual_irb else ()},
                         f"{config.method} search")
    space = None
    if config.space_file:
        if config.layers is not None:
            raise SpacenasError("--layers: only with --manual-irb (a space file fixes the layers)")
        space = load_space_file(config.space_file)
    data, train, valid = load_data(config.data, config.data_dir, config.seed)
    if space is not None:
        # the file's network geometry (stem, channels, strides); image shape and classes from the data
        file_plan = {k: v for k, v in (space.meta.get("plan") or {}).items() if k in PLAN_KEYS}
        if not file_plan:
            file_plan = default_plan_values(space.n_decisions)
        plan = make_plan(data, space.n_decisions, file_plan, "space file")
    else:
        plan = make_plan(data, config.layers, opts["plan"], "manual-irb")
        space = irb_space(plan.n_layers, skippable=plan.skippable())
    from spacenas.runs import RunDir

    run_config = {"kind": "autospace-search", "method": config.method, "space_file": config.space_file,
                  "manual_irb": config.manual_irb, "space": space.name, "cells": getattr(space, "layers", None),
                  "plan": plan.model_dump(mode="json"), "data": config.data, "data_dir": config.data_dir,
                  "seed": config.seed, "budget": config.budget, "lam": config.lam,
                  "train_epochs": config.train_epochs, "options": opts}
    if config.run_dir is None:
        return _search_work(config, search_fn, space, plan, data, train, valid, opts, dev, say)
    with RunDir.open(config.run_dir, run_config, resume=config.resume) as rd:
        if rd.result is not None:
            return {k: v for k, v in rd.result.items() if k != "kind"}
        res = _search_work(config, search_fn, space, plan, data, train, valid, opts, dev, say)
        rd.finish(res, res["arch"])
    return res


def _search_work(config: LayerwiseSearchConfig, search_fn, space, plan, data, train, valid, opts, dev,
                 say: Say) -> dict[str, Any]:
    from spacenas.nn.madds import network_cost
    from spacenas.nn.open_cell_net import LayerwiseNet
    from spacenas.strategies.autospace.proxyless import accuracy, train_network

    rng, g = np.random.default_rng(config.seed), torch.Generator().manual_seed(config.seed)
    extra = {"lam": config.lam} if takes_lam(config.method) else {}
    blocks = search_fn(space, plan, train, valid, opts["method"], config.budget, rng, g, dev, config.progress, say,
                       **extra)
    net = LayerwiseNet.from_blocks(plan, blocks, g).to(dev)
    train_network(net, data.train, config.train_epochs, g, device=dev)
    test = accuracy(net, data.test, device=dev)
    cost = network_cost(blocks, plan.in_channels, plan.image_size, plan.stem_channels, plan.channels,
                        plan.strides, plan.num_classes)
    return {"space": space.name, "method": config.method, "seed": config.seed, "data": config.data,
            "blocks": blocks, "arch": " ; ".join(blocks), "test_acc": test, "madds": cost.madds,
            "params": cost.params, "train_epochs": config.train_epochs, "n_layers": plan.n_layers}
