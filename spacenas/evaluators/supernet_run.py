"""The supernet evaluator of a query-based *run* on the MobileNet-like space (CLI, sweeps, run API).

:class:`SupernetRunEvaluator` wraps a :class:`~spacenas.evaluators.supernet.SupernetEvaluator` for
:class:`~spacenas.runner.Runner`. It is built cheaply (the data set is loaded, the options and the
MAdds limit are checked) and trains the supernet only on its first ``evaluate`` -- or loads it from
a cache file, so ``--resume`` and the methods of a sweep never retrain it. Training follows
:func:`~spacenas.evaluators.supernet.make_supernet_evaluator` exactly (one ``torch.Generator(seed)``
draws the held-out split, the initial weights and the training order), so a run gives the same
supernet, scores and result whether its supernet was trained now or loaded.

Scores: held-out supernet accuracy (percent) of the arch, ``infeasible_score`` (-1) when its MAdds
exceed the limit. Each result's metrics also carry ``valid`` (= ``accuracy``, the search metric), so
``RunResult.valid`` is filled; the *test* accuracy (supernet weights, ``data.test``) is measured
only for the run's answer (:meth:`answer_metrics`), not for every query.

MAdds limit (``madds_limit``): a number (``1.5M``, ``800k``, ``2e6``) or ``P%`` = the P-th
percentile of the MAdds of 2000 uniformly sampled archs (fixed generator, seed 0: the same limit
for every seed and method). A limit below the smallest architecture's MAdds (every unit at depth 2
with E=3, R=3: MAdds grow with depth, kernel and expansion) is refused: no arch could be feasible.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field

from spacenas.config import StrictModel, build_config
from spacenas.devices import resolve_device
from spacenas.errors import SpacenasError
from spacenas.runs import torch_save
from spacenas.evaluators.base import Evaluator, Result
from spacenas.spaces.base import Arch

CACHE_FILE = "supernet.pt"
_LIMIT_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKMG%]?)\s*$")
_SCALE = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
QUANTILE_SAMPLES = 2000


class SupernetRunConfig(StrictModel):
    """Supernet options of a run (``RunSpec.supernet``; CLI ``--epochs``, ``--madds-limit``,
    ``--supernet KEY=VALUE``)."""

    epochs: int = Field(10, ge=1, description="supernet training epochs")
    madds_limit: float | str | None = Field(None, description="feasible iff MAdds <= this; a number "
                                            "(suffix k/M/G) or 'P%' (percentile of random archs)")
    valid_fraction: float = Field(0.2, gt=0, lt=1, description="held-out share of the training set")
    train_limit: int | None = Field(None, ge=2, description="train the supernet on this many images")
    valid_limit: int | None = Field(None, ge=1, description="score archs on this many held-out images")
    shape: dict[str, Any] = Field(default_factory=dict, description="MobileNetShape overrides")
    lr: float = Field(0.1, gt=0)
    batch_size: int = Field(64, ge=1)
    calib_size: int = Field(256, ge=2, description="images of the BN recalibration batch")
    eval_batch_size: int = Field(512, ge=1)


def parse_madds_limit(value: float | str | None) -> tuple[float | None, float | None]:
    """``(absolute, percentile)``: ``"1.5M"`` -> ``(1.5e6, None)``, ``"50%"`` -> ``(None, 50.0)``."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        raise SpacenasError(f"bad MAdds limit {value!r}")
    if isinstance(value, (int, float)):
        n, suffix = float(value), ""
    else:
        m = _LIMIT_RE.match(value)
        if not m:
            raise SpacenasError(f"bad MAdds limit {value!r} (allowed: a number with optional suffix k, M, G, "
                                "e.g. 1.5M, or a percentile of random archs, e.g. 50%)")
        n, suffix = float(m.group(1)), m.group(2)
    if suffix == "%":
        if not 0 < n <= 100:
            raise SpacenasError(f"bad MAdds limit {value!r}: a percentile must be in (0, 100]")
        return None, n
    v = n * _SCALE[suffix]
    if not np.isfinite(v) or v <= 0:
        raise SpacenasError(f"bad MAdds limit {value!r}: must be a positive number")
    return v, None


