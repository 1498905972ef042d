"""``--data folder:PATH``: the user's own images, one sub-folder per class (read with Pillow).

Layouts::

    PATH/<class>/*.png                      one pool; 20 % of each class held out as test
    PATH/train/<class>/*  PATH/test/<class>/*   the given split (test classes must be train classes)

Class labels are the sub-folder names in sorted order (``classes`` lists them). Files with the
extensions in :data:`IMAGE_EXTENSIONS` are read (case-insensitive); hidden files and other
files are skipped. Grey images (Pillow modes ``1``, ``L``, ``I``, ``I;16``, ``F``) give one
channel when every image is grey; otherwise all images are converted to RGB (alpha dropped).
All images must have one square size, or ``image_size=N`` resizes every image to NxN
(bilinear). Errors (one line each): a missing or empty folder, a class folder without images,
one class only, an unreadable image, mixed sizes without ``image_size``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spacenas.data.own import check_classes, open_source, split_data
from spacenas.data.splits import ImageData
from spacenas.errors import SpacenasError

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                                     ".ppm", ".pgm", ".pbm")
GREY_MODES = {"1", "L", "I", "I;16", "F"}


def _class_files(root: Path) -> dict[str, list[Path]]:
    """Class name -> sorted image files, for every non-hidden sub-folder of ``root``."""
    if not root.is_dir():
        raise SpacenasError(f"{root} is not a folder (folder: data wants one sub-folder of images per class)")
    out: dict[str, list[Path]] = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in d.rglob("*") if f.is_file() and not f.name.startswith(".")
                       and f.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise SpacenasError(f"class folder {d} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        out[d.name] = files
    if not out:
        raise SpacenasError(f"{root} has no class sub-folders: put the images of each class in "
                            f"{root}/<class name>/ (e.g. {root}/cat/1.png)")
    return out


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise SpacenasError(f"cannot read image {path}: {e}") from None


def _to_array(im, rgb: bool, size: int | None) -> np.ndarray:
    from PIL import Image
    if rgb:
        im = im.convert("RGB")
    elif im.mode != "L":
        if im.mode in ("I", "I;16", "F"):  # wide grey: rescale to 0..255
            a = np.asarray(im, dtype=np.float64)
            hi = 65535.0 if im.mode == "I;16" or a.max() > 255 else 255.0
            im = Image.fromarray(np.clip(a * 255.0 / hi, 0, 255).astype(np.uint8))
        else:
            im = im.convert("L")
    if size is not None and im.size != (size, size):
        im = im.resize((size, size), Image.BILINEAR)
    a = np.asarray(im, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _read(files: list[tuple[Path, int]], images: list, rgb: bool, size: int | None,
          where: str) -> tuple[torch.Tensor, torch.Tensor]:
    first = None
    for (path, _), im in zip(files, images):
        if size is None:
            if first is None:
                first = (path, im.size)
            elif im.size != first[1]:
                raise SpacenasError(
                    f"{where}: images have different sizes ({first[0]} is {first[1][0]}x{first[1][1]}, {path} is "
                    f"{im.size[0]}x{im.size[1]}); pass --set image_size=N to resize all to NxN")
    x = torch.from_numpy(np.stack([_to_array(im, rgb, size) for im in images]))
    y = torch.tensor([c for _, c in files], dtype=torch.int64)
    return x, y


def load_folder(path: str | Path, *, image_size: int | None = None, name: str | None = None) -> ImageData:
    """Images under ``path`` (see the module docstring) as :class:`ImageData` named ``name``
    (default ``folder:PATH``)."""
    root, name, size = open_source(path, "folder", name, image_size)
    if not root.exists():
        raise SpacenasError(f"data folder {root} does not exist")
    split = (root / "train").is_dir() and (root / "test").is_dir()
    if split:
        train, test = _class_files(root / "train"), _class_files(root / "test")
        extra = sorted(set(test) - set(train))
        if extra:
            raise SpacenasError(f"{root / 'test'} has classes that {root / 'train'} lacks: {', '.join(extra)}")
    else:
        train, test = _class_files(root), {}
    check_classes(list(train), str(root / "train" if split else root))
    classes = sorted(train)
    index = {c: i for i, c in enumerate(classes)}
    tr = [(f, index[c]) for c in classes for f in train[c]]
    te = [(f, index[c]) for c in sorted(test) for f in test[c]]
    im_tr, im_te = [_open(f) for f, _ in tr], [_open(f) for f, _ in te]
    rgb = any(im.mode not in GREY_MODES for im in im_tr + im_te)
    xtr, ytr = _read(tr, im_tr, rgb, size, str(root))
    test = _read(te, im_te, rgb, size, str(root)) if split else None
    if test is not None and size is None and xtr.shape[-2:] != test[0].shape[-2:]:
        raise SpacenasError(f"{root}: train images are {xtr.shape[-1]}x{xtr.shape[-2]} but test images "
                            f"{test[0].shape[-1]}x{test[0].shape[-2]}; pass --set image_size=N to resize all to NxN")
    return split_data(name, xtr, ytr, test, classes, str(root))


def classes(path: str | Path) -> list[str]:
    """The class names of a ``folder:`` data set, in label order (label i is ``classes[i]``)."""
    root = Path(path).expanduser()
    if (root / "train").is_dir() and (root / "test").is_dir():
        root = root / "train"
    return sorted(_class_files(root))
