"""Data loaders: the embedded digits set for real, the file formats with tiny fake files."""
from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from spacenas.data import DATASETS, iterate_batches, load_dataset, search_split
from spacenas.data.splits import ImageTensorDataset, channel_stats
from spacenas.errors import SpacenasError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


# ----- digits (real) ------------------------------------------------------------------------
def test_digits_real(digits):
    d = digits
    assert (len(d.train), len(d.test), d.num_classes, d.in_channels, d.image_size) == (1437, 360, 10, 1, 8)
    x, y = d.train.batch(torch.arange(len(d.train)))
    assert x.shape == (1437, 1, 8, 8) and x.dtype == torch.float32
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-3  # normalised by train stats
    assert set(y.tolist()) == set(range(10)) and d.train.images.dtype == torch.uint8


def test_search_split_half_disjoint_deterministic(digits):
    d = digits
    a, b = d.search_split(gen(7))
    a2, _ = d.search_split(gen(7))
    a3, _ = d.search_split(gen(8))
    assert (len(a), len(b)) == (718, 719)
    assert torch.equal(a.indices, a2.indices) and not torch.equal(a.indices, a3.indices)
    assert sorted(torch.cat([a.indices, b.indices]).tolist()) == list(range(1437))
    assert a.images.data_ptr() == d.train.images.data_ptr()  # a view, no copy
    with pytest.raises(SpacenasError, match="fraction"):
        search_split(d.train, gen(), 1.0)


def test_iterate_batches_covers_epoch_and_needs_generator(digits):
    d = digits
    sub = d.train.subset(torch.arange(10))
    batches = list(iterate_batches(sub, 4, gen(), augment_pad=1))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == sorted(sub.labels[sub.indices].tolist())
    assert len(list(iterate_batches(sub, 4, gen(), drop_last=True))) == 2
    with pytest.raises(SpacenasError, match="Generator"):
        next(iterate_batches(sub, 4, None))


def test_channel_stats_hand_worked():
    imgs = torch.tensor([0, 2, 4, 6], dtype=torch.uint8).view(1, 1, 2, 2)
    mean, std = channel_stats(imgs, 0.5)  # values 0,1,2,3: mean 1.5, var (2.25+0.25+0.25+2.25)/4 = 1.25
    assert mean.item() == pytest.approx(1.5) and std.item() == pytest.approx(1.25 ** 0.5)
    ds = ImageTensorDataset(imgs, torch.tensor([3]), mean, std, 0.5)
    x, y = ds[0]
    assert x.flatten().tolist() == pytest.approx([(v - 1.5) / 1.25 ** 0.5 for v in (0, 1, 2, 3)]) and y == 3


# ----- fake files in the standard layouts ------------------------------------------------------
def _pickle(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def test_cifar10_layout(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for i in range(1, 6):  # python-3 pickles of the real files use bytes keys
        _pickle(root / f"data_batch_{i}", {b"data": np.full((2, 3072), i, np.uint8), b"labels": [i, 0]})
    _pickle(root / "test_batch", {b"data": np.zeros((3, 3072), np.uint8), b"labels": [1, 2, 3]})
    for d in (load_dataset("cifar10", tmp_path), load_dataset("cifar10", root)):  # parent or folder
        assert (len(d.train), len(d.test), d.num_classes, d.image_size) == (10, 3, 10, 32)
        assert d.train.labels.tolist() == [1, 0, 2, 0, 3, 0, 4, 0, 5, 0]
        assert d.train.images[4, 2, 31, 31].item() == 3
        assert d.classes[:3] == ("airplane", "automobile", "bird") and len(d.classes) == 10


def test_cifar100_layout(tmp_path):
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    _pickle(root / "train", {"data": np.zeros((4, 3072), np.uint8), "fine_labels": [0, 99, 5, 7],
                             "coarse_labels": [0, 1, 2, 3]})
    _pickle(root / "test", {"data": np.zeros((2, 3072), np.uint8), "fine_labels": [1, 2]})
    d = load_dataset("cifar100", tmp_path)
    assert d.num_classes == 100 and d.train.labels.tolist() == [0, 99, 5, 7]
    assert d.classes is None  # no meta file: no names
    _pickle(root / "meta", {b"fine_label_names": [b"c%d" % i for i in range(100)], b"coarse_label_names": [b"x"]})
    assert load_dataset("cifar100", tmp_path).classes[98:] == ("c98", "c99")


def test_imagenet16_120_layout_keeps_first_120_classes(tmp_path):
    root = tmp_path / "ImageNet16"
    root.mkdir()
    for i in range(1, 11):
        _pickle(root / f"train_data_batch_{i}", {"data": np.full((3, 768), i, np.uint8), "labels": [1, 120, 121]})
    _pickle(root / "val_data", {"data": np.zeros((2, 768), np.uint8), "labels": [1000, 7]})
    d = load_dataset("imagenet16-120", tmp_path)
    assert (len(d.train), len(d.test), d.num_classes, d.image_size) == (20, 1, 120, 16)
    assert d.train.labels[:2].tolist() == [0, 119] and d.test.labels.tolist() == [6]


def _idx(path, arr, gz):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_idx(tmp_path, gz):
    _idx(tmp_path / "train-images-idx3-ubyte", np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256, gz)
    _idx(tmp_path / "train-labels-idx1-ubyte", np.array([1, 2, 9]), gz)
    _idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28)), gz)
    _idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 5]), gz)
    d = load_dataset("fashion-mnist", tmp_path)
    assert (len(d.train), len(d.test), d.in_channels, d.image_size) == (3, 2, 1, 28)
    assert d.train.labels.tolist() == [1, 2, 9] and d.train.images[0, 0, 0, 5].item() == 5


@pytest.mark.parametrize("name, expected", [
    ("cifar10", "data_batch_1"), ("cifar100", "train"), ("imagenet16-120", "train_data_batch_1"),
    ("fashion-mnist", "train-images-idx3-ubyte"),
])
def test_missing_files_name_what_is_expected(tmp_path, name, expected):
    with pytest.raises(SpacenasError, match=expected) as e:
        load_dataset(name, tmp_path)
    assert str(tmp_path) in str(e.value)


def test_unknown_dataset_and_no_dir():
    with pytest.raises(SpacenasError, match="allowed: digits"):
        load_dataset("mnist")
    with pytest.raises(SpacenasError, match="--data-dir"):
        load_dataset("cifar10")
    assert "imagenet16-120" in DATASETS
