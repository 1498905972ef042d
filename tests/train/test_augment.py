"""Batch-tensor augmentation (spacenas.train.augment) and the retraining speed options."""
from __future__ import annotations

import pytest
import torch

from spacenas.data import ImageData, load_dataset
from spacenas.data.splits import random_crop_flip
from spacenas.spaces.darts import DARTSSpace
from spacenas.train import train, train_config
from spacenas.train.augment import augment_batch, crop_flip
from spacenas.train.cutout import cutout

DARTS_ARCH = ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1), "
              "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
              "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
              "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
              "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


@pytest.mark.parametrize("pad,length", [(4, 16), (1, 3), (2, 0)])
def test_batch_augment_equals_per_image_path(pad, length):
    x = torch.randn(9, 3, 10, 12, generator=torch.Generator().manual_seed(0))
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    ref = cutout(random_crop_flip(x, pad, g1), length, g1)
    out = augment_batch(x, pad, length, g2)
    assert torch.equal(out, ref)
    assert torch.equal(g1.get_state(), g2.get_state())  # same number of draws: later draws agree


def test_crop_flip_moves_and_flips():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out = crop_flip(x, 1, torch.Generator().manual_seed(0))
    flipped = [bool(torch.equal(o[0], x[0, 0].flip(-1))) for o in out]
    assert any(flipped) and not all(flipped)
    assert (out == 0).any()  # some crops show the zero padding


def test_train_device_augment_same_result_on_cpu():
    d = load_dataset("digits")
    data = ImageData("digits", d.train.subset(torch.arange(96)), d.test.subset(torch.arange(32)),
                     d.num_classes, d.in_channels, d.image_size)
    base = {"epochs": 1, "batch_size": 48, "C": 4, "layers": 3, "cutout": 4, "augment_pad": 1, "drop_path": 0.2}
    res = {}
    for flag in (True, False):
        cfg = train_config("darts", {**base, "device_augment": flag})
        r = train(DARTS_ARCH, DARTSSpace(), data, cfg, progress=False, generator=torch.Generator().manual_seed(3))
        res[flag] = r.model.state_dict()
    for k in res[True]:
        assert torch.equal(res[True][k], res[False][k]), k


@pytest.mark.parametrize("opts", [{"channels_last": True}, {"precision": "bf16"}])
def test_speed_options_train(opts):
    d = load_dataset("digits")
    data = ImageData("digits", d.train.subset(torch.arange(32)), d.test.subset(torch.arange(16)),
                     d.num_classes, d.in_channels, d.image_size)
    cfg = train_config("darts", {"epochs": 1, "batch_size": 16, "C": 4, "layers": 3, **opts})
    r = train(DARTS_ARCH, DARTSSpace(), data, cfg, progress=False, generator=torch.Generator().manual_seed(0))
    assert r.train_loss == r.train_loss  # finite, not NaN
    with pytest.raises(Exception):
        train_config("darts", {"precision": "fp16"})
