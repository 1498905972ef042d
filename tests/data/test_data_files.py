"""Data files a user might receive: pickles cannot run code, and bad files fail up front with one
line naming the file and what was expected (before any training)."""
from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from spacenas.data import load_dataset
from spacenas.data.safe_pickle import read_batch_pickle
from spacenas.errors import SpacenasError


class _Payload:
    """Unpickling this calls ``open(marker, 'w')``: the marker file appears iff code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _pickle(path, obj, protocol=pickle.DEFAULT_PROTOCOL):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def _cifar10(root, train=None, test=None, *, name="data_batch_1"):
    """CIFAR-10 layout with tiny valid batches; ``train`` replaces ``name``'s content."""
    root.mkdir(exist_ok=True)
    good = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 9], b"batch_label": b"x", b"filenames": [b"a", b"b"]}
    for i in range(1, 6):
        _pickle(root / f"data_batch_{i}", good)
    _pickle(root / "test_batch", test if test is not None else good)
    if train is not None:
        _pickle(root / name, train)
    return root


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg
    return msg


# ----- payloads ------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("dataset, folder, name", [
    ("cifar10", "cifar-10-batches-py", "data_batch_3"),
    ("cifar100", "cifar-100-python", "train"),
    ("imagenet16-120", "ImageNet16", "val_data"),
])
def test_payload_in_a_batch_file_never_runs(tmp_path, dataset, folder, name, protocol):
    marker = tmp_path / "marker"
    root = tmp_path / folder
    root.mkdir()
    files = {"cifar10": [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], "cifar100": ["train", "test"],
             "imagenet16-120": [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]}[dataset]
    width = 768 if dataset == "imagenet16-120" else 3072
    key = "fine_labels" if dataset == "cifar100" else "labels"
    for f in files:
        _pickle(root / f, {"data": np.zeros((1, width), np.uint8), key: [1]}, protocol)
    _pickle(root / name, {"data": np.zeros((1, width), np.uint8), key: [1], "x": _Payload(marker)}, protocol)
    with pytest.raises(SpacenasError) as e:
        load_dataset(dataset, tmp_path)
    msg = _one_line(e)
    assert str(root / name) in msg and "io.open" in msg and "refusing" in msg
    assert not marker.exists()


def test_the_payload_does_run_under_plain_pickle(tmp_path):
    """Control for the payload tests: an unrestricted load would have created the marker."""
    marker = tmp_path / "marker"
    _pickle(tmp_path / "p", {"x": _Payload(marker)})
    with open(tmp_path / "p", "rb") as f:
        pickle.load(f)["x"].close()
    assert marker.exists()


def test_restricted_reader_still_reads_numpy_pickles_of_every_protocol(tmp_path):
    obj = {"data": np.arange(6, dtype=np.uint8).reshape(2, 3), "labels": [1, 2], "n": np.int64(3),
           "f": np.float32(0.5), "s": "txt", b"b": b"raw", "t": (1, 2.0), "i64": np.arange(3)}
    for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
        _pickle(tmp_path / "p", obj, protocol)
        got = read_batch_pickle(tmp_path / "p")
        assert np.array_equal(got["data"], obj["data"]) and got["data"].dtype == np.uint8
        assert got["labels"] == [1, 2] and got["n"] == 3 and got["f"] == np.float32(0.5)
        assert got["s"] == "txt" and got[b"b"] == b"raw" and np.array_equal(got["i64"], np.arange(3))


@pytest.mark.parametrize("content, expected", [
    (b"", "not a valid pickle"),
    (b"\x80\x04\x95garbage", "not a valid pickle"),
    (pickle.dumps({"data": np.zeros(3)})[:-10], "not a valid pickle"),
    (b"cos\nsystem\n(S'touch x'\ntR.", "os.system"),
])
def test_broken_pickles_are_one_line(tmp_path, content, expected):
    (tmp_path / "p").write_bytes(content)
    with pytest.raises(SpacenasError, match=expected) as e:
        read_batch_pickle(tmp_path / "p")
    assert str(tmp_path / "p") in _one_line(e)


