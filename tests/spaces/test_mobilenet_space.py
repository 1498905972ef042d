"""MobileNet-like space (DSM-NAS Sec. IV-C): text form, validity, distance, sampling, MAdds."""
from __future__ import annotations

import numpy as np
import pytest

from spacenas import registry
from spacenas.errors import SpacenasError
from spacenas.nn.madds_mobilenet import Cost, conv_cost, mbconv_cost, out_size, subnet_cost
from spacenas.nn.mobilenet_supernet import MobileNetShape
from spacenas.spaces.base import Arch
from spacenas.spaces.mobilenet import MobileNetSpace, block_of, token_of
from spacenas.subspace import Subspace

S = MobileNetSpace()


def test_registered_and_shape():
    sp = registry.space("mobilenet")
    assert isinstance(sp, MobileNetSpace)
    assert sp.n_decisions == 20
    assert sp.n_choices == (9, 9, 10, 10) * 5
    # per unit 9^2 + 9^3 + 9^4 = 81 + 729 + 6561 = 7371 valid settings
    assert sp.size == 7371 ** 5


def test_token_code_is_expansion_major():
    # paper: '1' = (E=3, R=3), '2' = (E=3, R=5) [the paper's "R=4" is a typo], ..., '9' = (E=6, R=7)
    assert token_of(3, 3) == "1" and token_of(5, 3) == "2" and token_of(7, 3) == "3"
    assert token_of(3, 4) == "4" and token_of(7, 6) == "9"
    assert block_of("5") == (5, 4) and block_of("0") is None
    for t in "123456789":
        assert token_of(*block_of(t)) == t
    with pytest.raises(SpacenasError, match="kernel size 4"):
        token_of(4, 3)


def test_parse_format_round_trip_and_layers():
    text = "7799" "1230" "5500" "9999" "1200"
    a = S.parse(text)
    assert S.format(a) == text
    assert S.parse("7799_1230_5500_9999_1200") == a
    assert S.depths(a) == (4, 3, 2, 4, 2)
    assert S.layers(a)[1] == ((3, 3), (5, 3), (7, 3))  # unit 2: '1','2','3' -> R=3,5,7 at E=3
    assert S.from_layers(S.layers(a)) == a
    rng = np.random.default_rng(0)
    for _ in range(50):
        b = S.sample(rng)
        assert S.parse(S.format(b)) == b


@pytest.mark.parametrize("text,msg", [
    ("779912305500999912", "18 layer tokens"),
    ("7799123055009999120x", "token 'x' at position 20"),
    ("77991230550099991 00", "token ' ' at position 18"),
    ("7099123055009999120" "0", "unit 1 '7099' has an absent layer among its first 2"),
    ("7799123055009909" "1200", "unit 4 '9909' has an absent layer 3 before a present layer 4"),
])
def test_parse_errors(text, msg):
    with pytest.raises(SpacenasError, match=msg):
        S.parse(text)


def test_parse_rejects_non_string():
    with pytest.raises(SpacenasError, match="must be a string"):
        S.parse(1234)


def test_validity_only_trailing_layers_absent():
    ok = S.parse("1100" * 5)
    assert S.is_valid(ok)
    # unit 1 layer 4 present after absent layer 3: choice index of '5' in an optional layer is 5
    bad = ok.replace(3, 5)
    assert not S.is_valid(bad)
    with pytest.raises(SpacenasError, match="violates"):
        S.check(bad)
    assert S.is_valid(ok.replace(2, 5))  # depth 3 is fine
    # every neighbour is valid, and '1100' units cannot gain layer 4 in one step
    nbrs = S.neighbors(ok)
    assert all(S.is_valid(b) for b in nbrs)
    # per unit: 2 mandatory layers x 8 other blocks + layer 3 x 9 blocks = 25; x 5 units
    assert len(nbrs) == 125


