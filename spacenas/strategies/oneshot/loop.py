"""The bi-level search loop shared by all one-shot strategies.

Each epoch: the strategy's ``on_epoch_start`` hook, the weight learning rate from the cosine
schedule (:func:`cosine_lr`, a function of the epoch, so it survives optimizer rebuilds and
resumes), then one step per train batch: an **architecture step** on the next valid batch
(from ``arch_start_epoch`` on; first order unless the strategy says otherwise), then a
**weight step** (SGD with momentum and weight decay, gradient clipping) on the train batch
with the mixing weights detached. Both orders come from one explicit ``torch.Generator``
seeded by ``config.seed``. After the epoch: the ``on_epoch_end`` hook (progressive stage
switches; the weight optimizer is rebuilt when the supernet changed), derivation, one JSON
line in ``run_dir/log.jsonl`` and a checkpoint ``run_dir/checkpoint.pt`` holding everything a
resumed run needs to continue exactly as an uninterrupted one. The run dir (``kind: oneshot``;
lock, refusals, atomic files, ``result.json`` + ``arch.txt`` at the end) is
:class:`spacenas.runs.RunDir`'s.

Search time: each epoch's record carries ``epoch_seconds`` (wall seconds of that epoch: its
steps, hooks, derivation and benchmark look-up; not the checkpoint write, and nothing before the
first epoch: data loading and building) and ``search_seconds`` (their sum so far, carried in the
checkpoint, so it adds up across resumes and leaves out the pauses between them); ``result.json``
has the final ``search_seconds``. A run resumed from a checkpoint written before this was
recorded has ``search_seconds: null`` (unknown). These are the only fields of ``log.jsonl`` and
``result.json`` that differ between a resumed and an uninterrupted run (:data:`TIMING_KEYS`).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from spacenas.config import Momentum, Seed, StrictModel
from spacenas.errors import SpacenasError
from spacenas.eta import StepTimer
from spacenas.numerics import check_finite
from spacenas.runs import CHECKPOINT, RunDir, load_checkpoint, plain_json, restoring
from spacenas.spaces.base import Arch
from spacenas.strategies.oneshot.base import OneShotStrategy
from spacenas.strategies.oneshot.distributed import DistributedContext


class LoopConfig(StrictModel):
    epochs: int = Field(50, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(0.025, gt=0)
    lr_min: float = Field(0.001, ge=0)
    momentum: Momentum = 0.9
    weight_decay: float = Field(3e-4, ge=0)
    grad_clip: float | None = Field(5.0, gt=0)
    #: first epoch with architecture steps (earlier epochs train the weights only)
    arch_start_epoch: int = Field(0, ge=0)
    seed: Seed = 0
    #: dataset name for NB201 benchmark look-ups (cifar10, cifar100, imagenet16-120)
    dataset: Literal["cifar10", "cifar100", "imagenet16-120"] | None = None
    #: cap on steps per epoch (quick runs, tests); None: a full pass over the train split
    max_steps: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _lr_order(self) -> LoopConfig:
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min ({self.lr_min}) must be <= lr ({self.lr}): the cosine schedule decays lr to lr_min")
        return self


_HINT = "the learning rate may be too high (lower --set lr or arch_lr)"
#: wall-clock fields of the log records and result.json (see the module docstring)
TIMING_KEYS = ("epoch_seconds", "search_seconds")


@dataclass
class OneShotResult:
    arch: Arch
    arch_text: str
    history: list[dict[str, Any]] = field(default_factory=list)
    scores: dict[str, list[list[float]]] = field(default_factory=dict)
    benchmark: dict[str, float] | None = None
    run_dir: str | None = None
    #: wall seconds of the search epochs, summed across resumes (None: unknown, see the module docstring)
    search_seconds: float | None = None


def cosine_lr(epoch: int, epochs: int, lr: float, lr_min: float) -> float:
    """``lr_min + (lr - lr_min) (1 + cos(pi epoch / epochs)) / 2``. Hand: epoch 1 of 2,
    lr 0.025, lr_min 0.001 -> 0.001 + 0.024 * 0.5 = 0.013."""
    return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * epoch / epochs)) / 2


def index_batches(n: int, batch_size: int, generator: torch.Generator, rank: int = 0,
                  world: int = 1) -> list[torch.Tensor]:
    """A random order of ``range(n)`` from ``generator``, this rank's shard, cut into batches."""
    perm = torch.randperm(n, generator=generator)
    perm = perm[: n - n % world][rank::world] if world > 1 else perm
    return list(torch.split(perm, batch_size))


