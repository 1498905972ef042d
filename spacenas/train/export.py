"""Export a trained network as a standalone model that needs no spacenas code.

* TorchScript: ``torch.jit.trace`` of the network in eval mode (auxiliary head and drop-path
  off), saved with ``torch.jit.save``; load with ``torch.jit.load(path)`` in any PyTorch. Tracing
  (not scripting) is our choice: the spacenas modules use Python features TorchScript cannot
  compile, and a trace records only the tensor operations of the eval-mode forward. The trace
  is made for one image size (``example``'s H and W); the batch size may vary.
* ONNX: ``torch.onnx.export`` (the dynamo exporter; needs the ``onnx`` and ``onnxscript``
  packages: ``pip install 'spacenas[onnx]'``), one self-contained ``.onnx`` file with a dynamic
  batch dimension; input ``images`` ``[B, C, H, W]``, output ``logits`` ``[B, classes]``.

Inputs are normalised images, exactly what the network saw in training (the data set's
per-channel mean/std); :func:`export` writes them next to the model in ``<name>.json``.
"""
from __future__ import annotations

import copy
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from spacenas.errors import SpacenasError, unknown

FORMATS: tuple[str, ...] = ("torchscript", "onnx")
SUFFIX = {"torchscript": ".torchscript.pt", "onnx": ".onnx"}


def inference_copy(model: nn.Module) -> nn.Module:
    """A CPU copy of ``model`` in eval mode with drop-path off (the original is untouched)."""
    m = copy.deepcopy(model).cpu().eval()
    if hasattr(m, "set_drop_path"):
        m.set_drop_path(0.0, None)
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def export_torchscript(model: nn.Module, path: str | Path, example: torch.Tensor) -> Path:
    """Trace ``model`` (eval mode) on ``example`` and save the TorchScript module to ``path``."""
    path = Path(path)
    m = inference_copy(model)
    with torch.no_grad(), warnings.catch_warnings():
        # tracer chatter and torch.jit's deprecation notice; the round-trip test checks the result
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(m, example.cpu())
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.jit.save(traced, str(path))
    return path


def onnx_available() -> str | None:
    """``None`` when ONNX export works here, else the reason it does not."""
    for mod in ("onnx", "onnxscript"):
        try:
            __import__(mod)
        except ImportError:
            return (f"ONNX export needs the {mod!r} package "
                    "(pip install 'spacenas[onnx]', or pip install onnx onnxscript)")
    return None


def export_onnx(model: nn.Module, path: str | Path, example: torch.Tensor) -> Path:
    """Export ``model`` (eval mode) to one ONNX file with a dynamic batch dimension."""
    why = onnx_available()
    if why:
        raise SpacenasError(why)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    m = inference_copy(model)
    batch = torch.export.Dim("batch", min=1)
    quiet = logging.getLogger("torch.onnx._internal.exporter._registration")  # "torchvision not installed"
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(m, (example.cpu(),), None, input_names=["images"], output_names=["logits"],
                                        dynamo=True, dynamic_shapes=({0: batch},), external_data=False,
                                        verbose=False)
    finally:
        quiet.setLevel(level)
    program.save(str(path), external_data=False)
    return path


def export(model: nn.Module, out_dir: str | Path, example: torch.Tensor, formats: list[str] | tuple[str, ...],
           name: str = "model", normalization: dict | None = None) -> list[Path]:
    """Write ``model`` in each of ``formats`` to ``out_dir/name.torchscript.pt`` / ``name.onnx``,
    plus ``name.json`` (input shape and normalisation); return the written paths."""
    for f in formats:
        if f not in FORMATS:
            raise unknown("export format", f, FORMATS)
    out_dir = Path(out_dir)
    paths = []
    for f in formats:
        fn = export_torchscript if f == "torchscript" else export_onnx
        paths.append(fn(model, out_dir / f"{name}{SUFFIX[f]}", example))
    info = {"input_shape": list(example.shape[1:]), "formats": list(formats), **(normalization or {})}
    (out_dir / f"{name}.json").write_text(json.dumps(info, indent=2))
    paths.append(out_dir / f"{name}.json")
    return paths