# ----- CIFAR content checks --------------------------------------------------------------------
@pytest.mark.parametrize("batch, expected", [
    ({"data": np.zeros(1000, np.uint8), "labels": [0]}, r"shape \[1000\]; expected uint8 images of shape \[N, 3072\]"),
    ({"data": np.zeros((4, 1000), np.uint8), "labels": [0] * 4}, r"shape \[4, 1000\]"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 200]}, r"label 200 .* expected 0\.\.9"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [-1, 0]}, r"label -1 .* expected 0\.\.9"),
    ({"data": np.zeros((100, 3072), np.uint8), "labels": [0] * 25}, "100 images but 25 labels"),
    ({"data": "not an array", "labels": [0]}, "'data' is str; expected uint8 images"),
    ({"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]}, "of float32; expected uint8"),
    ({"data": np.full((2, 3072), 300, np.int64), "labels": [0, 1]}, "outside 0..255"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [0.5, 1]}, "flat list of integer labels"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [[0], [1, 2]]}, "flat list of integer labels"),
    ({"data": np.zeros((2, 3072), np.uint8)}, "lacks the 'data' or 'labels' entry"),
    ([1, 2], "does not hold a dict"),
])
def test_bad_cifar_batches_fail_up_front_naming_the_file(tmp_path, batch, expected):
    root = _cifar10(tmp_path / "cifar-10-batches-py", train=batch, name="data_batch_2")
    with pytest.raises(SpacenasError, match=expected) as e:
        load_dataset("cifar10", tmp_path)
    assert str(root / "data_batch_2") in _one_line(e)


def test_cifar_4d_data_and_int_labels_accepted(tmp_path):
    _cifar10(tmp_path / "cifar-10-batches-py", train={"data": np.ones((2, 3, 32, 32), np.int64),
                                                       "labels": np.array([3, 4])})
    d = load_dataset("cifar10", tmp_path)
    assert len(d.train) == 10 and d.train.labels[:2].tolist() == [3, 4]


def test_cifar_no_images_at_all(tmp_path):
    empty = {"data": np.zeros((0, 3072), np.uint8), "labels": []}
    _cifar10(tmp_path / "cifar-10-batches-py", test=empty)
    with pytest.raises(SpacenasError, match="hold no images"):
        load_dataset("cifar10", tmp_path)


def test_imagenet16_labels_outside_1_to_1000(tmp_path):
    root = tmp_path / "ImageNet16"
    root.mkdir()
    for i in range(1, 11):
        _pickle(root / f"train_data_batch_{i}", {"data": np.zeros((1, 768), np.uint8), "labels": [1]})
    _pickle(root / "val_data", {"data": np.zeros((2, 768), np.uint8), "labels": [0, 5]})
    with pytest.raises(SpacenasError, match=r"label 0 .* expected 1\.\.1000") as e:
        load_dataset("imagenet16-120", tmp_path)
    assert "val_data" in _one_line(e)


# ----- Fashion-MNIST IDX checks -----------------------------------------------------------------
def _idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def _fm(root, **replace):
    arrays = {"train-images-idx3-ubyte": np.zeros((4, 28, 28)), "train-labels-idx1-ubyte": np.array([0, 1, 2, 9]),
              "t10k-images-idx3-ubyte": np.zeros((2, 28, 28)), "t10k-labels-idx1-ubyte": np.array([0, 5])}
    for name, arr in arrays.items():
        _idx(root / name, replace.get(name.split("-")[0] + "_" + name.split("-")[1], arr))


@pytest.mark.parametrize("replace, bad_file, expected", [
    ({"train_images": np.zeros((40, 28, 28))}, "train-images", "40 images but .* 4 labels"),
    ({"t10k_labels": np.array([0, 77])}, "t10k-labels", r"label 77 is out of range; expected 0\.\.9"),
    ({"train_images": np.zeros(4 * 28 * 28)}, "train-images", r"shape \[3136\]; expected images \[N, H, W\]"),
    ({"train_labels": np.zeros((4, 1))}, "train-labels", r"expected labels \[N\]"),
    ({"t10k_images": np.zeros((2, 14, 14)), "t10k_labels": np.array([0, 1])}, "t10k-images", "same image size"),
])
def test_bad_fashion_mnist_files(tmp_path, replace, bad_file, expected):
    _fm(tmp_path, **replace)
    with pytest.raises(SpacenasError, match=expected) as e:
        load_dataset("fashion-mnist", tmp_path)
    assert str(tmp_path / bad_file) in _one_line(e)


@pytest.mark.parametrize("content, expected", [
    (b"\x89\x91not gzip at all", "as a gzip file"),
    (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05abcde", mtime=0)[:-12], "as a gzip file"),
])
def test_bad_gzip_idx(tmp_path, content, expected):
    _fm(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(content)
    with pytest.raises(SpacenasError, match=expected) as e:
        load_dataset("fashion-mnist", tmp_path)
    assert "train-labels-idx1-ubyte.gz" in _one_line(e)


def test_idx_header_too_short(tmp_path):
    _fm(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(SpacenasError, match="broken IDX header"):
        load_dataset("fashion-mnist", tmp_path)
