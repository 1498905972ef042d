"""Accuracy predictor for the MobileNet-like space (DSM-NAS Sec. IV-C: "we train a predictor
to predict the validation accuracy following [OFA]").

OFA's predictor is a small MLP on a one-hot encoding of the sub-network; we use **ridge
regression on the flattened one-hot encoding** (``SearchSpace.one_hot``: one block per layer
decision, the absent layer '0' being its own choice), fitted in closed form. It is
deterministic, has one hyper-parameter, and with ~20 x 10 features and a few hundred
training archs it ranks sub-networks about as well as the supernet it imitates (the benchmark
prints its Kendall tau on held-out archs). Training targets are the supernet's accuracies of
uniformly sampled sub-networks (:func:`fit_predictor`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from spacenas.errors import SpacenasError
from spacenas.spaces.base import Arch, SearchSpace


def encode(space: SearchSpace, archs: Sequence[Arch]) -> np.ndarray:
    """Flattened one-hot encodings, ``[n, n_decisions * max_choices]`` float64."""
    return np.stack([space.one_hot(a).reshape(-1) for a in archs]).astype(np.float64)


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Minimise ``||x w + b - y||^2 + alpha ||w||^2`` (the intercept ``b`` is not penalised).

    Closed form on centred data: ``w = (Xc^T Xc + alpha I)^-1 Xc^T yc``, ``b = mean(y) -
    mean(x) w``. Example (tested): x = [1, 2, 3], y = [2, 4, 6], alpha = 2: Xc = [-1, 0, 1],
    yc = [-2, 0, 2], w = 4 / (2 + 2) = 1, b = 4 - 2 * 1 = 2.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise SpacenasError(f"ridge_fit needs x [n, d] and y [n], got {x.shape} and {y.shape}")
    if alpha < 0:
        raise SpacenasError(f"ridge alpha must be >= 0, got {alpha}")
    mx, my = x.mean(axis=0), y.mean()
    xc, yc = x - mx, y - my
    a = xc.T @ xc + alpha * np.eye(x.shape[1])
    w = np.linalg.lstsq(a, xc.T @ yc, rcond=None)[0]
    return w, float(my - mx @ w)


class AccuracyPredictor:
    """Ridge regression from an arch's one-hot encoding to its (supernet) accuracy."""

    def __init__(self, space: SearchSpace, alpha: float = 1.0) -> None:
        if alpha < 0:
            raise SpacenasError(f"predictor alpha must be >= 0, got {alpha}")
        self.space, self.alpha = space, float(alpha)
        self.w: np.ndarray | None = None
        self.b = 0.0

    def fit(self, archs: Sequence[Arch], scores: Sequence[float]) -> AccuracyPredictor:
        if len(archs) < 2 or len(archs) != len(scores):
            raise SpacenasError(f"predictor needs >= 2 archs with one score each, got {len(archs)} and {len(scores)}")
        self.w, self.b = ridge_fit(encode(self.space, archs), np.asarray(scores, dtype=float), self.alpha)
        return self

    def predict_many(self, archs: Sequence[Arch]) -> np.ndarray:
        if self.w is None:
            raise SpacenasError("accuracy predictor used before fit()")
        return encode(self.space, archs) @ self.w + self.b

    def predict(self, arch: Arch) -> float:
        return float(self.predict_many([arch])[0])

    def state_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "w": None if self.w is None else self.w.tolist(), "b": self.b}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.alpha, self.b = float(state["alpha"]), float(state["b"])
        self.w = None if state["w"] is None else np.asarray(state["w"], dtype=np.float64)


def sample_distinct(space: SearchSpace, n: int, rng: np.random.Generator, max_tries: int = 100) -> list[Arch]:
    """``n`` distinct uniformly sampled archs (``space.sample``)."""
    out, seen = [], set()
    for _ in range(n * max_tries):
        a = space.sample(rng)
        if a.choices not in seen:
            seen.add(a.choices)
            out.append(a)
            if len(out) == n:
                return out
    raise SpacenasError(f"could not draw {n} distinct architectures")


def fit_predictor(space: SearchSpace, accuracy: Callable[[Arch], float], n: int, rng: np.random.Generator,
                  alpha: float = 1.0) -> tuple[AccuracyPredictor, list[Arch], list[float]]:
    """Sample ``n`` distinct archs, measure ``accuracy(arch)`` (e.g. the supernet's
    ``SupernetEvaluator.accuracy``), fit a predictor; returns it with its training data."""
    archs = sample_distinct(space, n, rng)
    scores = [float(accuracy(a)) for a in archs]
    return AccuracyPredictor(space, alpha).fit(archs, scores), archs, scores
