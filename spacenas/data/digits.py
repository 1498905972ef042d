"""scikit-learn's 8x8 handwritten digits: the embedded real data set (no files needed).

1797 grey 8x8 images with pixel values 0..16, 10 classes. The images are kept at 8x8 (the NB201
and DARTS networks reduce 8 -> 4 -> 2, fast on a CPU); no upsampling. Split: the first 80% of
scikit-learn's fixed order (1437 images) is the training set, the last 360 the test set (the
two parts come from different writers in the original data). Normalised with the training
set's mean and std.
"""
from __future__ import annotations

import numpy as np
import torch

from spacenas.data.splits import ImageData, ImageTensorDataset, channel_stats

N_TRAIN = 1437


def load_digits_data() -> ImageData:
    from sklearn.datasets import load_digits
    d = load_digits()
    images = torch.from_numpy(np.asarray(d.images, dtype=np.uint8)).unsqueeze(1)  # values 0..16
    labels = torch.from_numpy(np.asarray(d.target, dtype=np.int64))
    scale = 1.0 / 16
    mean, std = channel_stats(images[:N_TRAIN], scale)
    train = ImageTensorDataset(images[:N_TRAIN], labels[:N_TRAIN], mean, std, scale)
    test = ImageTensorDataset(images[N_TRAIN:], labels[N_TRAIN:], mean, std, scale)
    return ImageData("digits", train, test, num_classes=10, in_channels=1, image_size=8,
                     classes=tuple(str(i) for i in range(10)))
