"""Exports stand alone: load them in a fresh interpreter that cannot import spacenas."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from spacenas.errors import SpacenasError
from spacenas.nn.darts_net import DARTSNet
from spacenas.nn.supernets import NB201Net
from spacenas.spaces.darts import DARTSSpace
from spacenas.spaces.nb201 import NB201Space
from spacenas.train.export import export, export_onnx, export_torchscript, inference_copy, onnx_available
from standalone import run_without_spacenas

NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"

# Runs in a fresh process that cannot import spacenas (tests/standalone.py).
_CHILD = """
import numpy as np
x = np.load("x.npy")
if sys.argv[2] == "torchscript":
    import torch
    y = torch.jit.load("model.pt")(torch.from_numpy(x)).detach().numpy()
else:
    import onnx
    from onnx.reference import ReferenceEvaluator
    y = ReferenceEvaluator(onnx.load("model.onnx")).run(None, {"images": x})[0]
np.save("y.npy", y)
"""


def _run_fresh(workdir: Path, fmt: str) -> np.ndarray:
    run_without_spacenas(workdir, _CHILD, fmt)
    return np.load(workdir / "y.npy")


def _trained_like(model: torch.nn.Module, shape) -> torch.nn.Module:
    """Give the BatchNorms non-trivial running statistics (one training-mode pass)."""
    model.train()
    with torch.no_grad():
        model(torch.randn(16, *shape, generator=torch.Generator().manual_seed(1)) * 2 + 0.5)
    return model


def _darts(shape=(1, 8, 8)):
    g = torch.Generator().manual_seed(0)
    arch = DARTSSpace().sample(np.random.default_rng(0))
    net = DARTSNet(arch, C=4, layers=3, in_channels=shape[0], image_size=shape[1], generator=g)
    net.set_drop_path(0.3, g)
    return _trained_like(net, shape)


def test_torchscript_round_trip_in_fresh_process(tmp_path):
    for net, shape in ((_darts(), (1, 8, 8)),
                       (_trained_like(NB201Net(NB201Space().parse(NB201_ARCH), C=4, N=1, in_channels=3,
                                               generator=torch.Generator().manual_seed(0)), (3, 8, 8)), (3, 8, 8))):
        d = tmp_path / type(net).__name__
        d.mkdir()
        x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(2))
        export_torchscript(net, d / "model.pt", x[:2])  # traced on batch 2, run on batch 5
        np.save(d / "x.npy", x.numpy())
        y = _run_fresh(d, "torchscript")
        ref = inference_copy(net)(x).numpy()
        assert y.shape == (5, 10)
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    assert net.training  # the exported copy is in eval mode; the original is untouched


def test_onnx_round_trip_in_fresh_process(tmp_path):
    why = onnx_available()
    if why:
        pytest.skip(why)
    net = _darts()
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    paths = export(net, tmp_path, x[:2], ["onnx"], normalization={"mean": [0.5], "std": [0.25]})
    assert [p.name for p in paths] == ["model.onnx", "model.json"]
    assert json.loads((tmp_path / "model.json").read_text())["input_shape"] == [1, 8, 8]
    np.save(tmp_path / "x.npy", x.numpy())
    y = _run_fresh(tmp_path, "onnx")
    np.testing.assert_allclose(y, inference_copy(net)(x).numpy(), rtol=1e-4, atol=1e-5)


def test_export_errors(tmp_path):
    with pytest.raises(SpacenasError, match="unknown export format 'tflite'"):
        export(_darts(), tmp_path, torch.zeros(1, 1, 8, 8), ["tflite"])


def test_inference_copy_disables_training_behaviour():
    net = _darts()
    m = inference_copy(net)
    assert not m.training and m.drop_prob == 0.0 and net.drop_prob == 0.3
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(m(x), m(x))  # no drop-path, BN uses running statistics


def test_onnx_missing_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    assert "pip install" in onnx_available()
    with pytest.raises(SpacenasError, match="ONNX export needs the 'onnx' package"):
        export_onnx(_darts(), tmp_path / "m.onnx", torch.zeros(1, 1, 8, 8))
