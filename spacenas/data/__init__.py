"""spacenas.data: image data sets for one-shot search and retraining (nothing is downloaded).

``load_dataset(name, data_dir=None, image_size=None)`` returns an
:class:`~spacenas.data.splits.ImageData` (full ``train`` and ``test`` sets as uint8-backed
datasets normalised on access, plus ``num_classes``, ``in_channels``, ``image_size``);
``data.search_split(generator)`` gives the papers' 50/50 weights/architecture split of the
training set; ``iterate_batches`` yields batches. Built-in names (:data:`DATASETS`):
``digits`` (embedded, scikit-learn), ``fashion-mnist``, ``cifar10``, ``cifar100``,
``imagenet16-120``. The user's own data (:data:`SOURCES`): ``folder:PATH`` (one sub-folder of
images per class, :mod:`spacenas.data.folder`) and ``npz:PATH`` (arrays ``x``, ``y``,
:mod:`spacenas.data.npz`); ``image_size=N`` resizes their images to NxN.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from spacenas.data.splits import ImageData, ImageTensorDataset, iterate_batches, search_split
from spacenas.errors import SpacenasError, unknown


def _digits(name: str, data_dir: str | Path | None) -> ImageData:
    from spacenas.data.digits import load_digits_data
    return load_digits_data()


def _fashion_mnist(name: str, data_dir: str | Path | None) -> ImageData:
    from spacenas.data.fashion_mnist import load_fashion_mnist
    return load_fashion_mnist(data_dir)


def _cifar(name: str, data_dir: str | Path | None) -> ImageData:
    from spacenas.data.cifar import load_cifar
    return load_cifar(name, data_dir)


def _imagenet16(name: str, data_dir: str | Path | None) -> ImageData:
    from spacenas.data.imagenet16 import load_imagenet16_120
    return load_imagenet16_120(data_dir)


#: built-in data sets: name -> loader(name, data_dir)
BUILTIN: dict[str, Callable[[str, str | Path | None], ImageData]] = {
    "digits": _digits, "fashion-mnist": _fashion_mnist, "cifar10": _cifar, "cifar100": _cifar,
    "imagenet16-120": _imagenet16,
}
DATASETS: tuple[str, ...] = tuple(BUILTIN)
#: the user's own data, ``KIND:PATH``: kind -> "module:function" taking (path, image_size=, name=)
SOURCES: dict[str, str] = {"folder": "spacenas.data.folder:load_folder", "npz": "spacenas.data.npz:load_npz"}

__all__ = ["DATASETS", "SOURCES", "ImageData", "ImageTensorDataset", "iterate_batches", "load_dataset",
           "search_split"]


def _allowed() -> list[str]:
    return [*DATASETS, *(f"{k}:PATH" for k in SOURCES)]


def load_dataset(name: str, data_dir: str | Path | None = None, image_size: int | None = None) -> ImageData:
    """Load data set ``name``: a built-in name (see :data:`DATASETS`; ``data_dir`` is where its
    files are, ignored for ``digits``) or ``folder:PATH`` / ``npz:PATH`` (see :data:`SOURCES`;
    ``image_size`` resizes their images)."""
    if name in BUILTIN:
        if image_size is not None:
            raise SpacenasError(f"image_size applies to your own data ({', '.join(f'{k}:PATH' for k in SOURCES)}), "
                                f"not to the built-in data set {name!r}")
        return BUILTIN[name](name, data_dir)
    kind, sep, path = str(name).partition(":")
    if not sep or kind not in SOURCES:
        raise unknown("data set", name, _allowed())
    if not path:
        raise SpacenasError(f"--data {name!r} names no path: write {kind}:PATH")
    if data_dir is not None:
        raise SpacenasError(f"--data-dir does not apply to {kind}: data (the path is part of --data {name!r})")
    module, _, attr = SOURCES[kind].partition(":")
    return getattr(importlib.import_module(module), attr)(path, image_size=image_size, name=name)
