"""Shared pieces of the user's own data (``folder:PATH``, ``npz:PATH``): labels, the seeded
train/test split and the :class:`ImageData` built from uint8 arrays.

Both sources end in :func:`image_data`, which normalises exactly as the built-in sets do (the
training set's per-channel mean and std of ``pixels / 255``), so search (with its 50/50 split
of the training set) and retraining see the same tensors as for ``digits`` or CIFAR.

When a source has no test split of its own, :func:`seeded_split` holds out ``TEST_FRACTION``
of every class, drawn from a generator seeded with ``SPLIT_SEED``: the same images are test
images in every search and every retraining of that data, whatever ``--seed`` says.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from spacenas.data.splits import ImageData, ImageTensorDataset, channel_stats
from spacenas.errors import SpacenasError

#: share of each class held out as the test set when the data has no test split
TEST_FRACTION = 0.2
#: seed of that hold-out draw (fixed: search and retraining must agree on the test images)
SPLIT_SEED = 0


def check_classes(labels: Sequence, where: str) -> None:
    """At least two classes, or a one-line error."""
    classes = sorted(set(labels))
    if len(classes) < 2:
        only = f" (only {classes[0]!r})" if classes else ""
        raise SpacenasError(f"{where} has {len(classes)} class{'es' if len(classes) != 1 else ''}{only}: "
                            "a classifier needs at least 2")


def seeded_split(labels: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): ``TEST_FRACTION`` of each class (rounded, at least one
    when the class has two or more images) to the test set, drawn with ``SPLIT_SEED``."""
    rng = np.random.default_rng(SPLIT_SEED)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        k = min(len(idx) - 1, max(1, int(round(TEST_FRACTION * len(idx))))) if len(idx) > 1 else 0
        test.append(idx[:k])
        train.append(idx[k:])
    tr, te = np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
    if len(te) == 0:
        raise SpacenasError(f"{where}: too few images to hold out a test set (each class has one image); "
                            "add images or give a test split")
    return tr, te


def resize_uint8(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` -> uint8 ``[N, C, size, size]`` (bilinear, antialiased)."""
    if tuple(x.shape[-2:]) == (size, size):
        return x
    y = torch.nn.functional.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True,
                                        align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8)


def check_image_size(image_size: int | None) -> int | None:
    if image_size is None:
        return None
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise SpacenasError(f"bad value {image_size!r} for 'image_size': expected a positive integer (pixels)")
    return image_size


def open_source(path, kind: str, name: str | None, image_size: int | None) -> tuple[Path, str, int | None]:
    """What both loaders start from: the path (``~`` expanded), the data set's name (default
    ``KIND:PATH``) and the checked ``image_size``."""
    return Path(path).expanduser(), name or f"{kind}:{path}", check_image_size(image_size)


def split_data(name: str, x: torch.Tensor, y: torch.Tensor, test: tuple[torch.Tensor, torch.Tensor] | None,
               classes: Sequence[str], where: str) -> ImageData:
    """The tail both loaders share: the source's own test split ``test = (x_test, y_test)``, or
    (``None``) a seeded hold-out of ``(x, y)`` (:func:`seeded_split`); then :func:`image_data`.
    ``classes``: the class names in label order."""
    if test is not None:
        return image_data(name, x, y, *test, classes)
    itr, ite = seeded_split(y.numpy(), where)
    return image_data(name, x[itr], y[itr], x[ite], y[ite], classes)


def image_data(name: str, xtr: torch.Tensor, ytr: torch.Tensor, xte: torch.Tensor, yte: torch.Tensor,
               classes: Sequence[str]) -> ImageData:
    """:class:`ImageData` from uint8 ``[N, C, S, S]`` images and int64 labels (train-set statistics)."""
    if xtr.shape[-1] != xtr.shape[-2]:
        raise SpacenasError(f"{name}: images are {xtr.shape[-1]}x{xtr.shape[-2]}, not square; "
                            "pass --set image_size=N to resize them to NxN")
    mean, std = channel_stats(xtr, 1.0 / 255)
    return ImageData(name, ImageTensorDataset(xtr, ytr, mean, std), ImageTensorDataset(xte, yte, mean, std),
                     num_classes=len(classes), in_channels=int(xtr.shape[1]), image_size=int(xtr.shape[-1]),
                     classes=tuple(str(c) for c in classes))
