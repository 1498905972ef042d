"""The DARTS evaluation network of a genotype (Liu et al. 2019, "NetworkCIFAR").

Structure: stem ``Conv3x3(3C) + BN``; ``layers`` cells with reductions (channels doubled,
stride 2 on the edges from the two cell inputs) at ``layers // 3`` and ``2 * layers // 3``;
preprocessing ``ReLUConvBN 1x1`` of both cell inputs (``FactorizedReduce`` for the first input
after a reduction); each of the 4 nodes sums its two genotype ops; the cell output is the
concat of nodes 2..5; ``GAP -> Linear``. All BatchNorms are affine and the pools have no BN
(the evaluation cells of DARTS, unlike its search cells).

Auxiliary head (training only) on the output of the second reduction cell (``2 * layers // 3``):
``ReLU -> AvgPool -> Conv1x1(128) -> BN -> ReLU -> Conv2x2(768) -> BN -> ReLU -> Linear``.
DARTS pools with ``AvgPool(5, stride 3)``, which maps its 8x8 CIFAR features to 2x2; for other
image sizes (the features are not 8x8, e.g. 2x2 for 8x8 digits) we use adaptive average pooling
to 2x2 instead (our choice; same output shape, documented in docs/train-export.md).

Drop-path (training only): every op output except identities is zeroed per sample with
probability ``drop_prob`` and scaled by ``1 / (1 - drop_prob)``; the masks come from the
explicit ``torch.Generator`` set with :meth:`DARTSNet.set_drop_path` (drawn on the CPU, so a
seed gives the same masks on every device).

``forward(x)`` returns the logits only (what an exported model computes);
:meth:`DARTSNet.forward_with_aux` returns ``(logits, aux_logits or None)`` for training.
Parameter counts exclude the auxiliary head (:func:`count_params`), as in the papers.

A-DARTS retraining: ``activations`` (optional) gives one activation name or ``None`` per
genotype edge, 16 in all (the normal cell's 8 pairs, then the reduction cell's, genotype order;
the ``@act=`` entries of a ``darts-act`` arch). A name replaces the leading ReLU of that edge's
sep/dil convolution (for ``sep_conv`` only the first of its two ReLUs, as in the search) in every
cell of that type; each cell owns its activation modules (own PReLU slope / Swish coefficient,
counted in the parameters). ``rrelu`` draws its training-mode slopes from ``generator`` (the one
that initialises the weights; ``None``: the fixed eval-mode slope). ``None`` (default) is the
plain network, with the same modules and state-dict keys as before.
"""
from __future__ import annotations

import torch
from torch import nn

from spacenas.errors import SpacenasError
from spacenas.nn.activations import check_edge_activations, make_activation
from spacenas.nn.ops import FactorizedReduce, Identity, ReLUConvBN, init_parameters_, make_op
from spacenas.spaces.base import Arch
from spacenas.spaces.darts import CONCAT, DARTSSpace


