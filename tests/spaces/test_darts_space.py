"""The DARTS genotype space: text form, constraints, size, sampling."""
from __future__ import annotations

import numpy as np
import pytest

from spacenas import registry
from spacenas.errors import SpacenasError
from spacenas.spaces.base import Arch
from spacenas.spaces.darts import OPS, DARTSSpace

# DARTS (2nd order) cells as published by Liu et al.; pairs of a node are ordered by strength there
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=range(2, 6))")


@pytest.fixture(scope="module")
def space() -> DARTSSpace:
    return DARTSSpace()


def test_structure_and_size(space):
    assert len(OPS) == 7 and "none" not in OPS
    assert space.n_decisions == 32
    assert space.decisions[0].choices == ("0", "1") and space.decisions[-2].choices == ("0", "1", "2", "3", "4")
    # per cell: node inputs C(2,2)*C(3,2)*C(4,2)*C(5,2) = 1*3*6*10 = 180, ops 49^4 = 5764801
    assert space.size == (180 * 5764801) ** 2


def test_parse_canonicalises_and_round_trips(space):
    arch = space.parse(DARTS_V2)
    g = space.genotype(arch)
    # node 4 was given as ('sep_conv_3x3', 1), ('skip_connect', 0): stored sorted by input
    assert g["normal"][4:6] == [("skip_connect", 0), ("sep_conv_3x3", 1)]
    text = space.format(arch)
    assert text.startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1),")
    assert "normal_concat=[2, 3, 4, 5]" in text and text.endswith("reduce_concat=[2, 3, 4, 5])")
    assert space.parse(text) == arch


@pytest.mark.parametrize("bad, msg", [
    ("nonsense(", "not parseable"),
    ("Foo(normal=[])", "expected Genotype"),
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('none', 2)"), "unknown op 'none'"),
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 0)"), "uses input 0 twice"),
    (DARTS_V2.replace("normal=[('sep_conv_3x3', 0)", "normal=[('sep_conv_3x3', 2)"), "allowed 0..1"),
    (DARTS_V2.replace("normal_concat=range(2, 6)", "normal_concat=[2, 3]"), "normal_concat"),
    (DARTS_V2.replace(", ('max_pool_3x3', 1)], reduce_concat", "], reduce_concat"), "8 \\(op, input\\) pairs"),
])
def test_parse_errors(space, bad, msg):
    with pytest.raises(SpacenasError, match=msg):
        space.parse(bad)


def test_is_valid_requires_distinct_canonical_inputs(space):
    good = space.parse(DARTS_V2)
    c = list(good.choices)
    c[0], c[2] = 1, 0  # node 2 of normal: inputs (1, 0) not canonical
    assert not space.is_valid(Arch("darts", tuple(c)))
    c[0], c[2] = 1, 1  # same input twice
    with pytest.raises(SpacenasError, match="constraints"):
        space.make(c)


def test_sample_valid_deterministic_and_covers_inputs(space):
    a = [space.sample(np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1] and space.is_valid(a[0])
    rng = np.random.default_rng(0)
    pairs = {tuple(space.sample(rng).choices[12:15:2]) for _ in range(400)}  # normal node 5 inputs
    assert pairs == {(i, j) for i in range(5) for j in range(i + 1, 5)}  # all 10 pairs appear


def test_neighbors_are_valid_and_at_distance_one(space):
    arch = space.sample(np.random.default_rng(1))
    nb = space.neighbors(arch)
    assert nb and all(space.is_valid(b) and space.distance(arch, b) == 1 for b in nb)
    assert space.mutate(arch, np.random.default_rng(0)) in nb


def test_registered():
    assert isinstance(registry.space("darts"), DARTSSpace)
