"""One retraining as one call (what ``spacenas train`` runs): :class:`TrainJob` names the arch,
space, data, settings and exports; :func:`train_and_export` validates it, trains, exports and
returns ``(TrainResult, exported files)``."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import Field

from spacenas.config import StrictModel, parse_device
from spacenas.errors import SpacenasError
from spacenas.paths import check_output_path


#: the data of a train job whose arch is not a run dir and that names none (the papers')
DEFAULT_DATA = "cifar10"


class TrainJob(StrictModel):
    arch: str  # arch text, a file that holds it, or a finished search run dir (its arch.txt)
    space: str | None = None  # None: the run dir's space, or the one space whose format the arch text fits
    #: retrain with this one activation on every edge that takes one (A-DARTS)
    activation: str | None = None
    data: str | None = None  # None: the data of the run dir given as arch, else DEFAULT_DATA
    data_dir: str | None = None
    device: str = "cpu"
    #: TrainConfig overrides (``epochs``, ``seed``, ``lr``, ``cutout``, ``init_from_supernet`` ...)
    overrides: dict[str, Any] = Field(default_factory=dict)
    run_dir: str | None = None
    resume: bool = False
    #: export formats (torchscript, onnx) written to ``export_dir`` (default: ``run_dir``)
    export: list[str] = Field(default_factory=list)
    export_dir: str | None = None
    progress: bool = True
    #: also log per-epoch scalars to TensorBoard here (needs the tensorboard package)
    tensorboard: str | None = None


#: a test accuracy below chance + this share of the way to 100 % is reported as near chance
NEAR_CHANCE = 0.1


def chance_warning(test_acc: float, num_classes: int, epochs: int) -> str | None:
    """One line when ``test_acc`` (percent) is near chance level (``100 / num_classes``), else None:
    a short or broken training run that would otherwise pass silently."""
    chance = 100.0 / num_classes
    if test_acc >= chance + NEAR_CHANCE * (100.0 - chance):
        return None
    return (f"warning: test accuracy {test_acc:.2f}% is near chance ({chance:.1f}% for {num_classes} classes) "
            f"after {epochs} epoch{'s' * (epochs != 1)}: train longer (--epochs) or check the data and the recipe "
            "(--set lr=..., augmentation)")


def with_data(job: TrainJob) -> TrainJob:
    """``job`` with its data set: the given one, else the data (and data dir, unless given) of the
    search run dir given as arch (said in one info line), else :data:`DEFAULT_DATA`."""
    if job.data is not None:
        return job
    from spacenas.archsource import arch_source_data

    found = arch_source_data(job.arch)
    if found is None:
        return job.model_copy(update={"data": DEFAULT_DATA})
    data, data_dir = found
    data_dir = job.data_dir if job.data_dir is not None else data_dir
    logging.getLogger(__name__).info(f"data: {data}{f' in {data_dir}' if data_dir else ''}, as searched by "
                                     f"{job.arch} (--data overrides)")
    return job.model_copy(update={"data": data, "data_dir": data_dir})


def train_and_export(job: TrainJob):
    """Train ``job.arch`` from scratch and export it; returns ``(TrainResult, [exported paths])``."""
    import torch

    from spacenas import registry
    from spacenas.data import load_dataset
    from spacenas.train.config import augmentation_note, check_space, train_config
    from spacenas.train.export import FORMATS, export
    from spacenas.archsource import resolve_arch
    from spacenas.train.loop import fix_activation, train

    if job.resume and not job.run_dir:
        raise SpacenasError("resume needs a run dir (the dir of the run to continue)")
    if job.space is None:  # the space a run dir searched, or the one space the text fits (as `show`)
        from spacenas.archsource import space_of_arch
        job = job.model_copy(update={"space": space_of_arch(job.arch)})
    check_space(job.space)
    job = with_data(job)
    space = registry.space(job.space)
    arch: Any = job.arch
    if job.activation is not None:  # A-DARTS: one fixed activation everywhere
        space, arch = fix_activation(space, arch, job.activation)
    overrides = dict(job.overrides)
    image_size = overrides.pop("image_size", None)  # a data option (folder:/npz: data), not a recipe one
    if overrides.get("init_from_supernet") is not None:
        overrides["init_from_supernet"] = str(Path(overrides["init_from_supernet"]).expanduser().resolve())
    config = train_config(job.space, overrides)
    bad = [f for f in job.export if f not in FORMATS]
    if bad:
        raise SpacenasError(f"unknown export format {bad[0]!r} (allowed: {', '.join(FORMATS)})")
    if job.export_dir is not None and not job.export:  # found by a new user: silently ignored before
        raise SpacenasError(f"--export-dir {job.export_dir} without --export: name the formats "
                            f"(--export {','.join(FORMATS)})")
    export_dir = job.run_dir if job.export_dir is None else job.export_dir  # '' is an error, not 'unset'
    if job.export and export_dir is None:
        raise SpacenasError("--export needs --run-dir or --export-dir (where to write the files)")
    if job.export:  # before training, not after it
        check_output_path(export_dir, "--export-dir" if job.export_dir is not None else "--run-dir", directory=True)
    device = parse_device(job.device)
    tb = None
    if job.tensorboard:
        from spacenas.tensorboard import ScalarLogger
        tb = ScalarLogger(job.tensorboard)
    data = load_dataset(job.data, job.data_dir, image_size)
    arch = resolve_arch(arch, space)  # a bad --arch fails before any note or work
    # fails early on a blanking cutout; a note (info): -q silences it
    logging.getLogger(__name__).info(augmentation_note(config, data.image_size))
    try:
        result = train(arch, space, data, config, run_dir=job.run_dir, resume=job.resume, device=device,
                       progress=job.progress, generator=torch.Generator().manual_seed(config.seed),
                       callback=None if tb is None else (lambda rec: tb.log(rec, rec["epoch"])))
        if tb is not None:
            tb.log({"test_loss": result.test_loss, "test_acc": result.test_acc}, result.epochs)
        warning = chance_warning(result.test_acc, data.num_classes, result.epochs)
        if warning:
            logging.getLogger(__name__).warning(warning)
    finally:
        if tb is not None:
            tb.close()
    files: list[Path] = []
    if job.export:
        example = torch.zeros(1, data.in_channels, data.image_size, data.image_size)
        norm = {"mean": data.train.mean.flatten().tolist(), "std": data.train.std.flatten().tolist(),
                "pixel_scale": data.train.scale, "arch": result.arch, "space": result.space,
                "classes": None if data.classes is None else list(data.classes)}
        files = export(result.model, export_dir, example, job.export, normalization=norm)
    return result, files