class _Data:
    """Batches by index from a pair of tensors, a TensorDataset, a dataset with ``batch(idx)``
    (:class:`spacenas.data.ImageTensorDataset`) or any map-style Dataset."""

    def __init__(self, data: Any, device: torch.device) -> None:
        self.device = device
        if isinstance(data, (tuple, list)) and len(data) == 2 and all(torch.is_tensor(t) for t in data):
            self.tensors = tuple(data)
        elif hasattr(data, "tensors"):
            self.tensors = tuple(data.tensors[:2])
        else:
            self.tensors, self.dataset = None, data
        self.n = len(self.tensors[0]) if self.tensors is not None else len(data)

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tensors is not None:
            x, y = self.tensors[0][idx], self.tensors[1][idx]
        elif hasattr(self.dataset, "batch"):  # spacenas.data.ImageTensorDataset: vectorised
            x, y = self.dataset.batch(idx)
        else:
            x, y = next(iter(DataLoader(self.dataset, batch_sampler=[idx.tolist()])))[:2]
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def _benchmark(space: str, dataset: str | None, arch: Arch) -> dict[str, float] | None:
    from spacenas.registry import benchmark_entry  # None where the space has no table
    return benchmark_entry(space, dataset, arch)


def _make_optimizer(net: torch.nn.Module, c: LoopConfig, lr: float) -> torch.optim.Optimizer:
    params = [p for p in net.parameters() if p.requires_grad]
    return torch.optim.SGD(params, lr=lr, momentum=c.momentum, weight_decay=c.weight_decay)


