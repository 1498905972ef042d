"""CIFAR-10 / CIFAR-100 in their standard python-pickle layout (nothing is downloaded).

``data_dir`` is the extracted folder (``cifar-10-batches-py`` with ``data_batch_1..5`` and
``test_batch``; ``cifar-100-python`` with ``train`` and ``test``) or its parent. Images are
32x32 RGB, kept as uint8 and normalised with the training set's per-channel mean and std.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from spacenas.data.splits import ImageData, ImageTensorDataset, channel_stats
from spacenas.errors import SpacenasError

LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels", 10),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels", 100),
}


def read_pickle(path: Path) -> dict:
    """Load a CIFAR/ImageNet16-style pickle; keys are returned as ``str``."""
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError) as e:
        raise SpacenasError(f"cannot read {path}: {e}") from None
    if not isinstance(d, dict):
        raise SpacenasError(f"{path} does not hold a dict of arrays")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}


def resolve_dir(data_dir: str | Path | None, folder: str, files: list[str], what: str) -> Path:
    """``data_dir`` itself or ``data_dir/folder``, whichever holds all ``files``."""
    if data_dir is None:
        raise SpacenasError(f"{what} needs a data directory (--data-dir) holding {folder}/ with {', '.join(files)}")
    root = Path(data_dir).expanduser()
    for cand in (root, root / folder):
        if all((cand / f).is_file() for f in files):
            return cand
    missing = [f for f in files if not (root / f).is_file()]
    raise SpacenasError(f"{what} not found in {root}: expected {', '.join(files)} there or in {root / folder} "
                        f"(missing e.g. {missing[0]})")


def _stack(paths: list[Path], label_key: str, hw: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for p in paths:
        d = read_pickle(p)
        if "data" not in d or label_key not in d:
            raise SpacenasError(f"{p} lacks the 'data' or '{label_key}' entry")
        xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, hw, hw))
        ys.append(np.asarray(d[label_key], dtype=np.int64))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def load_cifar(name: str, data_dir: str | Path | None) -> ImageData:
    folder, train_files, test_files, label_key, n_classes = LAYOUT[name]
    root = resolve_dir(data_dir, folder, train_files + test_files, name)
    xtr, ytr = _stack([root / f for f in train_files], label_key, 32)
    xte, yte = _stack([root / f for f in test_files], label_key, 32)
    mean, std = channel_stats(xtr, 1.0 / 255)
    return ImageData(name, ImageTensorDataset(xtr, ytr, mean, std), ImageTensorDataset(xte, yte, mean, std),
                     num_classes=n_classes, in_channels=3, image_size=32)
