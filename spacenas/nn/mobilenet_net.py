"""Standalone MobileNet-like network of one architecture of :class:`MobileNetSpace` (retraining).

Same layout and widths as :class:`~spacenas.nn.mobilenet_supernet.MobileNetSupernet` (a
:class:`MobileNetShape`): stem (3x3 conv, stride ``stem_stride``, BN, ReLU) -> 5 units ->
head (1x1 conv to ``head_width``, BN, ReLU, global average pool, linear). Unit ``u`` holds
only the arch's *present* layers (absent '0' layers are skipped, not built); each is an MBConv
with that layer's own kernel ``k`` and expansion ``e``: 1x1 expand to ``e * c_in`` (BN, ReLU)
-> k x k depthwise, stride ``strides[u]`` on the unit's first layer else 1, padding k // 2
(BN, ReLU) -> 1x1 project to ``widths[u]`` (BN), plus the input when stride 1 and
``c_in == c_out``. So its MAdds (counted by conv/linear hooks) and parameters (weights, BN
affine, classifier bias) equal :func:`~spacenas.nn.madds_mobilenet.subnet_cost` exactly.

Choices: like the supernet, the BN after the projection of every residual layer starts with
gamma = 0 (every residual block starts as the identity); plain ``nn.BatchNorm2d`` everywhere.
The depthwise conv is an ``nn.Conv2d`` whose forward uses the supernet's Toeplitz
:func:`depthwise_conv` (same values; several times faster on tiny CPU maps), so it traces
to plain tensor ops for TorchScript / ONNX export.

:func:`load_supernet_weights` copies a trained supernet's weights of this arch into the net
(the same slices the supernet's sub-network uses: first ``e * c_in`` channels, centre k x k
crop of the 7 x 7 depthwise kernel; BN statistics included, though shared ones are only a
starting point).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spacenas.config import build_config
from spacenas.errors import SpacenasError
from spacenas.nn.mobilenet_supernet import MAX_K, MobileNetShape, depthwise_conv
from spacenas.nn.ops import init_parameters_
from spacenas.spaces.base import Arch
from spacenas.spaces.mobilenet import Layers, MobileNetSpace


class DepthwiseConv(nn.Conv2d):
    """k x k depthwise conv (padding k // 2, no bias) computed by :func:`depthwise_conv`."""

    def __init__(self, channels: int, kernel: int, stride: int) -> None:
        super().__init__(channels, channels, kernel, stride=stride, padding=kernel // 2, groups=channels, bias=False)
        self._index_cache: dict[tuple, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return depthwise_conv(x, self.weight, self.stride[0], self._index_cache)


class MBConv(nn.Module):
    """One fixed MBConv layer (kernel, expansion, stride); see the module docstring."""

    def __init__(self, c_in: int, c_out: int, kernel: int, expansion: int, stride: int) -> None:
        super().__init__()
        self.c_in, self.c_out, self.kernel, self.expansion, self.stride = c_in, c_out, kernel, expansion, stride
        mid = c_in * expansion
        self.expand = nn.Conv2d(c_in, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.depthwise = DepthwiseConv(mid, kernel, stride)
        self.bn2 = nn.BatchNorm2d(mid)
        self.project = nn.Conv2d(mid, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.expand(x)))
        h = F.relu(self.bn2(self.depthwise(h)))
        h = self.bn3(self.project(h))
        return h + x if self.residual else h


class MobileNetNet(nn.Module):
    """The network of one MobileNet-like arch (``forward(x) -> logits``)."""

    def __init__(self, arch: Arch | Layers, shape: MobileNetShape | dict | None = None,
                 generator: torch.Generator | None = None, space: MobileNetSpace | None = None) -> None:
        super().__init__()
        self.shape = shape if isinstance(shape, MobileNetShape) else build_config(MobileNetShape, shape,
                                                                                  where="MobileNetShape")
        space = space or MobileNetSpace()
        self.layers: Layers = space.layers(arch) if isinstance(arch, Arch) else tuple(tuple(u) for u in arch)
        s = self.shape
        if len(self.layers) != len(s.widths):
            raise SpacenasError(f"arch has {len(self.layers)} units, the shape {len(s.widths)}")
        self.stem = nn.Conv2d(s.in_channels, s.stem_width, 3, stride=s.stem_stride, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(s.stem_width)
        units, c = [], s.stem_width
        for cfg, w, st in zip(self.layers, s.widths, s.strides):
            if not cfg:
                raise SpacenasError("every unit needs at least one layer")
            units.append(nn.ModuleList(MBConv(c if l == 0 else w, w, k, e, st if l == 0 else 1)
                                       for l, (k, e) in enumerate(cfg)))
            c = w
        self.units = nn.ModuleList(units)
        self.head = nn.Conv2d(c, s.head_width, 1, bias=False)
        self.head_bn = nn.BatchNorm2d(s.head_width)
        self.classifier = nn.Linear(s.head_width, s.num_classes)
        init_parameters_(self, generator)
        for unit in self.units:  # residual branches start at zero (as in the supernet)
            for layer in unit:
                if layer.residual:
                    nn.init.zeros_(layer.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.stem_bn(self.stem(x)))
        for unit in self.units:
            for layer in unit:
                h = layer(h)
        h = F.relu(self.head_bn(self.head(h)))
        return self.classifier(h.mean(dim=(2, 3)))


def _copy_bn(dst: nn.BatchNorm2d, src: dict[str, torch.Tensor], prefix: str, c: int) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        key = f"{prefix}.{name}"
        if key not in src or src[key].shape[0] < c:
            raise SpacenasError(f"supernet weights do not fit this network ({key} missing or too small): "
                                "train the supernet with the same shape")
        getattr(dst, name).copy_(src[key][:c])


@torch.no_grad()
def load_supernet_weights(net: MobileNetNet, state: dict[str, torch.Tensor]) -> None:
    """Copy ``net``'s arch out of a :class:`MobileNetSupernet` ``state_dict`` (same shape required):
    expand/depthwise/project weights and BNs sliced to ``e * c_in`` channels, the depthwise
    kernel cropped to its centre k x k; stem, head and classifier copied whole."""
    def get(key: str) -> torch.Tensor:
        if key not in state:
            raise SpacenasError(f"not a MobileNet supernet state: {key!r} missing")
        return state[key]

    def put(dst: torch.Tensor, src: torch.Tensor, what: str) -> None:
        if dst.shape != src.shape:
            raise SpacenasError(f"supernet weights do not fit this network ({what}: {tuple(src.shape)} vs "
                                f"{tuple(dst.shape)}): train the supernet with the same shape")
        dst.copy_(src)

    put(net.stem.weight, get("stem.weight"), "stem")
    _copy_bn(net.stem_bn, state, "stem_bn", net.stem_bn.num_features)
    for u, unit in enumerate(net.units):
        for l, layer in enumerate(unit):
            p = f"units.{u}.{l}"
            mid = layer.c_in * layer.expansion
            lo = (MAX_K - layer.kernel) // 2
            put(layer.expand.weight, get(f"{p}.expand.weight")[:mid], f"{p}.expand")
            put(layer.depthwise.weight, get(f"{p}.depthwise.weight")[:mid, :, lo:lo + layer.kernel,
                                                                     lo:lo + layer.kernel], f"{p}.depthwise")
            put(layer.project.weight, get(f"{p}.project.weight")[:, :mid], f"{p}.project")
            _copy_bn(layer.bn1, state, f"{p}.bn1", mid)
            _copy_bn(layer.bn2, state, f"{p}.bn2", mid)
            _copy_bn(layer.bn3, state, f"{p}.bn3", layer.c_out)
    put(net.head.weight, get("head.weight"), "head")
    _copy_bn(net.head_bn, state, "head_bn", net.head_bn.num_features)
    put(net.classifier.weight, get("classifier.weight"), "classifier")
    put(net.classifier.bias, get("classifier.bias"), "classifier bias")


def supernet_state(path: str, shape: MobileNetShape) -> dict[str, torch.Tensor]:
    """The weights in a supernet cache file (``run_dir/supernet.pt`` of a mobilenet search),
    checked to be of ``shape``."""
    from pathlib import Path

    if not Path(path).is_file():
        raise SpacenasError(f"bad --init-from-supernet {path}: no such file (expected a run's supernet.pt)")
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        state, key = stored["state_dict"], stored.get("key", {})
        if not isinstance(state, dict) or not isinstance(key, dict):
            raise TypeError("'state_dict' and 'key' must be dicts")
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user problem
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""  # torch's advice runs for lines
        raise SpacenasError(f"cannot read supernet file {path}: {type(e).__name__}: {first} (expected a run's "
                            "supernet.pt)") from None
    theirs = key.get("shape")
    ours = shape.model_dump(mode="json")
    if theirs is not None and theirs != ours:
        diff = sorted(k for k in ours if ours[k] != theirs.get(k))
        raise SpacenasError(f"supernet {path} has another network shape (differs in: {', '.join(diff)}); "
                            "train with the same data and --set shape=... as the search")
    return state


def build_mobilenet(arch: Arch, shape_overrides: dict, in_channels: int, num_classes: int, image_size: int,
                    generator: torch.Generator | None, init_from_supernet: str | None = None) -> MobileNetNet:
    """The retraining network of ``arch`` for a data set (shape = data's channels/classes/size plus
    ``shape_overrides``), optionally started from a supernet's weights."""
    shape = build_config(MobileNetShape, {"in_channels": in_channels, "num_classes": num_classes,
                                          "image_size": image_size, **shape_overrides}, where="train shape")
    net = MobileNetNet(arch, shape, generator=generator)
    if init_from_supernet is not None:
        load_supernet_weights(net, supernet_state(init_from_supernet, shape))
    return net
