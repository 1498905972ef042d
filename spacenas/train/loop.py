"""Retrain an architecture from scratch: build its network, train, checkpoint, resume, report.

``train(arch, space, data, config, run_dir=None, resume=False, device="cpu", progress=True,
generator=None)``. One ``torch.Generator`` (CPU; from ``config.seed`` when not given) drives
everything random: weight init, shuffling, crop/flip, cutout and drop-path. With a ``run_dir``
(a :class:`spacenas.runs.RunDir`, kind ``train``) a checkpoint (model, optimizer, scheduler,
generator state, history) and one log line are written after every epoch; at the end
``weights.pt`` (the final ``state_dict``), ``result.json`` and ``arch.txt``. ``resume=True``
continues from the checkpoint and gives the same weights as an uninterrupted run. The learning rate follows cosine annealing per epoch (stepped after each
epoch, as DARTS and NB201 do); drop-path probability is ``drop_path * epoch / epochs``.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from spacenas.data import ImageData, iterate_batches
from spacenas.data.splits import ImageTensorDataset
from spacenas.errors import SpacenasError
from spacenas.eta import StepTimer
from spacenas import archsource
from spacenas.runs import CHECKPOINT, RunDir, load_checkpoint, restoring, torch_save
from spacenas.nn.darts_net import DARTSNet, count_params
from spacenas.numerics import check_finite
from spacenas.spaces.base import Arch, SearchSpace
from spacenas.train.augment import augment_batch
from spacenas.train.config import ACT_SPACES, TrainConfig, augmentation, check_space
from spacenas.train.cutout import cutout

_HINT = "the learning rate may be too high (lower --set lr)"
WEIGHTS = "weights.pt"


@dataclass
class TrainResult:
    """What a retraining run produced (accuracies in percent; MAdds per image)."""

    arch: str
    space: str
    dataset: str
    epochs: int
    test_acc: float
    test_loss: float
    train_acc: float
    train_loss: float
    params: int
    madds: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    model: nn.Module | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("model")
        return d


def resolve_arch(arch: str | Arch, space: SearchSpace) -> Arch:
    """An :class:`Arch`, its text form, a file holding the text, or a finished run dir (its
    ``arch.txt``) -> checked Arch (:func:`spacenas.archsource.resolve_arch`)."""
    return archsource.resolve_arch(arch, space)


def build_network(space: SearchSpace, arch: Arch, config: TrainConfig, data: ImageData,
                  generator: torch.Generator | None) -> nn.Module:
    """The evaluation network of ``arch`` (DARTS: :class:`DARTSNet`; NB201: :class:`NB201Net`)."""
    check_space(space.name)
    if space.name in ACT_SPACES:  # A-DARTS: the base network, the arch's activation on each edge
        return build_act_network(space, arch, config, data, generator)
    if space.name == "darts":
        return DARTSNet(arch, C=config.C, layers=config.layers, num_classes=data.num_classes,
                        in_channels=data.in_channels, auxiliary=config.auxiliary_weight > 0,
                        image_size=data.image_size, generator=generator)
    if space.name == "mobilenet":
        from spacenas.nn.mobilenet_net import build_mobilenet
        return build_mobilenet(arch, config.shape, data.in_channels, data.num_classes, data.image_size, generator,
                               config.init_from_supernet)
    from spacenas.nn.supernets import NB201Net
    return NB201Net(arch, C=config.C, N=config.N, num_classes=data.num_classes, in_channels=data.in_channels,
                    generator=generator)


def build_act_network(space: SearchSpace, arch: Arch, config: TrainConfig, data: ImageData,
                      generator: torch.Generator | None) -> nn.Module:
    """The network of an ``nb201-act`` / ``darts-act`` arch: :class:`NB201Net` / :class:`DARTSNet`
    of its base arch with ``activations=`` its ``act`` factor (one per edge, ``None`` where the op
    takes none). ``rrelu`` draws training slopes from ``generator`` (the run's generator)."""
    base, acts = space.base_arch(arch), list(space.factor_choices(arch, "act"))
    if ACT_SPACES[space.name] == "darts":
        return DARTSNet(base, C=config.C, layers=config.layers, num_classes=data.num_classes,
                        in_channels=data.in_channels, auxiliary=config.auxiliary_weight > 0,
                        image_size=data.image_size, generator=generator, activations=acts)
    from spacenas.nn.supernets import NB201Net
    return NB201Net(base, C=config.C, N=config.N, num_classes=data.num_classes, in_channels=data.in_channels,
                    generator=generator, activations=acts)


def fix_activation(space: SearchSpace, arch: str | Arch, name: str) -> tuple[SearchSpace, Arch]:
    """``arch`` with activation ``name`` on every edge that takes one (A-DARTS Tables 2 and 4: a
    searched cell retrained with one fixed activation). ``space`` may be ``nb201-act`` /
    ``darts-act`` (the searched activations are replaced) or ``nb201`` / ``darts`` (the arch is
    lifted to the activation space). Returns ``(activation space, arch)``."""
    from spacenas import registry
    from spacenas.nn.activations import ACTIVATIONS
    if name not in ACTIVATIONS:
        raise SpacenasError(f"unknown activation {name!r} (allowed: {', '.join(ACTIVATIONS)})")
    bases = {b: a for a, b in ACT_SPACES.items()}
    if space.name in bases:
        base_arch = resolve_arch(arch, space)
        space = registry.space(bases[space.name])
        arch = space.compose(base_arch, {})
    elif space.name not in ACT_SPACES:
        raise SpacenasError(f"a fixed activation applies to spaces {', '.join([*bases, *ACT_SPACES])}, "
                            f"not {space.name!r}")
    return space, space.fix_factor(resolve_arch(arch, space), "act", name)


def count_madds(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu") -> int:
    """Multiply-adds of one forward pass of one image (eval mode, so no auxiliary head), counted by
    forward hooks: Conv2d ``out_elements * in_channels/groups * kh * kw``, Linear
    ``out_elements * in_features`` (biases, BN, pooling and additions are not counted)."""
    total = [0]

    def conv_hook(m: nn.Conv2d, _inp, out):
        total[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m: nn.Linear, _inp, out):
        total[0] += out.numel() * m.in_features

    hooks = [m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else linear_hook)
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total[0]


def evaluate(model: nn.Module, dataset: ImageTensorDataset, batch_size: int,
             device: torch.device | str = "cpu") -> tuple[float, float]:
    """(mean cross-entropy, accuracy in percent) on ``dataset`` in eval mode."""
    model.eval()
    loss, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for x, y in iterate_batches(dataset, batch_size, shuffle=False, device=device):
            logits = model(x)
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
    return loss / max(n, 1), 100.0 * correct / max(n, 1)


def _forward_train(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    fwd = getattr(model, "forward_with_aux", None)
    return fwd(x) if fwd is not None else (model(x), None)


def _losses(model, x, y, config: TrainConfig, dev: torch.device):
    if config.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
        logits, aux = _forward_train(model, x)
    logits, aux = logits.float(), None if aux is None else aux.float()
    loss = F.cross_entropy(logits, y)
    total = loss if aux is None else loss + config.auxiliary_weight * F.cross_entropy(aux, y)
    return logits, aux, loss, total


def _train_epoch(model, opt, data: ImageData, config: TrainConfig, epoch: int, gen: torch.Generator,
                 device, aug: tuple[int, int], eta: StepTimer | None = None) -> tuple[float, float]:
    model.train()
    dev = torch.device(device)
    # on a GPU, augmentation and drop-path draw from a generator on the device, seeded from the
    # run's generator once per epoch (resumes exactly); on the CPU they use the run's generator
    aug_gen = gen if dev.type == gen.device.type else torch.Generator(device=dev).manual_seed(
        int(torch.randint(0, 2**62, (1,), generator=gen)))
    if isinstance(model, DARTSNet):
        model.set_drop_path(config.drop_path * epoch / config.epochs, aug_gen)
    loss_sum, correct, n = 0.0, 0, 0
    cut, pad_size = aug  # (cutout, crop padding) scaled to the image size
    pad = 0 if config.device_augment else pad_size
    for x, y in iterate_batches(data.train, config.batch_size, gen, shuffle=True, augment_pad=pad, device=device):
        if config.device_augment:
            x = augment_batch(x, pad_size, cut, aug_gen)
        else:
            x = cutout(x, cut, gen)
        logits, aux, loss, total = _losses(model, x, y, config, dev)
        check_finite(total, "training loss", f"epoch {epoch + 1} step {n // config.batch_size}", _HINT)
        opt.zero_grad(set_to_none=True)
        total.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        if eta is not None:
            eta.step()
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
    return loss_sum / max(n, 1), 100.0 * correct / max(n, 1)


def _meta(space: SearchSpace, arch: Arch, data: ImageData, config: TrainConfig) -> dict[str, Any]:
    return {"kind": "train", "space": space.name, "arch": space.format(arch), "dataset": data.name,
            "config": config.model_dump(mode="json")}


def train(arch: str | Arch, space: SearchSpace, data: ImageData, config: TrainConfig,
          run_dir: str | Path | None = None, resume: bool = False, device: torch.device | str = "cpu",
          progress: bool = True, generator: torch.Generator | None = None,
          stop_after: int | None = None, callback: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train ``arch``'s evaluation network on ``data.train``; report on ``data.test``.

    ``stop_after`` ends this call after that many epochs in total (the checkpoint stays
    resumable; used for time-sliced jobs and the resume test); the result then reports the
    partly trained network.
    """
    arch = resolve_arch(arch, space)
    aug = augmentation(config, data.image_size)  # (cutout, crop padding) scaled to the image size
    gen = generator if generator is not None else torch.Generator().manual_seed(config.seed)
    model = build_network(space, arch, config, data, gen).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                          nesterov=config.nesterov, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.epochs, eta_min=config.lr_min)
    meta, start, history, seconds = _meta(space, arch, data, config), 0, [], 0.0
    rd = None
    if run_dir is not None:
        rd = RunDir.open(run_dir, meta, resume=resume)
        if rd.resumed or rd.result is not None:  # a finished run: its final checkpoint holds the model
            state = rd.state if rd.resumed else load_checkpoint(rd.path / CHECKPOINT)["run"]
            with restoring(rd.path / CHECKPOINT):  # a state that does not fit: one line
                model.load_state_dict(state["model"])
                opt.load_state_dict(state["optimizer"])
                sched.load_state_dict(state["scheduler"])
                gen.set_state(state["generator"])
                start, history, seconds = int(state["epoch"]), list(state["history"]), float(state["seconds"])
    try:
        return _train(model, opt, sched, gen, arch, space, data, config, rd, device, progress, stop_after,
                      meta, start, history, seconds, aug, callback)
    finally:
        if rd is not None:
            rd.close()


def _train(model, opt, sched, gen, arch, space, data, config, rd, device, progress, stop_after, meta, start,
           history, seconds, aug, callback) -> TrainResult:
    end = config.epochs if stop_after is None else min(config.epochs, stop_after)
    bar = tqdm(range(start, end), total=config.epochs, initial=start, disable=not progress,
               desc=f"train {space.name}", unit="epoch")
    eta = StepTimer((end - start) * -(-len(data.train) // config.batch_size), "training")  # one stderr line
    for epoch in bar:
        t0 = time.perf_counter()
        lr = opt.param_groups[0]["lr"]
        tr_loss, tr_acc = _train_epoch(model, opt, data, config, epoch, gen, device, aug, eta)
        check_finite(model, "network weights", f"end of epoch {epoch + 1}", _HINT)
        sched.step()
        seconds += time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "lr": lr, "train_loss": tr_loss, "train_acc": tr_acc})
        bar.set_postfix(loss=f"{tr_loss:.3f}", acc=f"{tr_acc:.1f}")
        if callback is not None:  # e.g. TensorBoard scalars
            callback(history[-1])
        if rd is not None:  # the checkpoint, then its log line (spacenas.runs)
            rd.log(history[-1])
            rd.checkpoint({"epoch": epoch + 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
                           "scheduler": sched.state_dict(), "generator": gen.get_state(), "history": history,
                           "seconds": seconds})
    bar.close()
    te_loss, te_acc = evaluate(model, data.test, config.eval_batch_size, device)
    last = history[-1] if history else {"train_loss": float("nan"), "train_acc": float("nan")}
    result = TrainResult(
        arch=meta["arch"], space=space.name, dataset=data.name, epochs=len(history), test_acc=te_acc,
        test_loss=te_loss, train_acc=last["train_acc"], train_loss=last["train_loss"],
        params=count_params(model),
        madds=count_madds(model, (data.in_channels, data.image_size, data.image_size), device),
        seconds=seconds, history=history, model=model)
    if rd is not None and rd.result is None and len(history) == config.epochs:  # finished (not stop_after)
        torch_save(model.state_dict(), rd.path / WEIGHTS)
        rd.finish(result.to_dict(), result.arch)
    return result
