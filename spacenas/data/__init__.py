"""spacenas.data: image data sets for one-shot search and retraining (nothing is downloaded).

``load_dataset(name, data_dir=None)`` returns an :class:`~spacenas.data.splits.ImageData`
(full ``train`` and ``test`` sets as uint8-backed datasets normalised on access, plus
``num_classes``, ``in_channels``, ``image_size``); ``data.search_split(generator)`` gives the
papers' 50/50 weights/architecture split of the training set; ``iterate_batches`` yields
batches. Names: ``digits`` (embedded, scikit-learn), ``fashion-mnist``, ``cifar10``,
``cifar100``, ``imagenet16-120``.
"""
from __future__ import annotations

from pathlib import Path

from spacenas.data.splits import ImageData, ImageTensorDataset, iterate_batches, search_split
from spacenas.errors import unknown

DATASETS: tuple[str, ...] = ("digits", "fashion-mnist", "cifar10", "cifar100", "imagenet16-120")

__all__ = ["DATASETS", "ImageData", "ImageTensorDataset", "iterate_batches", "load_dataset", "search_split"]


def load_dataset(name: str, data_dir: str | Path | None = None) -> ImageData:
    """Load data set ``name`` (see :data:`DATASETS`); ``data_dir`` is ignored for ``digits``."""
    if name == "digits":
        from spacenas.data.digits import load_digits_data
        return load_digits_data()
    if name == "fashion-mnist":
        from spacenas.data.fashion_mnist import load_fashion_mnist
        return load_fashion_mnist(data_dir)
    if name in ("cifar10", "cifar100"):
        from spacenas.data.cifar import load_cifar
        return load_cifar(name, data_dir)
    if name == "imagenet16-120":
        from spacenas.data.imagenet16 import load_imagenet16_120
        return load_imagenet16_120(data_dir)
    raise unknown("data set", name, DATASETS)
