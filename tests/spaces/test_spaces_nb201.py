import numpy as np
import pytest

from spacenas.errors import SpacenasError
from spacenas.spaces.nb201 import OPS, NB201Space

DRNAS = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_parse_format_roundtrip():
    s = NB201Space()
    a = s.parse(DRNAS)
    assert a.choices == (3, 3, 3, 1, 3, 3)
    assert s.format(a) == DRNAS
    assert s.size == 15625 == len(list(s.enumerate()))


@pytest.mark.parametrize("bad,fragment", [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|", "node groups"),
    ("|conv~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", "unknown op 'conv'"),
    ("|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", "op~0"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "needs 2 incoming"),
    ("nor_conv_3x3~0+|none~0|none~1|+|none~0|none~1|none~2|", "start and end"),
])
def test_parse_errors_are_clear(bad, fragment):
    with pytest.raises(SpacenasError, match=fragment):
        NB201Space().parse(bad)


def test_neighbors_mutate_distance_onehot():
    s = NB201Space()
    a = s.parse(DRNAS)
    nb = s.neighbors(a)
    assert len(nb) == 6 * 4 and len(set(nb)) == 24
    assert all(s.distance(a, b) == 1 for b in nb)
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert s.distance(a, s.mutate(a, rng)) == 1
    b = s.parse("|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|")
    assert s.distance(a, b) == 2  # edges 1<-0 and 3<-1 differ
    oh = s.one_hot(a)
    assert oh.shape == (6, len(OPS)) and oh.sum() == 6 and oh[3, 1] == 1


def test_sample_is_reproducible_and_checked():
    s = NB201Space()
    x = [s.sample(np.random.default_rng(7)) for _ in range(3)]
    assert x[0] == x[1] == x[2]
    with pytest.raises(SpacenasError, match="allowed 0..4"):
        s.make([0, 0, 0, 0, 0, 9])
