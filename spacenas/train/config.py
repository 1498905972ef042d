"""Typed retraining settings with the papers' defaults per space.

* ``darts`` (DARTS / DrNAS / DDSAS / A-DARTS CIFAR retraining): 600 epochs, batch 96, SGD lr
  0.025 with cosine annealing to 0, momentum 0.9, weight decay 3e-4, gradient-norm clip 5,
  auxiliary head weight 0.4, drop-path 0.3 (raised linearly from 0 over the epochs), cutout 16,
  random crop (pad 4) + flip; network C=36, 20 cells.
* ``nb201`` (NAS-Bench-201's training recipe): 200 epochs, batch 256, SGD lr 0.1 with cosine
  annealing to 0, Nesterov momentum 0.9, weight decay 5e-4, no clipping, no cutout, no
  auxiliary head, no drop-path, random crop (pad 4) + flip; the benchmark network C=16, N=5.
* ``nb201-act`` / ``darts-act`` (A-DARTS archs with an activation per edge): the recipe and
  network of ``nb201`` / ``darts``.
* ``mobilenet`` (our short recipe for the small MobileNet-like network, no paper gives one for
  it): 30 epochs, batch 64, SGD lr 0.1 with cosine annealing to 0, Nesterov momentum 0.9,
  weight decay 4e-5 (the MobileNetV2 / OFA value), no clipping, no cutout, no auxiliary head,
  no drop-path, no crop/flip (the supernet that ranked the arch saw none; flips hurt digits;
  ``--set augment_pad=4`` for CIFAR-like data); the network is :class:`MobileNetShape` (the
  supernet's widths; ``shape`` overrides its fields), optionally initialised from a trained
  supernet (``init_from_supernet``: a ``supernet.pt`` cache file).

Image size: the recipes' ``cutout`` and ``augment_pad`` are the papers' values for 32x32
images (``augment_for=32``). On other image sizes they are scaled proportionally,
``round(value * image_size / 32)`` (:func:`augmentation`): digits (8x8) gets cutout 4 and
padding 1, Fashion-MNIST (28x28) 14 and 4, ImageNet16-120 (16x16) 8 and 2 (NB201's own
ImageNet16 padding). A ``cutout`` or ``augment_pad`` given with ``--set`` is used as given
(``augment_for`` becomes null), and a cutout of the whole image size or more is refused: it
would blank most of every image (on 8x8 digits the unscaled cutout 16 left the network at
chance, 10-12 %, with test losses up to 1e16). ``--set augment_for=null`` keeps the recipe's
values unscaled.

Every value can be overridden (:func:`train_config`); options that the space's network does
not have (``layers``/``auxiliary_weight``/``drop_path`` for nb201, ``N`` for darts, ``C``/``layers``/
``N``/``auxiliary_weight``/``drop_path`` for mobilenet; ``shape``/``init_from_supernet`` for any
space but mobilenet) are errors.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from spacenas.config import Seed, StrictModel, build_config
from spacenas.errors import SpacenasError

TRAIN_SPACES: tuple[str, ...] = ("nb201", "darts", "mobilenet", "nb201-act", "darts-act")
#: A-DARTS activation spaces: retrained with their base space's network and recipe
ACT_SPACES: dict[str, str] = {"nb201-act": "nb201", "darts-act": "darts"}


class TrainConfig(StrictModel):
    """One retraining run (see the module docstring for the defaults of each space)."""

    epochs: int = Field(600, ge=1)
    batch_size: int = Field(96, ge=1)
    lr: float = Field(0.025, gt=0)
    lr_min: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(3e-4, ge=0)
    grad_clip: float | None = Field(5.0, gt=0)
    auxiliary_weight: float = Field(0.4, ge=0)
    drop_path: float = Field(0.3, ge=0, lt=1)
    cutout: int = Field(16, ge=0)
    augment_pad: int = Field(4, ge=0)
    #: image size that ``cutout`` and ``augment_pad`` are meant for (scaled to the data's size);
    #: None: use them as given
    augment_for: int | None = Field(32, ge=1)
    C: int = Field(36, ge=1)
    layers: int | None = Field(20, ge=3)
    N: int | None = Field(None, ge=1)
    eval_batch_size: int = Field(256, ge=1)
    seed: Seed = 0
    shape: dict[str, Any] = Field(default_factory=dict)  # mobilenet: MobileNetShape overrides
    init_from_supernet: str | None = None  # mobilenet: supernet.pt cache to start from
    #: crop/flip/cutout on the batch tensor on the training device (spacenas.train.augment);
    #: on the CPU it draws exactly what the per-image path draws (same results)
    device_augment: bool = True
    #: train in channels_last memory format (can help convolutions on GPUs and some CPUs)
    channels_last: bool = False
    #: fp32, or bf16 autocast for the forward pass (where the hardware supports it)
    precision: Literal["fp32", "bf16"] = "fp32"

    @model_validator(mode="after")
    def _lr_order(self) -> TrainConfig:
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min ({self.lr_min}) must be <= lr ({self.lr}): the cosine schedule decays lr to lr_min")
        return self


DEFAULTS: dict[str, dict[str, Any]] = {
    "darts": {},
    "nb201": {"epochs": 200, "batch_size": 256, "lr": 0.1, "nesterov": True, "weight_decay": 5e-4,
              "grad_clip": None, "auxiliary_weight": 0.0, "drop_path": 0.0, "cutout": 0, "C": 16,
              "layers": None, "N": 5},
    "mobilenet": {"epochs": 30, "batch_size": 64, "lr": 0.1, "nesterov": True, "weight_decay": 4e-5,
                  "grad_clip": None, "auxiliary_weight": 0.0, "drop_path": 0.0, "cutout": 0, "augment_pad": 0,
                  "layers": None, "N": None},
}

#: options only one space's network has (overriding them for another space is an error)
_ONLY_FOR: dict[str, str] = {"shape": "mobilenet", "init_from_supernet": "mobilenet"}

#: options a space's network does not have: overriding them is an error
_NOT_FOR: dict[str, dict[str, str]] = {
    "nb201": {"layers": "use N (cells per stage)", "auxiliary_weight": "the NB201 network has no auxiliary head",
              "drop_path": "drop-path is a DARTS-network option"},
    "darts": {"N": "use layers (total cells)"},
    "mobilenet": {"layers": "the arch string sets the depth", "N": "the arch string sets the depth",
                  "C": "widths come from shape, e.g. --set 'shape={\"widths\": [16, 24, 32, 40, 48]}'",
                  "auxiliary_weight": "the MobileNet network has no auxiliary head",
                  "drop_path": "drop-path is a DARTS-network option"},
}


def check_space(space: str) -> None:
    """Raise a clear error for spaces that cannot be retrained (yet)."""
    if space not in TRAIN_SPACES:
        raise SpacenasError(f"cannot train architectures of space {space!r} yet (supported: "
                            f"{', '.join(TRAIN_SPACES)})")


def train_config(space: str, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The papers' defaults for ``space`` with ``overrides`` applied (validated)."""
    check_space(space)
    space = ACT_SPACES.get(space, space)  # nb201-act / darts-act: the base space's recipe
    overrides = dict(overrides or {})
    for key, why in _NOT_FOR[space].items():
        if key in overrides and overrides[key] not in (None, 0, 0.0):
            raise SpacenasError(f"option {key!r} does not apply to space {space!r}: {why}")
    for key, only in _ONLY_FOR.items():
        if key in overrides and space != only and overrides[key] not in (None, {}):
            raise SpacenasError(f"option {key!r} does not apply to space {space!r} (only to {only})")
    if ({"cutout", "augment_pad"} & set(overrides)) and "augment_for" not in overrides:
        overrides["augment_for"] = None  # the user's own values are pixels of this data's images
    return build_config(TrainConfig, {**DEFAULTS[space], **overrides}, where=f"train config ({space})")


