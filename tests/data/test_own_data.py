"""The user's own data: ``folder:PATH`` and ``npz:PATH`` (generated images only)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from spacenas.data import load_dataset
from spacenas.data.own import SPLIT_SEED, TEST_FRACTION
from spacenas.errors import SpacenasError


def _pattern(label: int, rng: np.random.Generator, size: int = 8) -> np.ndarray:
    """A learnable grey image: class 0 bright top half, class 1 bright left half, class 2 diagonal."""
    a = rng.integers(0, 60, (size, size)).astype(np.uint8)
    h = size // 2
    if label == 0:
        a[:h] += 150
    elif label == 1:
        a[:, :h] += 150
    else:
        a[np.eye(size, dtype=bool)] = 250
    return a


def write_folder(root: Path, counts: dict[str, int], size: int = 8, mode: str = "L", seed: int = 0,
                 ext: str = ".png") -> Path:
    rng = np.random.default_rng(seed)
    for c, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            im = Image.fromarray(_pattern(c % 3, rng, size))
            (im.convert(mode) if mode != "L" else im).save(root / name / f"{i}{ext}")
    return root


def test_folder_pool_seeded_split_and_normalisation(tmp_path):
    root = write_folder(tmp_path / "imgs", {"a": 10, "b": 10, "c": 5})
    (tmp_path / "imgs" / "a" / "notes.txt").write_text("not an image")  # skipped
    d = load_dataset(f"folder:{root}")
    assert (d.num_classes, d.in_channels, d.image_size) == (3, 1, 8)
    n_test = sum(max(1, round(TEST_FRACTION * n)) for n in (10, 10, 5))
    assert len(d.test) == n_test and len(d.train) == 25 - n_test
    assert sorted(d.test.labels.tolist()) == [0, 0, 1, 1, 2]
    x, _ = d.train.batch(torch.arange(len(d.train)))
    assert x.mean().abs() < 1e-4 and (x.std() - 1).abs() < 0.05  # train-set statistics, as the built-ins
    again = load_dataset(f"folder:{root}")  # same held-out images every time (SPLIT_SEED)
    assert torch.equal(again.test.images, d.test.images) and SPLIT_SEED == 0
    w, a = d.search_split(torch.Generator().manual_seed(2))
    assert len(w) == len(d.train) // 2 and len(w) + len(a) == len(d.train)


def test_folder_train_test_layout_rgb_and_resize(tmp_path):
    write_folder(tmp_path / "d" / "train", {"x": 4, "y": 4}, size=12, mode="RGB")
    write_folder(tmp_path / "d" / "test", {"x": 2, "y": 1}, size=12, mode="RGB", seed=1, ext=".jpg")
    d = load_dataset(f"folder:{tmp_path / 'd'}")
    assert (len(d.train), len(d.test), d.in_channels, d.image_size) == (8, 3, 3, 12)
    assert d.test.labels.tolist() == [0, 0, 1]
    r = load_dataset(f"folder:{tmp_path / 'd'}", image_size=6)
    assert r.train.images.shape == (8, 3, 6, 6) and r.image_size == 6


def test_folder_grey_and_colour_mixed_become_rgb(tmp_path):
    write_folder(tmp_path / "m", {"a": 3})
    write_folder(tmp_path / "m", {"b": 3}, mode="RGB")
    assert load_dataset(f"folder:{tmp_path / 'm'}").in_channels == 3


@pytest.mark.parametrize("make, message", [
    (lambda r: r.mkdir(), "has no class sub-folders"),
    (lambda r: (r / "a").mkdir(parents=True), "holds no images"),
    (lambda r: write_folder(r, {"only": 4}), "1 class (only 'only')"),
    (lambda r: (write_folder(r, {"a": 2, "b": 2}), (r / "a" / "bad.png").write_bytes(b"not a png")),
     "cannot read image"),
    (lambda r: (write_folder(r, {"a": 2}), write_folder(r, {"b": 2}, size=10)), "different sizes"),
    (lambda r: None, "does not exist"),
    (lambda r: (write_folder(r, {"a": 2, "b": 2}, size=8),
                Image.fromarray(np.zeros((8, 6), np.uint8)).save(r / "a" / "x.png")), "different sizes"),
])
def test_folder_errors_are_one_line(tmp_path, make, message):
    root = tmp_path / "bad"
    make(root)
    with pytest.raises(SpacenasError, match=None) as e:
        load_dataset(f"folder:{root}")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_folder_not_square_needs_image_size(tmp_path):
    root = tmp_path / "r"
    for c in "ab":
        (root / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((6, 9), 40 * i, np.uint8)).save(root / c / f"{i}.png")
    with pytest.raises(SpacenasError, match="not square"):
        load_dataset(f"folder:{root}")
    assert load_dataset(f"folder:{root}", image_size=7).image_size == 7


def test_npz_shapes_labels_and_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((30, 10, 10, 3)).astype(np.float32)  # channels last, floats in [0, 1]
    y = np.array(["cat", "dog", "eel"] * 10)
    np.savez(tmp_path / "a.npz", x=x, y=y)
    d = load_dataset(f"npz:{tmp_path / 'a.npz'}")
    assert (d.num_classes, d.in_channels, d.image_size, len(d.train) + len(d.test)) == (3, 3, 10, 30)
    assert len(d.test) == 3 * round(TEST_FRACTION * 10)
    xt = rng.integers(0, 256, (4, 1, 10, 10), dtype=np.uint8)  # channels first
    np.savez(tmp_path / "b.npz", x=xt.repeat(3, 0), y=np.arange(12) % 2, x_test=xt, y_test=np.array([0, 1, 1, 0]))
    b = load_dataset(f"npz:{tmp_path / 'b.npz'}", image_size=5)
    assert (len(b.train), len(b.test), b.in_channels, b.image_size) == (12, 4, 1, 5)
    assert d.classes == ("cat", "dog", "eel") and b.classes == ("0", "1")  # label i is classes[i]


@pytest.mark.parametrize("layout", ["pool", "train/test"])
def test_folder_and_npz_of_the_same_images_give_the_same_data(tmp_path, layout):
    """One split/normalise tail (spacenas.data.own.split_data): the same images as a folder and as
    an npz file give equal train/test tensors, labels and statistics, pooled (seeded hold-out) or
    with the source's own test split."""
    parts = {"pool": {"": 1}, "train/test": {"train": 1, "test": 7}}[layout]
    arrays = {}
    for sub, seed in parts.items():
        root = write_folder(tmp_path / "imgs" / sub, {"a": 6, "b": 5, "c": 4}, seed=seed)
        xs, ys = [], []
        for c, name in enumerate("abc"):
            for f in sorted((root / name).iterdir()):
                xs.append(np.asarray(Image.open(f)))
                ys.append(c)
        key = "_test" if sub == "test" else ""
        arrays[f"x{key}"], arrays[f"y{key}"] = np.stack(xs), np.array(ys)
    np.savez(tmp_path / "same.npz", **arrays)
    f, n = load_dataset(f"folder:{tmp_path / 'imgs'}"), load_dataset(f"npz:{tmp_path / 'same.npz'}")
    for a, b in ((f.train, n.train), (f.test, n.test)):
        assert torch.equal(a.images[a.indices], b.images[b.indices]) and torch.equal(a.labels[a.indices],
                                                                                      b.labels[b.indices])
        assert torch.equal(a.mean, b.mean) and torch.equal(a.std, b.std)
    assert (f.num_classes, f.in_channels, f.image_size) == (n.num_classes, n.in_channels, n.image_size) == (3, 1, 8)
    assert f.classes == ("a", "b", "c") and n.classes == ("0", "1", "2")


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((4, 8, 8), np.uint8)}, "lacks array 'y'"),
    ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(4, int)}, "1 class"),
    ({"x": np.full((4, 8, 8), 300), "y": np.arange(4) % 2}, "uint8 pixels"),
    ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.arange(3)}, "one label per image"),
    ({"x": np.zeros((4, 8, 8, 5), np.uint8), "y": np.arange(4) % 2}, "has shape"),
    ({"x": np.zeros((4, 8, 6), np.uint8), "y": np.arange(4) % 2}, "not square"),
])
def test_npz_errors_are_one_line(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(SpacenasError) as e:
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_unknown_source_and_misplaced_options(tmp_path):
    with pytest.raises(SpacenasError, match="folder:PATH"):
        load_dataset("zip:/x")
    with pytest.raises(SpacenasError, match="not to the built-in"):
        load_dataset("digits", image_size=16)
    with pytest.raises(SpacenasError, match="--data-dir does not apply"):
        load_dataset(f"folder:{tmp_path}", data_dir=str(tmp_path))
    (tmp_path / "bad.npz").write_text("garbage")
    with pytest.raises(SpacenasError, match="is not a valid .npz of arrays"):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")


def _zip_of_text(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.txt", "hi")


def _truncated_npz(path: Path) -> None:
    np.savez(path, x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4) % 2)
    path.write_bytes(path.read_bytes()[:60])


@pytest.mark.parametrize("write, message", [
    pytest.param(lambda p: p.write_text("hello\nworld\n"), "is not a valid .npz of arrays (it is not a zip archive); "
                 "expected a NumPy .npz, the zip of .npy arrays that np.savez writes, with arrays x, y", id="text"),
    pytest.param(lambda p: p.write_bytes(b""), "is not a valid .npz of arrays (it is empty)", id="empty"),
    pytest.param(lambda p: np.save(open(p, "wb"), np.zeros(3)), "is not a valid .npz of arrays (it is a single "
                 ".npy array)", id="npy"),
    pytest.param(_zip_of_text, "is not a valid .npz of arrays (member 'x.txt' is not a .npy array)", id="zip"),
    pytest.param(_truncated_npz, "is not a valid .npz of arrays (", id="truncated"),
    pytest.param(lambda p: np.savez(p, x=np.array([{"a": 1}], dtype=object), y=np.arange(1)),
                 "array 'x' holds Python objects (pickled data, which is not loaded)", id="objects"),
])
def test_npz_files_that_are_not_npz_of_arrays(tmp_path, write, message):
    """Found by a new user: a text file named x.npz gave numpy's "contains pickled (object) data"."""
    f = tmp_path / "x.npz"
    write(f)
    with pytest.raises(SpacenasError) as e:
        load_dataset(f"npz:{f}")
    assert message in str(e.value) and "\n" not in str(e.value)
    assert "pickled (object) data" not in str(e.value) and "allow_pickle" not in str(e.value)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "spacenas", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_cli_search_and_train_on_a_folder(tmp_path):
    root = write_folder(tmp_path / "imgs", {"a": 12, "b": 12, "c": 12})
    p = _cli("search", "--space", "nb201", "--method", "darts", "--data", f"folder:{root}", "--epochs", "1",
             "--set", "max_steps=2", "--set", "batch_size=8", "--set", "C=4", "--set", "N=1", "--no-progress",
             "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["data"] == f"folder:{root}" and out["arch"].startswith("|")
    p = _cli("train", "--space", "nb201", "--arch", out["arch"], "--data", f"folder:{root}", "--epochs", "1",
             "--set", "C=4", "--set", "N=1", "--set", "image_size=6", "--no-progress", "--json",
             "--run-dir", str(tmp_path / "t"), "--export", "torchscript")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["dataset"] == f"folder:{root}" and 0 <= res["test_acc"] <= 100
    # the export names the classes in label order (found by a new user: model.json had none)
    assert json.loads((tmp_path / "t" / "model.json").read_text())["classes"] == ["a", "b", "c"]


def test_cli_bad_folder_is_one_line(tmp_path):
    write_folder(tmp_path / "one", {"only": 3})
    p = _cli("search", "--space", "nb201", "--method", "darts", "--data", f"folder:{tmp_path / 'one'}",
             "--epochs", "1", "--no-progress")
    assert p.returncode == 2 and "1 class" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
