"""Fashion-MNIST from its IDX files (28x28 grey, 10 classes, 60000 train / 10000 test).

Looked up in ``data_dir`` (default ``/usr/share/datasets/fashion-mnist``, where Debian's
``dataset-fashion-mnist`` package installs it), under the standard names, gzipped or not:
``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]`` (``.idx3-ubyte`` spellings
with a dot are accepted too). Normalised with the training set's mean and std.
"""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np
import torch

from spacenas.data.splits import ImageData, ImageTensorDataset, channel_stats
from spacenas.errors import SpacenasError

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
#: the class names in label order (Xiao et al. 2017, the data set's README)
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def _find(root: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (magic ``0x0000 08 ndim``), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        kind = "gzip file" if path.suffix == ".gz" else "file"
        raise SpacenasError(f"cannot read {path} as a {kind}: {' '.join(str(e).split()) or type(e).__name__}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise SpacenasError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise SpacenasError(f"{path} has a broken IDX header ({ndim} dimensions, {len(raw)} bytes)")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        raise SpacenasError(f"{path} is truncated: header says {dims}, found {data.size} bytes")
    return data.reshape(dims)


def check_idx_pair(paths: dict[str, Path], arr: dict[str, np.ndarray], part: str, n_classes: int = 10) -> None:
    """Images ``[N, H, W]`` (H, W >= 1), labels ``[N]`` in ``0..n_classes-1``: one line naming the file if not."""
    xp, yp = paths[f"{part}_images"], paths[f"{part}_labels"]
    x, y = arr[f"{part}_images"], arr[f"{part}_labels"]
    if x.ndim != 3 or min(x.shape) < 1:
        raise SpacenasError(f"{xp} holds an array of shape {list(x.shape)}; expected images [N, H, W] with N, H, W >= 1")
    if y.ndim != 1:
        raise SpacenasError(f"{yp} holds an array of shape {list(y.shape)}; expected labels [N]")
    if len(x) != len(y):
        raise SpacenasError(f"{xp} holds {len(x)} images but {yp} holds {len(y)} labels; expected one label per image")
    if y.size and int(y.max()) >= n_classes:
        raise SpacenasError(f"{yp}: label {int(y.max())} is out of range; expected 0..{n_classes - 1}")


def load_fashion_mnist(data_dir: str | Path | None = None) -> ImageData:
    root = Path(data_dir or DEFAULT_DIR).expanduser()
    paths = {k: _find(root, v) for k, v in FILES.items()}
    missing = [FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise SpacenasError(
            f"fashion-mnist not found in {root}: missing {', '.join(missing)} (optionally .gz); "
            f"install Debian's dataset-fashion-mnist or pass --data-dir to the folder holding the IDX files")
    arr = {k: read_idx(p) for k, p in paths.items()}
    check_idx_pair(paths, arr, "train")
    check_idx_pair(paths, arr, "test")
    if arr["train_images"].shape[1:] != arr["test_images"].shape[1:]:
        raise SpacenasError(f"{paths['test_images']} holds {'x'.join(map(str, arr['test_images'].shape[1:]))} images "
                            f"but {paths['train_images']} holds {'x'.join(map(str, arr['train_images'].shape[1:]))}; "
                            "expected the same image size in both")
    xtr = torch.from_numpy(arr["train_images"].copy()).unsqueeze(1)
    xte = torch.from_numpy(arr["test_images"].copy()).unsqueeze(1)
    ytr = torch.from_numpy(arr["train_labels"].astype(np.int64))
    yte = torch.from_numpy(arr["test_labels"].astype(np.int64))
    mean, std = channel_stats(xtr, 1.0 / 255)
    return ImageData("fashion-mnist", ImageTensorDataset(xtr, ytr, mean, std), ImageTensorDataset(xte, yte, mean, std),
                     num_classes=10, in_channels=1, image_size=xtr.shape[-1], classes=CLASSES)
