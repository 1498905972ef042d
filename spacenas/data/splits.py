"""Image tensors, the search split and a batch iterator.

:class:`ImageTensorDataset` keeps images as ``uint8 [N, C, H, W]`` (a quarter of float32
memory) and normalises on access: ``x = (pixels * scale - mean) / std`` per channel, float32.
Subsets share storage (they hold an index tensor), so the 50/50 search split costs no copy.

The search split (the papers' protocol: DARTS, DrNAS, DDSAS) is a random half of the training
set for the weights and the other half for the architecture, drawn from an explicit
``torch.Generator``.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from spacenas.errors import SpacenasError


class ImageTensorDataset(Dataset):
    """uint8 images + int64 labels (+ an index view), normalised to float32 on access."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                 scale: float = 1.0 / 255, indices: torch.Tensor | None = None) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError("images must be uint8 [N, C, H, W]")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels.long()
        self.mean = mean.float().view(1, -1, 1, 1)
        self.std = std.float().view(1, -1, 1, 1)
        self.scale = scale
        self.indices = torch.arange(len(images)) if indices is None else indices

    def __len__(self) -> int:
        return len(self.indices)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised images and labels of positions ``idx`` (positions within this view)."""
        rows = self.indices[idx]
        x = self.images[rows].float() * self.scale
        return (x - self.mean) / self.std, self.labels[rows]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batch(torch.tensor([i]))
        return x[0], y[0]

    def subset(self, idx: torch.Tensor) -> ImageTensorDataset:
        """A view on positions ``idx`` (no copy of the images)."""
        return ImageTensorDataset(self.images, self.labels, self.mean.flatten(), self.std.flatten(), self.scale,
                                  self.indices[idx])


@dataclass(frozen=True)
class ImageData:
    """A loaded data set: full train and test sets plus their shape."""

    name: str
    train: ImageTensorDataset
    test: ImageTensorDataset
    num_classes: int
    in_channels: int
    image_size: int
    #: class names in label order (label i is ``classes[i]``); None where the source has none
    classes: tuple[str, ...] | None = None

    def search_split(self, generator: torch.Generator, fraction: float = 0.5
                     ) -> tuple[ImageTensorDataset, ImageTensorDataset]:
        """(weights half, architecture half) of the training set; see :func:`search_split`."""
        return search_split(self.train, generator, fraction)


def search_split(dataset: ImageTensorDataset, generator: torch.Generator, fraction: float = 0.5
                 ) -> tuple[ImageTensorDataset, ImageTensorDataset]:
    """Random disjoint split: ``floor(fraction * N)`` examples to the first part, the rest to the
    second, deterministic given ``generator``'s state."""
    if not 0.0 < fraction < 1.0:
        raise SpacenasError(f"split fraction must be in (0, 1), got {fraction}")
    n = len(dataset)
    cut = int(fraction * n)
    if cut == 0 or cut == n:
        raise SpacenasError(f"cannot split {n} examples with fraction {fraction}: one part would be empty")
    perm = torch.randperm(n, generator=generator)
    return dataset.subset(perm[:cut].sort().values), dataset.subset(perm[cut:].sort().values)


def channel_stats(images: torch.Tensor, scale: float, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of ``images * scale`` (uint8 [N, C, H, W]), in chunks."""
    c = images.shape[1]
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    for i in range(0, len(images), chunk):
        x = images[i:i + chunk].double() * scale
        s += x.sum(dim=(0, 2, 3))
        s2 += (x * x).sum(dim=(0, 2, 3))
    n = images.numel() // c
    mean = s / n
    std = (s2 / n - mean * mean).clamp_min(1e-12).sqrt()
    return mean.float(), std.float()


def random_crop_flip(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Standard CIFAR augmentation on a batch: zero-pad by ``pad``, random crop back to size,
    random horizontal flip (one draw per image, from ``generator``)."""
    b, _, h, w = x.shape
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    out = torch.empty_like(x)
    for i in range(b):
        crop = xp[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out


def iterate_batches(dataset: ImageTensorDataset, batch_size: int, generator: torch.Generator | None = None,
                    *, shuffle: bool = True, drop_last: bool = False, augment_pad: int = 0,
                    device: torch.device | str = "cpu") -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of ``(x, y)`` batches on ``device``; shuffling and augmentation draw from
    ``generator`` (required when either is on)."""
    if batch_size < 1:
        raise SpacenasError(f"batch size must be >= 1, got {batch_size}")
    if (shuffle or augment_pad) and generator is None:
        raise SpacenasError("shuffling or augmenting batches needs an explicit torch.Generator")
    n = len(dataset)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        x, y = dataset.batch(order[i:i + batch_size])
        if augment_pad:
            x = random_crop_flip(x, augment_pad, generator)
        yield x.to(device), y.to(device)
