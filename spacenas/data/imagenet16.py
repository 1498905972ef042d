"""ImageNet16-120 in the NAS-Bench-201 layout (16x16 down-sampled ImageNet, first 120 classes).

``data_dir`` (or its ``ImageNet16`` subfolder) holds the pickles ``train_data_batch_1`` ..
``train_data_batch_10`` and ``val_data``, each a dict with ``data`` (uint8 ``[N, 768]``,
channel-major 3x16x16) and ``labels`` (1..1000). Only labels <= 120 are kept (filtered file by
file, so the full 1000-class arrays are never held at once) and shifted to 0..119. ``val_data``
is the test set, as in NB201.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spacenas.data.cifar import batch_arrays, read_pickle, resolve_dir
from spacenas.data.splits import ImageData, ImageTensorDataset, channel_stats
from spacenas.errors import SpacenasError

TRAIN_FILES = [f"train_data_batch_{i}" for i in range(1, 11)]
TEST_FILES = ["val_data"]
N_CLASSES = 120
#: labels in the files run 1..ALL_CLASSES
ALL_CLASSES = 1000


def _load(paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for p in paths:
        x, y = batch_arrays(p, read_pickle(p), "labels", (3, 16, 16), range(1, ALL_CLASSES + 1))
        keep = y <= N_CLASSES
        xs.append(x[keep])
        ys.append(y[keep] - 1)
        del x, y
    if sum(len(x) for x in xs) == 0:
        raise SpacenasError(f"{', '.join(p.name for p in paths)} in {paths[0].parent} hold no images of classes 1..{N_CLASSES}; "
                            "expected the NB201 ImageNet16 files (labels 1..1000)")
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def load_imagenet16_120(data_dir: str | Path | None) -> ImageData:
    root = resolve_dir(data_dir, "ImageNet16", TRAIN_FILES + TEST_FILES, "imagenet16-120")
    xtr, ytr = _load([root / f for f in TRAIN_FILES])
    xte, yte = _load([root / f for f in TEST_FILES])
    mean, std = channel_stats(xtr, 1.0 / 255)
    return ImageData("imagenet16-120", ImageTensorDataset(xtr, ytr, mean, std),
                     ImageTensorDataset(xte, yte, mean, std), num_classes=N_CLASSES, in_channels=3, image_size=16)