def scale_to(value: int, image_size: int, reference: int | None) -> int:
    """``value`` (pixels at ``reference`` x ``reference``) on ``image_size`` images: rounded half
    up, ``value`` itself when ``reference`` is None. Hand: 16 at 32 -> 4 at 8, 4 -> 1, 4 at 32 ->
    4 at 28 (3.5 rounds up)."""
    if reference is None or value == 0:
        return value
    return int(value * image_size / reference + 0.5)


def augmentation(config: TrainConfig, image_size: int) -> tuple[int, int]:
    """(cutout length, crop padding) used on ``image_size`` x ``image_size`` images (see the
    module docstring); a cutout that would cover the whole image is an error."""
    cut = scale_to(config.cutout, image_size, config.augment_for)
    pad = scale_to(config.augment_pad, image_size, config.augment_for)
    if cut >= image_size:
        raise SpacenasError(f"cutout {cut} would blank most of every {image_size}x{image_size} image (cutout is a "
                            f"square of that side): use --set cutout=N with N < {image_size} (e.g. "
                            f"{max(1, image_size // 2)}) or --set cutout=0")
    return cut, pad


def augmentation_note(config: TrainConfig, image_size: int) -> str:
    """One line on the augmentation used, e.g. for stderr."""
    cut, pad = augmentation(config, image_size)
    line = f"augmentation: cutout {cut}, crop padding {pad} on {image_size}x{image_size} images"
    if config.augment_for is not None and config.augment_for != image_size and (config.cutout or config.augment_pad):
        line += (f" (the recipe's {config.cutout} and {config.augment_pad} for {config.augment_for}x"
                 f"{config.augment_for}, scaled)")
    return line


