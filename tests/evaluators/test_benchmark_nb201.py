import pytest

from spacenas.benchmarks import load_nb201
from spacenas.errors import SpacenasError
from spacenas.evaluators import TabularEvaluator

DRNAS = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_shipped_table_pins_known_values():
    b = load_nb201()
    assert b.ops.shape == (15625, 6)
    assert round(b.optimum("cifar10", "test")[1], 2) == 94.37
    assert round(b.optimum("cifar100", "test")[1], 2) == 73.51
    assert round(b.optimum("imagenet16-120", "test")[1], 2) == 47.31
    assert round(b.optimum("cifar10", "valid")[1], 2) == 91.61
    a = b.space.parse(DRNAS)
    got = [round(b.accuracy(a, d, "test"), 2) for d in ("cifar10", "cifar100", "imagenet16-120")]
    assert got == [94.36, 73.51, 46.34]
    assert b.query(a, "cifar10")["index"] == 9930


def test_tabular_evaluator_counts_unique_queries():
    e = TabularEvaluator("cifar100")
    a = e.space.parse(DRNAS)
    r = e.evaluate(a)
    assert r.score == pytest.approx(73.4933) and r.cost == 1.0
    assert e.evaluate(a).cost == 0.0 and e.spent == 1
    e2 = TabularEvaluator("cifar100", search_metric="test")
    assert e2.evaluate(a).score == pytest.approx(73.5133)


def test_bad_names():
    with pytest.raises(SpacenasError, match="unknown dataset 'cifar1000'.*cifar10, cifar100, imagenet16-120"):
        TabularEvaluator("cifar1000")
    with pytest.raises(SpacenasError, match="search metric"):
        TabularEvaluator("cifar10", search_metric="train")