def _run_meta(strategy: OneShotStrategy, supernet, c: LoopConfig) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the checkpoint."""
    cfg = strategy.config.model_dump(mode="json") if hasattr(strategy.config, "model_dump") else None
    # the library class (a user's subclass that only adds hooks resumes like its parent)
    method = next(k.__name__ for k in type(strategy).__mro__ if k.__module__.startswith("spacenas."))
    return {"method": method, "space": supernet.space.name, "method_config": cfg,
            "loop": c.model_dump(mode="json"),
            "arch_shapes": {k: list(v) for k, v in supernet.arch_shapes().items()}}


def search(strategy: OneShotStrategy, supernet, train_data, valid_data, config: LoopConfig | dict | None = None,
           run_dir: str | os.PathLike | None = None, resume: bool = False, progress: bool = True,
           distributed: DistributedContext | None = None,
           callback: Callable[[dict[str, Any]], None] | None = None,
           run_config: dict[str, Any] | None = None) -> OneShotResult:
    """Run the bi-level search; see the module docstring. ``distributed`` (optional) makes
    this one rank of a multi-process search (:mod:`.distributed`); ``callback`` receives each
    epoch's log record (on rank 0). ``run_config``: more ``config.json`` entries (the names
    the run was built from: data, seed, options), compared on resume like the rest."""
    from spacenas.config import build_config
    c = config if isinstance(config, LoopConfig) else build_config(LoopConfig, config, where="search")
    device, ctx = strategy.device, distributed
    rank, world = (ctx.rank, ctx.world_size) if ctx else (0, 1)
    main = rank == 0
    raw = supernet.to(device)
    train, valid = _Data(train_data, device), _Data(valid_data, device)
    gen = torch.Generator().manual_seed(c.seed)
    out = Path(run_dir) if run_dir is not None else None
    if ctx:
        ctx.install(strategy)
    meta = _run_meta(strategy, raw, c)
    if out is None and resume:
        raise SpacenasError("resume needs a run dir (--run-dir) holding a checkpoint")
    rd, ck = None, None
    if out is not None and main:
        rd = RunDir.open(out, {"kind": "oneshot", **meta, **(run_config or {})}, resume=resume)
        if rd.result is not None:
            rd.close()
            return _stored_result(rd.result, out)
        ck = rd.state
    elif out is not None and resume:  # other ranks read the checkpoint rank 0 has checked
        ck = load_checkpoint(out / CHECKPOINT)["run"]
    try:
        return _search(strategy, raw, train, valid, c, gen, ctx, rank, world, main, ck, rd, out, progress, callback)
    finally:
        if rd is not None:
            rd.close()


def _stored_result(res: dict[str, Any], out: Path) -> OneShotResult:
    """The result of a finished run dir (``search(resume=True)`` on it)."""
    from spacenas.runs import LOG

    history = [json.loads(ln) for ln in (out / LOG).read_text(encoding="utf-8").splitlines() if ln.strip()]
    arch = Arch(res["arch_space_of_choices"], tuple(int(x) for x in res["arch_choices"]))
    return OneShotResult(arch, res["arch"], history, res["scores"], res.get("benchmark"), str(out),
                         res.get("search_seconds"))


def _search(strategy, raw, train, valid, c, gen, ctx, rank, world, main, ck, rd, out, progress, callback):
    history: list[dict[str, Any]] = []
    start, seconds = 0, 0.0
    where = out / CHECKPOINT if out is not None else "state"
    if ck is not None:
        with restoring(where):  # a state that does not fit: one line, not a traceback
            strategy.load_state_dict(ck["strategy"])
            strategy.replay_structure(raw)
            raw.load_state_dict(ck["supernet"])
            gen.set_state(ck["data_generator"])
            history, start = list(ck["history"]), int(ck["epoch"])
            seconds = ck.get("search_seconds") if start else 0.0  # None: a checkpoint older than the record
    strategy.setup(raw, c.epochs)
    net = ctx.wrap(raw) if ctx else raw
    opt = _make_optimizer(net, c, cosine_lr(min(start, c.epochs - 1), c.epochs, c.lr, c.lr_min))
    if ck is not None:
        with restoring(where):
            opt.load_state_dict(ck["weight_optimizer"])
    strategy.bind_weight_optimizer(opt)  # second-order DARTS reads its momentum; progressive carries it

    per_epoch = -(-(train.n - train.n % world if world > 1 else train.n) // world // c.batch_size)
    eta = StepTimer((c.epochs - start) * min(per_epoch, c.max_steps or per_epoch), "search", enabled=main)
    bar = tqdm(range(start, c.epochs), desc=f"search[{type(strategy).__name__}]", disable=not (progress and main),
               initial=start, total=c.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        strategy.on_epoch_start(epoch, raw)
        lr = cosine_lr(epoch, c.epochs, c.lr, c.lr_min)
        for g in opt.param_groups:
            g["lr"] = lr
        tb = index_batches(train.n, c.batch_size, gen, rank, world)
        vb = index_batches(valid.n, c.batch_size, gen, rank, world)
        if c.max_steps is not None:
            tb = tb[: c.max_steps]
        sums: dict[str, float] = {}
        net.train()
        for i, idx in enumerate(tqdm(tb, desc=f"epoch {epoch + 1}", leave=False, disable=not (progress and main))):
            xb, yb = train.get(idx)
            if epoch >= c.arch_start_epoch and strategy.arch_active(epoch):
                stats = strategy.arch_step(raw, valid.get(vb[i % len(vb)]), train_batch=(xb, yb), lr=lr)
                check_finite({**stats, "alpha": strategy.arch_parameters()}, "validation loss or architecture parameters",
                             f"epoch {epoch} step {i}", _HINT)
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + v
            opt.zero_grad(set_to_none=True)
            logits = strategy.forward(net, xb, arch_grad=False)
            loss = F.cross_entropy(logits, yb)
            check_finite(loss, "training loss", f"epoch {epoch} step {i}", _HINT)
            loss.backward()
            if c.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_([p for p in net.parameters() if p.requires_grad], c.grad_clip)
            opt.step()
            eta.step()  # one stderr line with the estimated total time, after the first few steps
            sums["train_loss"] = sums.get("train_loss", 0.0) + float(loss.detach())
            sums["train_acc"] = sums.get("train_acc", 0.0) + float((logits.detach().argmax(1) == yb).float().mean())
        rec: dict[str, Any] = {"epoch": epoch, "lr": lr, **{k: v / max(len(tb), 1) for k, v in sums.items()}}
        if "arch_loss" in rec:
            rec["valid_loss"], rec["valid_acc"] = rec.pop("arch_loss"), rec.pop("arch_acc")
        check_finite({"supernet": raw, "alpha": strategy.arch_parameters()}, "weights or architecture parameters",
                     f"end of epoch {epoch}", _HINT)
        if strategy.on_epoch_end(epoch, raw):  # structure changed: new parameters, same LR schedule
            net = ctx.wrap(raw) if ctx else raw
            opt = _make_optimizer(net, c, lr)
            strategy.bind_weight_optimizer(opt)
        arch = strategy.derive(raw) if main else None
        if ctx:
            arch = ctx.broadcast(arch)
        rec["arch"] = strategy.describe(raw, arch)
        rec["mixing"] = {k: [[round(float(v), 5) for v in row] for row in s] for k, s in strategy.scores().items()}
        rec.update(strategy.log_extra())
        rec["supernet_path"] = getattr(raw, "last_path", None)  # fused or reference forward (spacenas.nn.fused)
        bench = _benchmark(raw.space.name, c.dataset, arch)
        if bench is not None:
            rec["benchmark"] = {"dataset": c.dataset, **bench}
        rec["epoch_seconds"] = time.perf_counter() - t0
        seconds = None if seconds is None else seconds + rec["epoch_seconds"]
        rec["search_seconds"] = seconds
        history.append(rec)
        if main:
            msg = {"loss": f"{rec.get('train_loss', 0):.3f}"}  # no arch: it would squeeze the bar to nothing
            if bench is not None:
                msg["test"] = f"{bench['test']:.2f}"
            bar.set_postfix(msg)
            if callback is not None:
                callback(rec)
        if rd is not None:  # the checkpoint first, then its log line (spacenas.runs)
            rd.log(rec)
            rd.checkpoint({"epoch": epoch + 1, "supernet": raw.state_dict(), "strategy": strategy.state_dict(),
                           "weight_optimizer": opt.state_dict(), "data_generator": gen.get_state(),
                           "history": plain_json(history), "search_seconds": seconds})
        if ctx:
            ctx.barrier()
    arch = strategy.derive(raw) if main else None
    if ctx:
        arch = ctx.broadcast(arch)
    scores = {k: s.cpu().tolist() for k, s in strategy.scores().items()}
    res = OneShotResult(arch, strategy.describe(raw, arch), history, scores,
                        _benchmark(raw.space.name, c.dataset, arch), str(out) if out is not None else None, seconds)
    if rd is not None:
        rd.finish({"method": rd.config["method"], "space": raw.space.name, "arch_space": strategy.text_space(raw),
                   "arch": res.arch_text, "arch_choices": list(arch.choices), "arch_space_of_choices": arch.space,
                   "epochs": c.epochs, "seed": c.seed, "dataset": c.dataset, "benchmark": res.benchmark,
                   "scores": scores, "search_seconds": seconds,
                   "final": {k: v for k, v in (history[-1] if history else {}).items()
                             if k not in ("mixing", "arch", *TIMING_KEYS)}}, res.arch_text)
    return res
