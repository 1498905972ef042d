"""spacenas.numerics: the finite check, and that a diverging one-shot search keeps its last good
checkpoint."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spacenas.errors import SpacenasError
from spacenas.numerics import NumericalError, check_finite, first_non_finite


def test_finite_values_pass():
    check_finite(1.0, "loss", "step 0")
    check_finite(torch.ones(3), "loss", "step 0")
    check_finite(nn.Linear(2, 2), "weights", "epoch 0")
    check_finite({"a": [torch.zeros(2), 3.0], "b": torch.tensor([1, 2])}, "x", "here")
    check_finite([], "nothing", "here")


@pytest.mark.parametrize("value, name, bad", [
    (float("nan"), "", "nan"),
    (torch.tensor([1.0, float("inf")]), "", "inf"),
    ({"arch_loss": float("-inf"), "arch_acc": 0.5}, "arch_loss", "-inf"),
    ({"alpha": [torch.zeros(2), torch.tensor([0.0, float("nan")])]}, "alpha.1", "nan"),
])
def test_non_finite_is_one_line_naming_quantity_place_and_hint(value, name, bad):
    with pytest.raises(NumericalError) as e:
        check_finite(value, "validation loss", "epoch 3 step 5")
    msg = str(e.value)
    assert "\n" not in msg and isinstance(e.value, SpacenasError)
    assert msg.startswith("non-finite validation loss") and "at epoch 3 step 5" in msg
    assert "learning rate may be too high" in msg
    assert (f"({name} = {bad})" if name else f"({bad})") in msg


def test_module_parameter_is_named():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    with torch.no_grad():
        net[1].bias.fill_(float("nan"))
    assert first_non_finite(net)[0] == "1.bias" and math.isnan(first_non_finite(net)[1])
    with pytest.raises(NumericalError, match=r"non-finite weights \(1.bias = nan\) at end of epoch 0: .*lower lr"):
        check_finite(net, "weights", "end of epoch 0", "lower lr")


def test_integer_tensors_are_ignored():
    assert first_non_finite({"n": torch.tensor([1, 2]), "ok": torch.tensor([0.5])}) is None


def test_diverging_search_leaves_the_last_good_checkpoint(tmp_path):
    """NaN injected at the start of epoch 1: the run stops with one line naming epoch 1, and the
    checkpoint on disk is epoch 0's, finite."""
    from spacenas.strategies.oneshot.build import build_search
    from spacenas.strategies.oneshot.loop import search

    built = build_search("nb201", "darts", "digits", seed=0, epochs=3, options={"C": 4, "N": 1, "max_steps": 2})

    class Poisoned(type(built.strategy)):
        def on_epoch_start(self, epoch, supernet):
            super().on_epoch_start(epoch, supernet)
            if epoch == 1:
                with torch.no_grad():
                    next(supernet.parameters()).fill_(float("nan"))

    built.strategy.__class__ = Poisoned
    with pytest.raises(NumericalError, match="at epoch 1 step 0") as e:
        search(built.strategy, built.supernet, built.train, built.valid, built.loop, run_dir=tmp_path, progress=False)
    assert "\n" not in str(e.value)
    # the run dir still resumes from epoch 0's checkpoint (whatever its format) and finishes
    fresh = build_search("nb201", "darts", "digits", seed=0, epochs=3, options={"C": 4, "N": 1, "max_steps": 2})
    res = search(fresh.strategy, fresh.supernet, fresh.train, fresh.valid, fresh.loop, run_dir=tmp_path,
                 resume=True, progress=False)
    assert [h["epoch"] for h in res.history] == [0, 1, 2]
    assert first_non_finite(fresh.supernet) is None