class SupernetRunEvaluator(Evaluator):
    """A lazily trained (or cache-loaded) supernet evaluator with an MAdds limit; see the module doc."""

    search_metric = "valid"

    def __init__(self, dataset: str, seed: int, config: dict[str, Any] | SupernetRunConfig | None = None, *,
                 data_dir: str | Path | None = None, cache: str | Path | None = None,
                 device: torch.device | str = "cpu", progress: bool = False) -> None:
        from spacenas.data import load_dataset
        from spacenas.nn.madds_mobilenet import subnet_cost
        from spacenas.nn.mobilenet_supernet import MobileNetShape
        from spacenas.spaces.mobilenet import MobileNetSpace

        self.config = config if isinstance(config, SupernetRunConfig) else build_config(
            SupernetRunConfig, config, where="supernet options")
        if data_dir is not None and not Path(data_dir).expanduser().is_dir():
            raise SpacenasError(f"bad data dir {data_dir}: not a directory")
        self.data = load_dataset(dataset, data_dir)
        self.dataset, self.seed, self.device, self.progress = dataset, int(seed), device, progress
        resolve_device(device)  # unknown / unavailable devices: one line before any training
        self.cache = Path(cache) if cache is not None else None
        self.space = MobileNetSpace()
        self.shape = build_config(MobileNetShape, {"in_channels": self.data.in_channels,
                                                   "num_classes": self.data.num_classes,
                                                   "image_size": self.data.image_size, **self.config.shape},
                                  where="supernet shape")
        absolute, pct = parse_madds_limit(self.config.madds_limit)
        if pct is not None:
            rng = np.random.default_rng(0)
            sample = [subnet_cost(self.space.sample(rng), self.shape, self.space).madds
                      for _ in range(QUANTILE_SAMPLES)]
            absolute = float(np.percentile(sample, pct))
        self.madds_limit = absolute
        smallest = subnet_cost(self.space.parse("1100" * 5), self.shape, self.space).madds
        if absolute is not None and absolute < smallest:
            raise SpacenasError(f"MAdds limit {absolute / 1e6:.4g}M is below the smallest architecture's "
                                f"{smallest / 1e6:.4g}M (1100 x 5 on this data): no architecture is feasible "
                                f"(allowed: >= {smallest / 1e6:.4g}M, or a percentile such as 50%)")
        self.constraints = [f"madds<={absolute:g}"] if absolute is not None else []
        self.losses: list[float] | None = None
        self._inner = None
        self._pending: dict[str, Any] | None = None

    # ----- the supernet ----------------------------------------------------------------------
    def cache_key(self) -> dict[str, Any]:
        """What determines the trained weights (compared when a cache file is loaded)."""
        c = self.config
        return {"dataset": self.dataset, "seed": self.seed, "epochs": c.epochs, "valid_fraction": c.valid_fraction,
                "train_limit": c.train_limit, "shape": self.shape.model_dump(mode="json"), "lr": c.lr,
                "batch_size": c.batch_size}

    @property
    def inner(self):
        """The :class:`SupernetEvaluator` (trains or loads the supernet on first use)."""
        if self._inner is None:
            self._inner = self._build()
            if self._pending is not None:
                self._inner.load_state_dict(self._pending)
                self._pending = None
        return self._inner

    def _build(self):
        from spacenas.evaluators.supernet import SupernetEvaluator
        from spacenas.nn.mobilenet_supernet import MobileNetSupernet, train_supernet

        c = self.config
        g = torch.Generator().manual_seed(self.seed)  # same draws as make_supernet_evaluator
        train, valid = self.data.search_split(g, 1.0 - c.valid_fraction)
        if c.train_limit is not None:
            train = train.subset(torch.arange(min(c.train_limit, len(train))))
        if c.valid_limit is not None:
            valid = valid.subset(torch.arange(min(c.valid_limit, len(valid))))
        net = MobileNetSupernet(self.shape, generator=g)
        stored = self._load_cache()
        if stored is not None:
            net.load_state_dict(stored["state_dict"])
            self.losses = list(stored["losses"])
        else:
            self.losses = train_supernet(net, train, g, epochs=c.epochs, lr=c.lr, batch_size=c.batch_size,
                                         device=self.device, progress=self.progress)
            if self.cache is not None:
                self.save_cache(net)
        cfg = {"madds_limit": self.madds_limit, "calib_size": c.calib_size, "batch_size": c.eval_batch_size}
        return SupernetEvaluator(net, valid, train, config=cfg, device=self.device)

    def _load_cache(self) -> dict[str, Any] | None:
        if self.cache is None or not self.cache.exists():
            return None
        try:
            stored = torch.load(self.cache, map_location="cpu", weights_only=True)
            key = stored["key"]
            if not isinstance(key, dict) or not isinstance(stored.get("state_dict"), dict):
                raise TypeError("not a supernet cache ('key' and 'state_dict' must be dicts)")
        except Exception as e:  # noqa: BLE001 - any unreadable file is the same user problem
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
            raise SpacenasError(f"cannot read supernet cache {self.cache}: {type(e).__name__}: {first}; "
                                "delete it to retrain") from None
        if key != self.cache_key():
            diff = sorted(k for k in set(key) | set(self.cache_key()) if key.get(k) != self.cache_key().get(k))
            raise SpacenasError(f"supernet cache {self.cache} was trained with other settings (differs in: "
                                f"{', '.join(diff)}); delete it or use another directory")
        return stored

    def save_cache(self, net) -> None:
        try:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            torch_save({"key": self.cache_key(), "state_dict": net.state_dict(), "losses": self.losses},
                       self.cache)  # atomically (spacenas.runs)
        except OSError as e:
            raise SpacenasError(f"cannot write supernet cache {self.cache}: {e.strerror or e}") from None

    def ensure_trained(self) -> None:
        """Train (or load) the supernet now; with a cache path, the cache file exists afterwards."""
        _ = self.inner

    # ----- Evaluator ------------------------------------------------------------------------
    def evaluate(self, arch: Arch) -> Result:
        r = self.inner.evaluate(arch)
        return Result(r.score, {**r.metrics, "valid": r.metrics["accuracy"]}, r.cost)

    def answer_metrics(self, arch: Arch, res: Result) -> dict[str, Any]:
        """Metrics of the run's answer, with its supernet accuracy on the test set (``test``)."""
        return {**res.metrics, "test": self.inner.accuracy(arch, self.data.test)}

    @property
    def spent(self) -> float:
        if self._inner is None:
            return float(len(self._pending["cache"])) if self._pending is not None else 0.0
        return self._inner.spent

    def state_dict(self) -> dict[str, Any]:
        if self._inner is None:
            return self._pending or {"cache": []}
        return self._inner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self._inner is None:
            self._pending = state
        else:
            self._inner.load_state_dict(state)
