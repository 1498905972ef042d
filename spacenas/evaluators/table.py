"""Query evaluators on tabular benchmarks (named in :data:`spacenas.registry.TABLES`)."""
from __future__ import annotations


def nb201_evaluator(dataset: str, search_metric: str = "valid", constraints: tuple[str, ...] | list[str] = (),
                    objectives: str | None = None):
    """The NB201 table evaluator.

    Plain :class:`TabularEvaluator` for cifar10 / cifar100 / imagenet16-120 without constraints or
    objectives; otherwise the hardware evaluator
    (:func:`~spacenas.evaluators.hw_tabular.make_hw_evaluator`, ``penalize=True``: an arch over a
    hard limit scores below every feasible arch, so no strategy prefers it).
    """
    from spacenas.benchmarks.hw import TASK_DATASETS, check_dataset

    check_dataset(dataset)  # an unknown name lists every table data set (NAS-Bench-360 tasks included)
    if dataset in TASK_DATASETS or constraints or objectives:
        from spacenas.evaluators.hw_tabular import make_hw_evaluator

        return make_hw_evaluator(dataset, search_metric, constraints=list(constraints), objectives=objectives,
                                 penalize=True)
    from spacenas.evaluators.tabular import TabularEvaluator

    return TabularEvaluator(dataset, search_metric)


def nb201_entry(arch, dataset: str) -> dict[str, float] | None:
    """The NB201 table's valid/test accuracy of ``arch`` on ``dataset`` (None: not a table data set)."""
    from spacenas.benchmarks.nb201 import DATASETS, load_nb201

    if dataset not in DATASETS:
        return None
    q = load_nb201().query(arch, dataset)
    return {"valid": q["valid"], "test": q["test"]}