def drop_path(x: torch.Tensor, drop_prob: float, generator: torch.Generator) -> torch.Tensor:
    """Zero whole samples of ``x`` with probability ``drop_prob``, scale the rest by ``1/keep``."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = (torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=generator.device) < keep).to(
        device=x.device, dtype=x.dtype)  # a generator on x's device: no host-device copy
    return x / keep * mask


class EvalCell(nn.Module):
    """One discrete DARTS cell: ``pairs`` are the genotype's 8 ``(op, input)`` pairs."""

    def __init__(self, pairs: list[tuple[str, int]], c_pp: int, c_p: int, C: int, reduction: bool,
                 reduction_prev: bool, acts: list[str | None] | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_pp, C) if reduction_prev else ReLUConvBN(c_pp, C, 1, 1, 0)
        self.pre1 = ReLUConvBN(c_p, C, 1, 1, 0)
        self.inputs = [j for _, j in pairs]
        self.ops = nn.ModuleList(make_op(op, C, 2 if reduction and j < 2 else 1, affine=True, pool_bn=False)
                                 for op, j in pairs)
        self.out_channels = len(CONCAT) * C
        # A-DARTS retraining: edge k's activation replaces its op's leading ReLU
        self.acts = nn.ModuleDict({str(k): make_activation(a, generator)
                                   for k, a in enumerate(acts or []) if a is not None})

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for node in range(len(self.ops) // 2):
            s = None
            for k in (2 * node, 2 * node + 1):
                act = self.acts[str(k)] if str(k) in self.acts else None
                h = self.ops[k](states[self.inputs[k]], act)
                if self.training and drop_prob > 0.0 and not isinstance(self.ops[k], Identity):
                    h = drop_path(h, drop_prob, generator)
                s = h if s is None else s + h
            states.append(s)
        return torch.cat([states[i] for i in CONCAT], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS's auxiliary classifier (see the module docstring for the pooling choice)."""

    def __init__(self, c: int, num_classes: int, feature_size: int) -> None:
        super().__init__()
        pool = (nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False) if feature_size == 8
                else nn.AdaptiveAvgPool2d(2))
        self.features = nn.Sequential(
            nn.ReLU(), pool, nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU())
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


#: ops whose leading ReLU an A-DARTS activation replaces (the parameterized DARTS ops)
ACT_OPS: tuple[str, ...] = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


def _check_activations(activations, genotype: dict) -> dict[str, list[str | None]] | None:
    """16 names-or-None (normal cell's 8 edges, then the reduction cell's, genotype order) ->
    ``{"normal": [...8], "reduce": [...8]}``; checked against :data:`ACT_OPS`."""
    pairs = genotype["normal"] + genotype["reduce"]
    acts = check_edge_activations(activations, [op for op, _ in pairs], ACT_OPS)
    if acts is None:
        return None
    half = len(genotype["normal"])
    acts = list(acts)
    return {"normal": acts[:half], "reduce": acts[half:]}


def _reduced(size: int) -> int:
    """Spatial size after one stride-2 reduction (3x3 pad 1 or 1x1 convs/pools): ceil(size/2)."""
    return (size + 1) // 2


class DARTSNet(nn.Module):
    """The DARTS evaluation network of ``arch`` (a :class:`DARTSSpace` architecture)."""

    def __init__(self, arch: Arch, C: int = 36, layers: int = 20, num_classes: int = 10, in_channels: int = 3,
                 auxiliary: bool = True, image_size: int = 32, stem_multiplier: int = 3, *,
                 generator: torch.Generator | None = None,
                 activations: list[str | None] | tuple[str | None, ...] | None = None) -> None:
        super().__init__()
        if layers < 3:
            raise SpacenasError(f"DARTS network needs layers >= 3 (two reduction cells), got {layers}")
        if C < 2 or C % 2:
            raise SpacenasError(f"DARTS network needs an even C >= 2 (factorized reduce), got {C}")
        space = DARTSSpace()
        genotype = space.genotype(space.check(arch))
        self.arch = arch
        self.activations = _check_activations(activations, genotype)
        self.drop_prob = 0.0
        self.drop_generator: torch.Generator | None = None
        c_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, C
        cells, reduction_prev, size = [], False, image_size
        self.aux_index = 2 * layers // 3
        self.auxiliary_head: AuxiliaryHead | None = None
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
                size = _reduced(size)
            kind = "reduce" if reduction else "normal"
            cell = EvalCell(genotype[kind], c_pp, c_p, c_curr, reduction, reduction_prev,
                            None if self.activations is None else self.activations[kind], generator)
            cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.out_channels
            if i == self.aux_index and auxiliary:
                self.auxiliary_head = AuxiliaryHead(c_p, num_classes, size)
        self.cells = nn.ModuleList(cells)
        self.classifier = nn.Linear(c_p, num_classes)
        init_parameters_(self, generator)

    def set_drop_path(self, prob: float, generator: torch.Generator | None) -> None:
        """Drop-path probability for the next training steps, drawing masks from ``generator``."""
        if not 0.0 <= prob < 1.0:
            raise SpacenasError(f"drop-path probability must be in [0, 1), got {prob}")
        if prob > 0.0 and generator is None:
            raise SpacenasError("drop-path needs an explicit torch.Generator")
        self.drop_prob, self.drop_generator = float(prob), generator

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_prob, self.drop_generator)
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        return self.classifier(s1.mean(dim=(2, 3))), aux

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_aux(x)[0]


def count_params(model: nn.Module) -> int:
    """Parameters of ``model`` without any auxiliary head (the papers' convention)."""
    return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name)
