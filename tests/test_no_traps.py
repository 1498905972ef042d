"""Issue 11 part 6 ("no traps"): defaults that fit the data, early time estimates, short
searches that say when their result means little, one-line errors."""
from __future__ import annotations

import math

import pytest
import torch

from spacenas.data import load_dataset
from spacenas.errors import SpacenasError
from spacenas.spaces.darts import DARTSSpace
from spacenas.train import train, train_config
from spacenas.train.config import augmentation, augmentation_note, scale_to

DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


# ----- (a) cutout and crop padding scale with the image size ---------------------------------------
def test_recipe_augmentation_scales_with_the_image_size():
    assert scale_to(16, 8, 32) == 4 and scale_to(4, 8, 32) == 1 and scale_to(4, 28, 32) == 4
    assert scale_to(16, 8, None) == 16 and scale_to(0, 8, 32) == 0
    d = train_config("darts")
    assert (d.cutout, d.augment_pad, d.augment_for) == (16, 4, 32)  # the papers' values stay in the recipe
    assert augmentation(d, 32) == (16, 4)  # CIFAR: exactly the paper's
    assert augmentation(d, 8) == (4, 1)  # digits
    assert augmentation(d, 16) == (8, 2)  # ImageNet16-120: NB201's own padding 2
    assert augmentation(train_config("nb201"), 8) == (0, 1)
    assert "scaled" in augmentation_note(d, 8) and "cutout 4" in augmentation_note(d, 8)


def test_own_cutout_is_used_as_given_and_a_blanking_one_is_refused():
    c = train_config("darts", {"cutout": 3})
    assert c.augment_for is None and augmentation(c, 8) == (3, 4)
    with pytest.raises(SpacenasError, match="blank most of every 8x8 image"):
        augmentation(train_config("darts", {"cutout": 16}), 8)
    with pytest.raises(SpacenasError, match="blank"):
        augmentation(train_config("darts", {"augment_for": None}), 8)  # the unscaled recipe on digits


def test_default_darts_recipe_learns_digits():
    """The recipe as shipped (cutout, padding, drop-path, auxiliary head), only the network
    shrunk and the epochs cut: training loss falls and the test loss stays finite and small
    (with the unscaled cutout 16 it reached 1e16 and chance accuracy)."""
    digits = load_dataset("digits")
    cfg = train_config("darts", {"epochs": 3, "C": 8, "layers": 3})
    assert augmentation(cfg, digits.image_size) == (4, 1)
    r = train(DARTS_V2, DARTSSpace(), digits, cfg, progress=False)
    losses = [h["train_loss"] for h in r.history]
    assert losses[-1] < losses[0] and all(math.isfinite(v) for v in losses)
    assert math.isfinite(r.test_loss) and r.test_loss < 2.3  # below chance's ln 10
    assert r.test_acc > 25.0  # chance is 10 %
