"""``--data npz:PATH``: the user's own arrays in a NumPy ``.npz`` file.

Arrays: ``x`` (images) and ``y`` (labels), and optionally ``x_test`` / ``y_test`` (the test
split; without them 20 % of each class is held out, seeded, see :mod:`spacenas.data.own`).
Images: ``[N, H, W]`` (grey), ``[N, H, W, C]`` or ``[N, C, H, W]`` with C = 1 or 3 (channels
last is tried first); ``uint8`` (or integers in 0..255) or floats in [0, 1]. Labels: any
integers or strings; the sorted distinct values become classes 0..K-1 (K >= 2). Images must be
square unless ``image_size=N`` resizes them (bilinear).
"""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from spacenas.data.own import check_classes, open_source, resize_uint8, split_data
from spacenas.data.splits import ImageData
from spacenas.errors import SpacenasError


def _images(a: np.ndarray, key: str, where: str) -> torch.Tensor:
    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4 and a.shape[-1] in (1, 3):
        a = a.transpose(0, 3, 1, 2)
    elif not (a.ndim == 4 and a.shape[1] in (1, 3)):
        raise SpacenasError(f"{where}: array {key!r} has shape {a.shape}; expected [N, H, W], [N, H, W, C] or "
                            "[N, C, H, W] with C = 1 or 3")
    if a.dtype == np.uint8:
        out = a
    elif np.issubdtype(a.dtype, np.integer) and a.size and 0 <= a.min() and a.max() <= 255:
        out = a.astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating) and a.size and np.isfinite(a).all() and 0 <= a.min() and a.max() <= 1:
        out = np.round(a * 255).astype(np.uint8)
    else:
        raise SpacenasError(f"{where}: array {key!r} must hold uint8 pixels (0..255) or floats in [0, 1], "
                            f"got {a.dtype}" + (f" in [{a.min()}, {a.max()}]" if a.size and a.dtype.kind in "iuf" else ""))
    return torch.from_numpy(np.ascontiguousarray(out))


#: what an npz: file must be, for the errors
WANTED = "a NumPy .npz, the zip of .npy arrays that np.savez writes, with arrays x, y, optionally x_test, y_test"
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def _read_arrays(p: Path) -> dict[str, np.ndarray]:
    """The arrays of the .npz file ``p``; anything else (text, a single .npy, a zip of other
    files, pickled objects) is a one-line error."""
    def invalid(why: str) -> SpacenasError:
        return SpacenasError(f"{p} is not a valid .npz of arrays ({why}); expected {WANTED}")

    try:
        with open(p, "rb") as fh:
            head = fh.read(6)
    except OSError as e:
        raise SpacenasError(f"cannot read {p}: {e.strerror or e}") from None
    if head.startswith(b"\x93NUMPY"):
        raise invalid("it is a single .npy array")
    if not head.startswith(b"PK"):
        raise invalid("it is empty" if not head else "it is not a zip archive")
    try:
        f = np.load(p, allow_pickle=False)
    except _READ_ERRORS as e:
        raise invalid(" ".join(str(e).split()) or type(e).__name__) from None
    if not hasattr(f, "files"):  # a zip is always opened as an NpzFile; kept for safety
        raise invalid("it holds no named arrays")
    arrays: dict[str, np.ndarray] = {}
    with f:
        for k in f.files:
            try:
                v = f[k]
            except ValueError as e:
                if "allow_pickle" in str(e):
                    raise SpacenasError(f"{p}: array {k!r} holds Python objects (pickled data, which is not "
                                        "loaded); save numbers or strings") from None
                raise invalid(f"member {k!r}: {' '.join(str(e).split())}") from None
            except _READ_ERRORS as e:
                raise invalid(f"member {k!r}: {' '.join(str(e).split()) or type(e).__name__}") from None
            if not isinstance(v, np.ndarray):
                raise invalid(f"member {k!r} is not a .npy array")
            arrays[k] = v
    return arrays


def load_npz(path: str | Path, *, image_size: int | None = None, name: str | None = None) -> ImageData:
    """Arrays in ``path`` (see the module docstring) as :class:`ImageData` named ``name``
    (default ``npz:PATH``)."""
    p, name, size = open_source(path, "npz", name, image_size)
    if not p.is_file():
        raise SpacenasError(f"npz file {p} does not exist")
    arrays = _read_arrays(p)
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise SpacenasError(f"{p} lacks array {missing[0]!r} (has: {', '.join(sorted(arrays)) or 'nothing'}; "
                            "wanted x = images, y = labels, optionally x_test, y_test)")
    has_test = "x_test" in arrays or "y_test" in arrays
    if has_test and not ("x_test" in arrays and "y_test" in arrays):
        raise SpacenasError(f"{p} has only one of x_test, y_test: give both or neither")
    parts = [("x", "y")] + ([("x_test", "y_test")] if has_test else [])
    xs, ys = [], []
    for kx, ky in parts:
        x, y = _images(arrays[kx], kx, str(p)), arrays[ky]
        if y.ndim != 1 or len(y) != len(x):
            raise SpacenasError(f"{p}: {ky!r} must be one label per image ({len(x)}), got shape {y.shape}")
        xs.append(x)
        ys.append(y)
    check_classes(ys[0].tolist(), str(p))
    classes = np.unique(ys[0])
    if has_test:
        extra = sorted(set(np.unique(ys[1]).tolist()) - set(classes.tolist()))
        if extra:
            raise SpacenasError(f"{p}: y_test has labels that y lacks: {', '.join(map(str, extra[:5]))}")
        if xs[0].shape[1] != xs[1].shape[1]:
            raise SpacenasError(f"{p}: x has {xs[0].shape[1]} channels but x_test {xs[1].shape[1]}")
        if size is None and xs[0].shape[1:] != xs[1].shape[1:]:
            raise SpacenasError(f"{p}: x is {tuple(xs[0].shape[1:])} per image but x_test {tuple(xs[1].shape[1:])}"
                                "; pass --set image_size=N to resize both to NxN")
    if size is not None:
        xs = [resize_uint8(x, size) for x in xs]
    ys = [torch.from_numpy(np.searchsorted(classes, y).astype(np.int64)) for y in ys]
    return split_data(name, xs[0], ys[0], (xs[1], ys[1]) if has_test else None, [str(c) for c in classes], str(p))
