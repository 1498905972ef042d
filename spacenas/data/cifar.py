"""CIFAR-10 / CIFAR-100 in their standard python-pickle layout (nothing is downloaded).

``data_dir`` is the extracted folder (``cifar-10-batches-py`` with ``data_batch_1..5`` and
``test_batch``; ``cifar-100-python`` with ``train`` and ``test``) or its parent. Images are
32x32 RGB, kept as uint8 and normalised with the training set's per-channel mean and std.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spacenas.data.safe_pickle import read_batch_pickle
from spacenas.data.splits import ImageData, ImageTensorDataset, channel_stats
from spacenas.errors import SpacenasError

#: fixed class names in label order (CIFAR-10's batches.meta); CIFAR-100's come from its ``meta`` file
CLASS_NAMES = {"cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")}

LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels", 10),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels", 100),
}


def read_pickle(path: Path) -> dict:
    """Load a CIFAR/ImageNet16-style pickle (restricted: plain data only); keys are returned as ``str``."""
    d = read_batch_pickle(path)
    if not isinstance(d, dict):
        raise SpacenasError(f"{path} does not hold a dict of arrays (found {type(d).__name__})")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}


def batch_arrays(path: Path, d: dict, label_key: str, shape: tuple[int, int, int], labels: range
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``d['data']`` as uint8 ``[N, *shape]`` and ``d[label_key]`` as int64 ``[N]``, checked: the images
    are integers 0..255 with ``prod(shape)`` values each, one label per image, every label in ``labels``."""
    if "data" not in d or label_key not in d:
        raise SpacenasError(f"{path} lacks the 'data' or '{label_key}' entry (found: {', '.join(map(str, d)) or 'none'})")
    size = int(np.prod(shape))
    x = d["data"]
    want = f"uint8 images of shape [N, {size}] (N images of {'x'.join(map(str, shape))})"
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "ui":
        raise SpacenasError(f"{path}: 'data' is {type(x).__name__}"
                            f"{' of ' + str(x.dtype) if isinstance(x, np.ndarray) else ''}; expected {want}")
    if x.ndim == 2 and x.shape[1] == size or x.ndim == 4 and tuple(x.shape[1:]) == shape:
        x = x.reshape(-1, *shape)
    else:
        raise SpacenasError(f"{path}: 'data' has shape {list(x.shape)}; expected {want}")
    if x.dtype != np.uint8:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise SpacenasError(f"{path}: 'data' holds values outside 0..255; expected {want}")
        x = x.astype(np.uint8)
    try:
        y = np.asarray(d[label_key])
    except Exception:  # ragged nested lists and the like
        y = np.asarray([None])
    if y.ndim != 1 or (y.size and y.dtype.kind not in "ui"):
        raise SpacenasError(f"{path}: '{label_key}' must be a flat list of integer labels "
                            f"(found {type(d[label_key]).__name__} of shape {list(y.shape)})")
    if len(y) != len(x):
        raise SpacenasError(f"{path}: {len(x)} images but {len(y)} labels in '{label_key}'; expected one label per image")
    y = y.astype(np.int64)
    bad = (y < labels.start) | (y >= labels.stop)
    if bad.any():
        raise SpacenasError(f"{path}: label {int(y[bad][0])} in '{label_key}' is out of range; "
                            f"expected {labels.start}..{labels.stop - 1}")
    return x, y


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


def _stack(paths: list[Path], label_key: str, hw: int, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for p in paths:
        x, y = batch_arrays(p, read_pickle(p), label_key, (3, hw, hw), range(n_classes))
        xs.append(x)
        ys.append(y)
    if sum(len(x) for x in xs) == 0:
        raise SpacenasError(f"{', '.join(p.name for p in paths)} in {paths[0].parent} hold no images; expected at least one")
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def load_cifar(name: str, data_dir: str | Path | None) -> ImageData:
    folder, train_files, test_files, label_key, n_classes = LAYOUT[name]
    root = resolve_dir(data_dir, folder, train_files + test_files, name)
    xtr, ytr = _stack([root / f for f in train_files], label_key, 32, n_classes)
    xte, yte = _stack([root / f for f in test_files], label_key, 32, n_classes)
    mean, std = channel_stats(xtr, 1.0 / 255)
    return ImageData(name, ImageTensorDataset(xtr, ytr, mean, std), ImageTensorDataset(xte, yte, mean, std),
                     num_classes=n_classes, in_channels=3, image_size=32, classes=_class_names(name, root, n_classes))


def _class_names(name: str, root: Path, n_classes: int) -> tuple[str, ...] | None:
    """CIFAR-10: the fixed names; CIFAR-100: ``meta``'s ``fine_label_names`` when the file is there
    and holds ``n_classes`` names (names are metadata: a missing or odd file leaves them out)."""
    if name in CLASS_NAMES:
        return CLASS_NAMES[name]
    try:
        names = read_pickle(root / "meta").get("fine_label_names")
    except (OSError, SpacenasError):
        return None
    if isinstance(names, (list, tuple)) and len(names) == n_classes:
        return tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)
    return None
