"""Weight-sharing supernet of the MobileNet-like space (DSM-NAS Sec. IV-C, after OFA).

Network: stem (3x3 conv, BN, ReLU) -> 5 units of up to 4 MBConv layers -> head (1x1 conv, BN,
ReLU, global average pool, linear). Unit ``u`` has ``widths[u]`` output channels; its first
layer has stride ``strides[u]`` (the other layers stride 1 with a residual connection; the
first layer has one too when its stride is 1 and its input and output widths agree).

MBConv(kernel k, expansion e) on ``c_in`` channels: 1x1 expand to ``mid = e * c_in`` (BN,
ReLU) -> k x k depthwise conv with stride s, padding k // 2 (BN, ReLU) -> 1x1 project to
``c_out`` (BN). Every layer owns the weights of its largest setting (k = 7, e = 6) and a
sub-network uses

* **elastic kernel**: the centre ``k x k`` crop of the 7 x 7 depthwise kernel (plain centre
  crop; OFA's kernel transformation matrices are not used);
* **elastic expansion**: the first ``e * c_in`` channels of the expand, depthwise and project
  weights and of the BNs (no channel re-ordering by importance);
* **elastic depth**: the first ``d`` layers of each unit.

BN statistics are shared and therefore wrong for any particular sub-network; evaluation first
calls :meth:`MobileNetSupernet.recalibrate_bn` (statistics of one calibration batch, as OFA
does before measuring a sub-network).

The BN after the projection of every residual layer starts with gamma = 0 (the layer starts
as the identity); with it, single-path training of this 20-layer net on digits reaches about
the accuracy in 10 epochs that it reaches in 30 without (measured, see ``docs/mobilenet.md``).

Training (:func:`train_supernet`) is the simple single-path scheme: every step a random
sub-network (:func:`random_subnet`: depth uniform in {2, 3, 4} per unit, each layer uniform
over the 9 blocks), one SGD step on it. Widths are small so that 10 epochs on the embedded
digits take about half a minute on one CPU thread.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from spacenas.config import StrictModel, build_config
from spacenas.data.splits import ImageTensorDataset, iterate_batches
from spacenas.errors import SpacenasError
from spacenas.nn.ops import init_parameters_
from spacenas.numerics import check_finite
from spacenas.spaces.base import Arch
from spacenas.spaces.mobilenet import BLOCKS, DEPTHS, EXPANSIONS, KERNELS, Layers, MobileNetSpace

_HINT = "the learning rate may be too high (lower --supernet lr)"
MAX_K = max(KERNELS)
MAX_E = max(EXPANSIONS)


class MobileNetShape(StrictModel):
    """Shape of the MobileNet-like network (defaults: tiny, for 8x8 digits on a CPU)."""

    in_channels: int = Field(1, ge=1)
    num_classes: int = Field(10, ge=2)
    image_size: int = Field(8, ge=1)
    stem_width: int = Field(8, ge=1)
    stem_stride: int = Field(1, ge=1)
    widths: tuple[int, int, int, int, int] = (8, 12, 16, 20, 24)
    strides: tuple[int, int, int, int, int] = (2, 1, 1, 1, 1)
    head_width: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _check_stages(self) -> MobileNetShape:
        if any(w < 1 for w in self.widths) or any(s not in (1, 2) for s in self.strides):
            raise ValueError(f"widths must be >= 1 and strides 1 or 2, got widths {list(self.widths)}, "
                             f"strides {list(self.strides)}")
        return self


class DynamicBN(nn.Module):
    """BatchNorm over the first ``c`` of ``max_c`` channels (``c`` = the input's channels)."""

    def __init__(self, max_c: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(max_c))
        self.bias = nn.Parameter(torch.zeros(max_c))
        self.register_buffer("running_mean", torch.zeros(max_c))
        self.register_buffer("running_var", torch.ones(max_c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        # slices of contiguous 1-D buffers are views: F.batch_norm updates them in place
        return F.batch_norm(x, self.running_mean[:c], self.running_var[:c], self.weight[:c], self.bias[:c],
                            self.training, self.momentum, self.eps)


def toeplitz_index(h: int, w: int, k: int, stride: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``idx[o, i]``: which of the k*k kernel taps links input pixel ``i`` to output pixel ``o``
    of a k x k conv with padding k // 2 and ``stride`` on an h x w map (``k * k``: none)."""
    p = k // 2
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    oy, ox = torch.meshgrid(torch.arange(ho), torch.arange(wo), indexing="ij")
    iy, ix = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    dy = iy.reshape(1, -1) - (oy.reshape(-1, 1) * stride - p)  # tap row, [O, I]
    dx = ix.reshape(1, -1) - (ox.reshape(-1, 1) * stride - p)
    ok = (dy >= 0) & (dy < k) & (dx >= 0) & (dx < k)
    return torch.where(ok, dy * k + dx, torch.full_like(dy, k * k)).to(device)


def depthwise_conv(x: torch.Tensor, weight: torch.Tensor, stride: int, cache: dict | None = None) -> torch.Tensor:
    """Depthwise k x k conv, padding k // 2 (odd k). Same values as
    ``F.conv2d(x, weight, stride=stride, padding=k // 2, groups=C)``; on maps of at most 64
    pixels it runs as one batched matrix product with a (C, out, in) Toeplitz matrix built from
    the kernel, which on a CPU is several times faster than the native depthwise kernel
    (whose backward is slow for 5x5 and 7x7 kernels on tiny maps)."""
    b, c, h, w = x.shape
    k = weight.shape[-1]
    if h * w > 64:
        return F.conv2d(x, weight, stride=stride, padding=k // 2, groups=c)
    key = (h, w, k, stride, str(x.device))
    if cache is None or key not in cache:
        idx = toeplitz_index(h, w, k, stride, x.device)
        if cache is not None:
            cache[key] = idx
    idx = cache[key] if cache is not None else idx
    taps = torch.cat([weight.reshape(c, k * k), weight.new_zeros(c, 1)], dim=1)
    m = taps[:, idx]  # [C, O, I]
    out = torch.bmm(x.reshape(b, c, h * w).transpose(0, 1), m.transpose(1, 2))  # [C, B, O]
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    return out.transpose(0, 1).reshape(b, c, ho, wo)


class DynamicMBConv(nn.Module):
    """An MBConv layer holding the weights of k = 7, e = 6; runs any smaller (k, e)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride
        mid = c_in * MAX_E
        self.expand = nn.Conv2d(c_in, mid, 1, bias=False)
        self.bn1 = DynamicBN(mid)
        self.depthwise = nn.Conv2d(mid, mid, MAX_K, groups=mid, bias=False)
        self.bn2 = DynamicBN(mid)
        self.project = nn.Conv2d(mid, c_out, 1, bias=False)
        self.bn3 = DynamicBN(c_out)
        self._index_cache: dict[tuple, torch.Tensor] = {}

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.c_in == self.c_out

    def kernel_weight(self, k: int, e: int) -> torch.Tensor:
        """The depthwise weight of setting (k, e): first ``e * c_in`` channels, centre k x k crop."""
        lo = (MAX_K - k) // 2
        return self.depthwise.weight[: e * self.c_in, :, lo:lo + k, lo:lo + k]

    def forward(self, x: torch.Tensor, k: int, e: int) -> torch.Tensor:
        mid = e * self.c_in
        h = F.relu(self.bn1(F.conv2d(x, self.expand.weight[:mid])))
        h = depthwise_conv(h, self.kernel_weight(k, e), self.stride, self._index_cache)
        h = F.relu(self.bn2(h))
        h = self.bn3(F.conv2d(h, self.project.weight[:, :mid]))
        return h + x if self.residual else h


class MobileNetSupernet(nn.Module):
    """Supernet of :class:`MobileNetSpace`; ``forward(x, arch)`` runs one sub-network."""

    def __init__(self, shape: MobileNetShape | dict | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.shape = shape if isinstance(shape, MobileNetShape) else build_config(MobileNetShape, shape,
                                                                                  where="MobileNetShape")
        self.space = MobileNetSpace()
        s = self.shape
        self.stem = nn.Conv2d(s.in_channels, s.stem_width, 3, stride=s.stem_stride, padding=1, bias=False)
        self.stem_bn = DynamicBN(s.stem_width)
        units, c = [], s.stem_width
        for w, st in zip(s.widths, s.strides):
            units.append(nn.ModuleList(DynamicMBConv(c if l == 0 else w, w, st if l == 0 else 1)
                                       for l in range(max(DEPTHS))))
            c = w
        self.units = nn.ModuleList(units)
        self.head = nn.Conv2d(c, s.head_width, 1, bias=False)
        self.head_bn = DynamicBN(s.head_width)
        self.classifier = nn.Linear(s.head_width, s.num_classes)
        init_parameters_(self, generator)
        for unit in self.units:  # residual branches start at zero: every block is the identity
            for layer in unit:
                if layer.residual:
                    nn.init.zeros_(layer.bn3.weight)

    def _layers(self, arch: Arch | Layers) -> Layers:
        return self.space.layers(arch) if isinstance(arch, Arch) else arch

    def forward(self, x: torch.Tensor, arch: Arch | Layers) -> torch.Tensor:
        layers = self._layers(arch)
        h = F.relu(self.stem_bn(self.stem(x)))
        for unit, cfg in zip(self.units, layers):
            if not 1 <= len(cfg) <= len(unit):
                raise SpacenasError(f"unit depth {len(cfg)} not allowed (allowed: 1..{len(unit)})")
            for layer, (k, e) in zip(unit, cfg):
                h = layer(h, k, e)
        h = F.relu(self.head_bn(self.head(h)))
        return self.classifier(h.mean(dim=(2, 3)))

    @torch.no_grad()
    def recalibrate_bn(self, x: torch.Tensor, arch: Arch | Layers) -> None:
        """Set the BN statistics used by ``arch`` to those of batch ``x`` (then ``eval()``)."""
        bns = [m for m in self.modules() if isinstance(m, DynamicBN)]
        saved = [m.momentum for m in bns]
        for m in bns:
            m.running_mean.zero_()
            m.running_var.fill_(1.0)
            m.momentum = 1.0  # running stats := this batch's stats
        self.train()
        try:
            self(x, arch)
        finally:
            for m, mom in zip(bns, saved):
                m.momentum = mom
            self.eval()


def random_subnet(space: MobileNetSpace, generator: torch.Generator) -> Arch:
    """A training sub-network: per unit a depth uniform in {2, 3, 4}, each present layer uniform
    over the 9 (expansion, kernel) blocks (OFA-style; *not* uniform over archs)."""
    layers = []
    for _ in range(space.n_units):
        d = DEPTHS[int(torch.randint(len(DEPTHS), (1,), generator=generator))]
        idx = torch.randint(len(BLOCKS), (d,), generator=generator).tolist()
        layers.append(tuple((BLOCKS[i][1], BLOCKS[i][0]) for i in idx))
    return space.from_layers(tuple(layers))


def train_supernet(net: MobileNetSupernet, train_set: ImageTensorDataset, generator: torch.Generator, *,
                   epochs: int = 10, batch_size: int = 64, lr: float = 0.1, momentum: float = 0.9,
                   weight_decay: float = 4e-5, device: torch.device | str = "cpu",
                   progress: bool = False) -> list[float]:
    """Single-path supernet training: each step one :func:`random_subnet`, one SGD step
    (Nesterov momentum, cosine learning rate to 0 over all steps). Returns the mean loss of
    every epoch. All randomness (batch order, sub-networks) comes from ``generator``."""
    if epochs < 1:
        raise SpacenasError(f"supernet training needs epochs >= 1, got {epochs}")
    net.to(device).train()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, nesterov=momentum > 0,
                          weight_decay=weight_decay)
    steps = epochs * math.ceil(len(train_set) / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)))
    it = range(epochs)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="supernet", unit="epoch")
    losses = []
    for _ in it:
        total, n = 0.0, 0
        for x, y in iterate_batches(train_set, batch_size, generator, device=device):
            arch = random_subnet(net.space, generator)
            loss = F.cross_entropy(net(x, arch), y)
            check_finite(loss, "supernet training loss", f"epoch {len(losses)} step {n // batch_size}", _HINT)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(y)
            n += len(y)
        check_finite(net, "supernet weights", f"end of epoch {len(losses)}", _HINT)
        losses.append(total / n)
    net.eval()
    return losses