def test_distance_across_depths_hand_worked():
    a = S.parse("1100" "2222" "3330" "4400" "5555")
    b = S.parse("1111" "2200" "3330" "4450" "5556")
    # position by position: unit1 '00' vs '11' -> 2; unit2 '22' vs '00' -> 2; unit3 0;
    # unit4 '4400' vs '4450' -> 1; unit5 '5555' vs '5556' -> 1; total 6
    assert S.distance(a, b) == 6
    assert S.distance(a, a) == 0
    # depth 2 vs depth 4 of an otherwise equal unit: the two placeholders differ -> 2
    assert S.distance(S.parse("1100" * 5), S.parse("1111" + "1100" * 4)) == 2


def test_sample_uniform_over_valid_archs():
    rng = np.random.default_rng(1)
    archs = [S.sample(rng) for _ in range(3000)]
    assert all(S.is_valid(a) for a in archs)
    depths = np.array([S.depths(a) for a in archs]).ravel()
    # P(depth 4) = 6561/7371 = 0.890, P(3) = 729/7371 = 0.099, P(2) = 81/7371 = 0.011
    assert abs(np.mean(depths == 4) - 6561 / 7371) < 0.02
    assert abs(np.mean(depths == 3) - 729 / 7371) < 0.02
    assert S.sample(np.random.default_rng(5)) == S.sample(np.random.default_rng(5))


def test_ball_sampling_stays_valid_and_within_radius():
    center = S.parse("1100" "2222" "3330" "4400" "5555")
    ball = Subspace.ball(S, center, 3)
    rng = np.random.default_rng(0)
    for _ in range(100):
        b = ball.sample(rng)
        assert S.is_valid(b) and S.distance(b, center) <= 3


def test_mbconv_madds_hand_count():
    # c_in 8 -> c_out 12, E=4 (mid 32), R=5, stride 2, 8x8 -> 4x4
    # MAdds: expand 8*8*8*32 = 16384; depthwise 4*4*32*25 = 12800; project 4*4*32*12 = 6144
    # params: 8*32 + 2*32 = 320; 32*25 + 2*32 = 864; 32*12 + 2*12 = 408
    c = mbconv_cost(8, 8, 12, kernel=5, expansion=4, stride=2)
    assert c == Cost(16384 + 12800 + 6144, 320 + 864 + 408)
    assert out_size(8, 2) == 4 and out_size(7, 2) == 4 and out_size(5, 1) == 5
    assert conv_cost(4, 3, 6, 3) == Cost(4 * 4 * 6 * 3 * 9, 6 * 3 * 9 + 12)


def test_subnet_cost_grows_with_kernel_expansion_depth():
    small = subnet_cost(S.parse("1100" * 5))
    assert subnet_cost(S.parse("1200" + "1100" * 4)).madds > small.madds  # bigger kernel
    assert subnet_cost(S.parse("4100" + "1100" * 4)).madds > small.madds  # bigger expansion
    assert subnet_cost(S.parse("1110" + "1100" * 4)).madds > small.madds  # deeper
    # stem + head + classifier of the default shape: stem 8*8*8*1*9 = 4608 MAdds, 72+16 params;
    # head at 4x4: 16*24*64 = 24576, 1536+128; classifier 640 MAdds, 650 params
    shape = MobileNetShape()
    blocks = Cost(0, 0)
    h, c = 8, shape.stem_width
    for w, st, unit in zip(shape.widths, shape.strides, S.layers(S.parse("1100" * 5))):
        for l, (k, e) in enumerate(unit):
            blocks = blocks + mbconv_cost(h, c, w, k, e, st if l == 0 else 1)
            h, c = out_size(h, st if l == 0 else 1), w
    assert small == blocks + Cost(4608 + 24576 + 640, 88 + 1664 + 650)


def test_arch_of_other_space_rejected():
    with pytest.raises(SpacenasError, match="belongs to space"):
        S.format(Arch("nb201", (0,) * 20))
