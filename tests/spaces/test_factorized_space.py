"""FactorizedSpace: the A-DARTS op x activation space and a generic conv type x kernel split."""
import numpy as np
import pytest

from spacenas.errors import SpacenasError
from spacenas.spaces.base import Arch, Decision, SearchSpace
from spacenas.spaces.factorized import ACTIVATIONS, Factor, FactorizedSpace, NB201ActSpace
from spacenas.spaces.nb201 import NB201Space

TEXT = ("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|nor_conv_3x3~1|avg_pool_3x3~2|"
        " @act=selu,-,-,relu,swish,-")


def test_nb201_act_layout_and_size():
    s = NB201ActSpace()
    assert s.name == "nb201-act" and s.n_decisions == 12
    assert s.decisions[6].name == "1<-0:act" and s.decisions[6].choices == ACTIVATIONS
    # per edge: 3 ops without activation + 2 convs x 9 activations = 21 options; 21^6
    assert s.size == 21 ** 6 == 85_766_121


def test_text_round_trip_and_factor_access():
    s = NB201ActSpace()
    a = s.parse(TEXT)
    assert s.format(a) == TEXT
    assert s.factor_choices(a, "act") == ("selu", None, None, "relu", "swish", None)
    assert s.base_arch(a) == NB201Space().parse(TEXT.split(" @")[0])
    # not-applicable entries are stored as 0 (one representation per arch)
    assert a.choices[6:] == (ACTIVATIONS.index("selu"), 0, 0, 0, ACTIVATIONS.index("swish"), 0)


@pytest.mark.parametrize("bad, msg", [
    (TEXT.replace("@act=selu,-,-", "@act=selu,relu,-"), "does not apply"),
    (TEXT.replace("swish", "gelu"), "unknown act 'gelu'"),
    (TEXT.split(" @")[0], "expected"),
    (TEXT.replace("@act=", "@kernel="), "must read '@act=...'"),
    (TEXT[:-2], "needs 6 entries"),
])
def test_parse_errors(bad, msg):
    with pytest.raises(SpacenasError, match=msg):
        NB201ActSpace().parse(bad)


def test_fix_factor_and_validity():
    s = NB201ActSpace()
    a = s.parse(TEXT)
    b = s.fix_factor(a, "act", "relu")
    assert s.factor_choices(b, "act") == ("relu", None, None, "relu", "relu", None)
    assert s.base_arch(b) == s.base_arch(a)
    with pytest.raises(SpacenasError, match="allowed: relu"):
        s.fix_factor(a, "act", "tanh")
    with pytest.raises(SpacenasError, match="unknown factor 'kernel'"):
        s.fix_factor(a, "kernel", "3")
    # an activation on a skip edge is not canonical
    bad = Arch(s.name, a.choices[:7] + (3,) + a.choices[8:])
    assert not s.is_valid(bad)
    assert s.canonical(bad) == a


def test_neighbors_reset_inapplicable_factor():
    s = NB201ActSpace()
    a = s.parse(TEXT)
    nbrs = s.neighbors(a)
    assert all(s.is_valid(n) for n in nbrs) and len(set(nbrs)) == len(nbrs) and a not in nbrs
    # edge 0 conv3x3 -> skip: its selu disappears
    skip = [n for n in nbrs if n.choices[0] == 1]
    assert len(skip) == 1 and s.factor_choices(skip[0], "act")[0] is None
    # per edge: 4 other ops, plus 8 other activations on the 3 conv edges
    assert len(nbrs) == 6 * 4 + 3 * 8
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = s.sample(rng)
        assert s.is_valid(x) and s.parse(s.format(x)) == x
        assert s.mutate(x, rng) != x


class ToyConvSpace(SearchSpace):
    """Two layers, each 'conv', 'dwconv' or 'skip'; text 'conv/skip'."""

    name = "toy"
    _d = (Decision("l0", ("conv", "dwconv", "skip")), Decision("l1", ("conv", "dwconv", "skip")))

    @property
    def decisions(self):
        return self._d

    def parse(self, text):
        items = text.split("/")
        if len(items) != 2 or any(i not in self._d[0].choices for i in items):
            raise SpacenasError(f"bad toy arch {text!r}")
        return Arch(self.name, tuple(self._d[0].choices.index(i) for i in items))

    def format(self, arch):
        return "/".join(self._d[0].choices[c] for c in arch.choices)


def test_generic_conv_type_by_kernel_split():
    s = FactorizedSpace(ToyConvSpace(), [Factor("k", ("3", "5", "7"), ("conv", "dwconv")),
                                         Factor("exp", ("1", "6"), ("dwconv",))])
    assert s.name == "toy+k+exp" and s.n_decisions == 6
    # per layer: conv x 3 kernels + dwconv x 3 kernels x 2 expansions + skip = 3 + 6 + 1 = 10
    assert s.size == 100
    archs = list(s.enumerate())
    assert len(archs) == len(set(archs)) == 100 and all(s.is_valid(a) for a in archs)
    a = s.parse("dwconv/skip @k=5,- @exp=6,-")
    assert s.format(a) == "dwconv/skip @k=5,- @exp=6,-"
    assert s.factor_choices(a, "exp") == ("6", None)
    with pytest.raises(SpacenasError, match="distinct identifiers"):
        FactorizedSpace(ToyConvSpace(), [Factor("k", ("3",)), Factor("k", ("5",))])


def test_darts_act_rejects_base_not_in_canonical_order():
    """Activation entries follow the canonical pair order; another order would misattach them."""
    import re

    import numpy as np

    from spacenas import registry

    s = registry.space("darts-act")
    a = s.sample(np.random.default_rng(0))
    base, act = s.format(a).split(" @")
    assert s.parse(f"{base} @{act}") == a
    m = re.search(r"normal=\[(\('[^']+', \d\)), (\('[^']+', \d\))", base)
    swapped = base.replace(m.group(0), f"normal=[{m.group(2)}, {m.group(1)}")
    with pytest.raises(SpacenasError, match="canonical form"):
        s.parse(f"{swapped} @{act}")
