from math import comb

import numpy as np
import pytest

from spacenas.errors import SpacenasError
from spacenas.spaces.nb201 import NB201Space
from spacenas.subspace import Subspace


def test_ball_size_matches_binomial_count():
    s = NB201Space()
    c = s.make([3, 3, 3, 1, 3, 3])
    # archs within distance M of a center: sum_d C(6, d) * 4^d
    for m in range(7):
        ball = Subspace.ball(s, c, m)
        expected = sum(comb(6, d) * 4**d for d in range(m + 1))
        assert ball.size == expected
        assert sum(1 for a in s.enumerate() if a in ball) == expected
    assert Subspace.ball(s, c, 6).size == 15625


def test_ball_sampling_is_uniform_and_inside():
    s = NB201Space()
    c = s.make([0, 1, 2, 3, 4, 0])
    ball = Subspace.ball(s, c, 1)  # 1 + 6*4 = 25 archs
    rng = np.random.default_rng(0)
    draws = [ball.sample(rng) for _ in range(5000)]
    assert all(a in ball for a in draws)
    counts = np.array(list({a: 0 for a in draws}.keys()).__len__())
    assert counts == 25
    freq = np.bincount([s.distance(a, c) for a in draws], minlength=2) / 5000
    assert abs(freq[0] - 1 / 25) < 0.015  # center drawn ~1/25 of the time


def test_mask_shrink_expand_and_errors():
    s = NB201Space()
    full = Subspace.full(s)
    assert full.size == 15625
    drop_none = np.zeros((6, 5), bool)
    drop_none[:, 0] = True
    z = full.shrink(drop_none)
    assert z.size == 4**6
    assert s.make([0, 1, 1, 1, 1, 1]) not in z
    assert z.expand(drop_none).size == 15625
    with pytest.raises(SpacenasError, match="no choice"):
        full.shrink(np.ones((6, 5), bool))
    masked_ball = Subspace(s, z.mask, center=s.make([1] * 6), radius=2)
    assert masked_ball.size == sum(comb(6, d) * 3**d for d in range(3))


def test_masked_ball_sampling_is_uniform_over_members():
    from scipy.stats import chisquare

    s = NB201Space()
    mask = np.ones((6, 5), bool)
    mask[:, 0] = False  # no `none`
    mask[2, 4] = False
    ball = Subspace(s, mask, center=s.make([1, 2, 3, 4, 1, 2]), radius=1)
    members = [a for a in s.enumerate() if a in ball]
    assert len(members) == ball.size == 1 + 5 * 3 + 2  # decision 2 keeps 2 other choices
    rng = np.random.default_rng(1)
    draws = [ball.sample(rng) for _ in range(6000)]
    counts = np.array([sum(d == m for d in draws) for m in members])
    assert counts.sum() == 6000  # nothing outside the ball
    assert chisquare(counts).pvalue > 1e-3


def test_subspace_does_not_write_into_the_callers_mask():
    s = NB201Space()
    m = np.ones((6, 5), bool)
    Subspace(s, m).shrink(np.eye(6, 5, dtype=bool))
    assert m.all()
