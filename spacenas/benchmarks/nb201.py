"""The NAS-Bench-201 table shipped inside the package.

Source: ``shared/data/nb201/nb201.csv`` converted by ``scripts/build_nb201_data.py``.
Accuracies are percentages, means over the benchmark's seeds after 200 epochs:

* ``<dataset>_valid``: validation accuracy (CIFAR-10: trained on the train half, evaluated on
  the valid half; CIFAR-100 / ImageNet16-120: the x-valid half of the test set).
* ``<dataset>_test``: test accuracy (CIFAR-10: trained on the full train set).

Protocol of the papers: search on ``valid``, report ``test``. The 12-epoch table and the
per-architecture training times (DSM-NAS's budget unit) are *not* available offline, so budgets
are counted in queries (see ``docs/protocol.md``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from spacenas.errors import SpacenasError, unknown
from spacenas.spaces.base import Arch
from spacenas.spaces.nb201 import NB201Space

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
_COLUMN_PREFIX = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "imagenet16"}
SPLITS: tuple[str, ...] = ("valid", "test")
N_ARCHS = 15625


def _code(choices: tuple[int, ...] | np.ndarray) -> int:
    """Base-5 code of an op tuple (first edge is the least significant digit)."""
    return int(sum(int(c) * 5**i for i, c in enumerate(choices)))


@dataclass(frozen=True)
class NB201Benchmark:
    """Per-architecture metrics of NAS-Bench-201, indexed by :class:`Arch`."""

    space: NB201Space
    ops: np.ndarray  # uint8 [N, 6]
    index: np.ndarray  # int32 [N], the benchmark's own index
    params: np.ndarray  # int32 [N]
    metrics: np.ndarray  # float64 [N, n_metrics]
    metric_names: tuple[str, ...]
    row_of_code: np.ndarray  # int32 [5**6], row of each base-5 code

    def __post_init__(self) -> None:
        n = len(self.ops)
        if n != N_ARCHS or self.metrics.shape != (N_ARCHS, 2 * len(DATASETS)):
            raise SpacenasError(
                f"NB201 table is corrupt: {n} archs x {self.metrics.shape[1]} metrics, expected {N_ARCHS} x 6")
        if len(set(self.row_of_code.tolist())) != N_ARCHS:
            raise SpacenasError("NB201 table is corrupt: architectures are not unique")

    def row(self, arch: Arch) -> int:
        self.space.check(arch)
        return int(self.row_of_code[_code(arch.choices)])

    def column(self, dataset: str, split: str) -> int:
        if dataset not in DATASETS:
            raise unknown("dataset", dataset, DATASETS)
        if split not in SPLITS:
            raise unknown("split", split, SPLITS)
        return self.metric_names.index(f"{_COLUMN_PREFIX[dataset]}_{split}")

    def accuracy(self, arch: Arch, dataset: str, split: str = "test") -> float:
        """Accuracy in percent of ``arch`` on ``dataset``'s ``split`` (valid or test)."""
        return float(self.metrics[self.row(arch), self.column(dataset, split)])

    def query(self, arch: Arch, dataset: str) -> dict[str, float]:
        """All metrics of ``arch`` for ``dataset``: valid, test (percent) and params."""
        r = self.row(arch)
        return {
            "valid": float(self.metrics[r, self.column(dataset, "valid")]),
            "test": float(self.metrics[r, self.column(dataset, "test")]),
            "params": float(self.params[r]),
            "index": float(self.index[r]),
        }

    def arch_at(self, row: int) -> Arch:
        return Arch(self.space.name, tuple(int(c) for c in self.ops[row]))

    def optimum(self, dataset: str, split: str = "test") -> tuple[Arch, float]:
        """Best arch and its accuracy by ``split`` on ``dataset``."""
        col = self.metrics[:, self.column(dataset, split)]
        r = int(np.argmax(col))
        return self.arch_at(r), float(col[r])

    def column_values(self, dataset: str, split: str) -> np.ndarray:
        return self.metrics[:, self.column(dataset, split)]


@lru_cache(maxsize=1)
def load_nb201() -> NB201Benchmark:
    """Load the shipped table (cached; the table is read-only)."""
    path = resources.files("spacenas.benchmarks") / "data" / "nb201.npz"
    try:
        with resources.as_file(path) as p, np.load(p) as z:
            ops, index, params = z["ops"], z["index"], z["params"]
            metrics, names = z["metrics"], tuple(str(s) for s in z["metric_names"])
    except (OSError, KeyError, ValueError) as e:
        raise SpacenasError(f"cannot read the shipped NB201 table {path}: {e}") from e
    row_of_code = np.full(5**6, -1, dtype=np.int32)
    codes = (ops.astype(np.int64) * (5 ** np.arange(6))).sum(axis=1)
    row_of_code[codes] = np.arange(len(ops), dtype=np.int32)
    for a in (ops, index, params, metrics, row_of_code):
        a.setflags(write=False)
    return NB201Benchmark(NB201Space(), ops, index, params, metrics, names, row_of_code)
