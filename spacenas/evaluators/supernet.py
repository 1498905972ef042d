"""Evaluation with weights inherited from a trained supernet (DSM-NAS Sec. IV-C, Alg. 1 line 10).

:class:`SupernetEvaluator` scores a MobileNet-like arch by the accuracy (in percent) of its
sub-network on a held-out split, with the supernet's shared weights and BN statistics
recalibrated on a fixed calibration batch from the training split; or, when given an
:class:`~spacenas.evaluators.predictor.AccuracyPredictor`, by the predicted accuracy.

**MAdds limit.** With ``madds_limit`` set, an arch is *feasible* iff ``madds <= madds_limit``
(the paper's "#MAdds less than 600M"). Every result carries ``metrics['madds']``,
``metrics['params']``, ``metrics['accuracy']`` (its accuracy, feasible or not) and
``metrics['feasible']`` (1.0 or 0.0). An infeasible arch gets ``score = infeasible_score``
(default -1.0: below every accuracy in [0, 100], and finite, so the improvement reward of
DSM-NAS and REINFORCE stays a number). Hence with any strategy that compares scores:

* DSM-NAS never replaces a feasible center with an infeasible child (R = -1 - acc < 0), and an
  infeasible initial center is replaced by the first feasible child (R > 0) — the paper's
  "update the candidate subspace with the architecture that has #MAdds less than 600M";
* random search's and evolution's ``best()`` (max score) is feasible whenever any evaluated
  arch is; evolution's tournaments never prefer an infeasible parent to a feasible one.

The paper's reward for an infeasible child is its (unpenalised) accuracy gain; ours is
strongly negative, which also steers the controller away from over-budget archs.

**Budget.** Like ``TabularEvaluator``: each arch never evaluated before costs 1 query,
a repeat costs 0 (measurements are cached: evaluation is deterministic; set ``predictor``
before the first ``evaluate``), ``spent`` = distinct archs.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field

from spacenas.config import StrictModel, build_config
from spacenas.data.splits import ImageTensorDataset, iterate_batches
from spacenas.errors import SpacenasError
from spacenas.evaluators.base import Evaluator, Result
from spacenas.evaluators.predictor import AccuracyPredictor
from spacenas.nn.madds_mobilenet import Cost, subnet_cost
from spacenas.nn.mobilenet_supernet import MobileNetShape, MobileNetSupernet, train_supernet
from spacenas.spaces.base import Arch


class SupernetEvalConfig(StrictModel):
    """Options of :class:`SupernetEvaluator`."""

    madds_limit: float | None = Field(None, gt=0, description="feasible iff madds <= limit (None: no limit)")
    infeasible_score: float = Field(-1.0, allow_inf_nan=False, description="score of an arch over the limit")
    calib_size: int = Field(256, ge=2, description="images of the BN recalibration batch")
    batch_size: int = Field(512, ge=1, description="evaluation batch size")


def is_feasible(madds: float, limit: float | None) -> bool:
    """The MAdds constraint: ``madds <= limit`` (always true without a limit)."""
    return limit is None or madds <= limit


class SupernetEvaluator(Evaluator):
    """Scores archs of ``supernet.space`` by inherited weights (or a predictor), with an MAdds limit."""

    def __init__(self, supernet: MobileNetSupernet, valid_set: ImageTensorDataset, calib_set: ImageTensorDataset,
                 *, config: dict[str, Any] | SupernetEvalConfig | None = None,
                 predictor: AccuracyPredictor | None = None, test_set: ImageTensorDataset | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.config = config if isinstance(config, SupernetEvalConfig) else build_config(
            SupernetEvalConfig, config, where="SupernetEvaluator")
        self.supernet = supernet.to(device).eval()
        self.space = supernet.space
        self.valid_set, self.calib_set, self.test_set, self.predictor = valid_set, calib_set, test_set, predictor
        self.device = torch.device(device)
        n = min(self.config.calib_size, len(calib_set))
        if n < 2:
            raise SpacenasError(f"BN recalibration needs at least 2 images, the calibration set has {len(calib_set)}")
        self.calib_x = calib_set.batch(torch.arange(n))[0].to(self.device)  # fixed: deterministic scores
        self._cache: dict[tuple[int, ...], dict[str, float]] = {}

    # ----- measurements ---------------------------------------------------------------------
    def cost_of(self, arch: Arch) -> Cost:
        return subnet_cost(arch, self.supernet.shape, self.space)

    @torch.no_grad()
    def accuracy(self, arch: Arch, dataset: ImageTensorDataset | None = None) -> float:
        """Supernet accuracy (percent) of ``arch`` on ``dataset`` (default: the held-out split);
        charges nothing."""
        self.space.check(arch)
        data = self.valid_set if dataset is None else dataset
        self.supernet.recalibrate_bn(self.calib_x, arch)
        correct = 0
        for x, y in iterate_batches(data, self.config.batch_size, shuffle=False, device=self.device):
            correct += int((self.supernet(x, arch).argmax(dim=1) == y).sum())
        return 100.0 * correct / len(data)

    def evaluate(self, arch: Arch) -> Result:
        key = self.space.check(arch).choices
        new = key not in self._cache
        if new:  # measurements are cached; feasibility is decided on every call (the limit may change)
            cost = self.cost_of(arch)
            acc = self.predictor.predict(arch) if self.predictor is not None else self.accuracy(arch)
            metrics = {"accuracy": acc, "madds": float(cost.madds), "params": float(cost.params)}
            if self.test_set is not None:
                metrics["test"] = self.accuracy(arch, self.test_set)
            self._cache[key] = metrics
        metrics = dict(self._cache[key])
        feasible = is_feasible(metrics["madds"], self.config.madds_limit)
        metrics["feasible"] = 1.0 if feasible else 0.0
        score = metrics["accuracy"] if feasible else self.config.infeasible_score
        return Result(score=score, metrics=metrics, cost=1.0 if new else 0.0)

    @property
    def spent(self) -> float:
        return float(len(self._cache))

    def state_dict(self) -> dict[str, Any]:
        return {"cache": [(list(k), dict(m)) for k, m in self._cache.items()]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._cache = {tuple(k): dict(m) for k, m in state["cache"]}


def make_supernet_evaluator(data, *, seed: int = 0, epochs: int = 10, valid_fraction: float = 0.2,
                            train_limit: int | None = None, valid_limit: int | None = None,
                            shape: dict | None = None,
                            config: dict[str, Any] | None = None, lr: float = 0.1, batch_size: int = 64,
                            device: torch.device | str = "cpu", progress: bool = False
                            ) -> tuple[SupernetEvaluator, list[float]]:
    """Split ``data.train`` (an :class:`~spacenas.data.ImageData`) into supernet-training and
    held-out parts (``valid_fraction`` held out, drawn from ``torch.Generator(seed)``), train a
    :class:`MobileNetSupernet` on the first (optionally only its first ``train_limit`` images)
    and return a :class:`SupernetEvaluator` on the held-out part (optionally only its first
    ``valid_limit`` images; the paper scores on 1000 held-out training images) with test set
    ``data.test``, and the per-epoch training losses."""
    g = torch.Generator().manual_seed(int(seed))
    train, valid = data.search_split(g, 1.0 - valid_fraction)
    if train_limit is not None:
        train = train.subset(torch.arange(min(train_limit, len(train))))
    if valid_limit is not None:
        valid = valid.subset(torch.arange(min(valid_limit, len(valid))))
    sh = build_config(MobileNetShape, {"in_channels": data.in_channels, "num_classes": data.num_classes,
                                       "image_size": data.image_size, **(shape or {})}, where="MobileNetShape")
    net = MobileNetSupernet(sh, generator=g)
    losses = train_supernet(net, train, g, epochs=epochs, lr=lr, batch_size=batch_size, device=device,
                            progress=progress)
    return SupernetEvaluator(net, valid, train, config=config, test_set=data.test, device=device), losses


def madds_quantile(evaluator: SupernetEvaluator, q: float, n: int, rng: np.random.Generator) -> float:
    """The ``q``-quantile of MAdds over ``n`` uniformly sampled archs (to choose a limit)."""
    return float(np.quantile([evaluator.cost_of(evaluator.space.sample(rng)).madds for _ in range(n)], q))
