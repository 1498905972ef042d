"""Evaluation by table look-up (NAS-Bench-201)."""
from __future__ import annotations

from typing import Any

from spacenas.benchmarks.nb201 import NB201Benchmark, load_nb201
from spacenas.errors import unknown
from spacenas.evaluators.base import Evaluator, Result
from spacenas.spaces.base import Arch

SEARCH_METRICS = ("valid", "test")


class TabularEvaluator(Evaluator):
    """Looks architectures up in a benchmark table.

    The search reward is ``search_metric`` (``valid`` by default: the papers' protocol is to
    search on validation accuracy and report test accuracy). The budget unit is the *query*:
    each new architecture costs 1, and re-querying an architecture already seen costs nothing
    (the table has no per-arch training time offline; see ``docs/protocol.md``).
    """

    def __init__(self, dataset: str = "cifar10", search_metric: str = "valid",
                 benchmark: NB201Benchmark | None = None) -> None:
        self.benchmark = benchmark or load_nb201()
        self.space = self.benchmark.space
        self.benchmark.column(dataset, "test")  # validates the dataset name
        if search_metric not in SEARCH_METRICS:
            raise unknown("search metric", search_metric, SEARCH_METRICS)
        self.dataset = dataset
        self.search_metric = search_metric
        self._seen: set[tuple[int, ...]] = set()

    def evaluate(self, arch: Arch) -> Result:
        metrics = self.benchmark.query(arch, self.dataset)
        new = arch.choices not in self._seen
        self._seen.add(arch.choices)
        return Result(score=metrics[self.search_metric], metrics=metrics, cost=1.0 if new else 0.0)

    @property
    def spent(self) -> float:
        return float(len(self._seen))

    def state_dict(self) -> dict[str, Any]:
        return {"seen": sorted(self._seen)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._seen = {tuple(c) for c in state["seen"]}
