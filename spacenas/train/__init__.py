"""spacenas.train: retrain a found architecture from scratch and export it.

``train(arch, space, data, config, ...) -> TrainResult`` (see :mod:`spacenas.train.loop`),
``train_config(space, overrides) -> TrainConfig`` (the papers' defaults, see
:mod:`spacenas.train.config`), exports in :mod:`spacenas.train.export`.
"""
from spacenas.train.config import TRAIN_SPACES, TrainConfig, train_config
from spacenas.train.loop import TrainResult, build_network, count_madds, evaluate, resolve_arch, train

__all__ = ["TRAIN_SPACES", "TrainConfig", "TrainResult", "build_network", "count_madds", "evaluate",
           "resolve_arch", "train", "train_config"]
