"""Open cell space (AutoSpace Sec. 3.1, 4.3), Eq. 2, layer-wise spaces and the cell modules."""
import numpy as np
import pytest
import torch

from spacenas import registry
from spacenas.errors import SpacenasError
from spacenas.nn.open_cell_net import LayerwiseNet, NetPlan, OpenCell, make_block
from spacenas.spaces.open_cell import (IRB_REFERENCE, LayerwiseSpace, OpenCellSpace, hamming_distance, irb_space,
                                       load_layerwise)

B = "r1:mul:|conv1x1~0|+|zero~0|identity~1|+|zero~0|conv3x3~1|identity~2|"


def test_size_and_registry():
    s = registry.space("open-cell")
    assert isinstance(s, OpenCellSpace)
    assert s.size == 5 ** 6 * 3 * 2 == 93750  # paper Sec. 4.3
    assert [d.name for d in s.decisions[:3]] == ["1<-0", "2<-0", "2<-1"]


def test_parse_format_roundtrip_and_views():
    s, rng = OpenCellSpace(), np.random.default_rng(1)
    for _ in range(50):
        a = s.sample(rng)
        assert s.parse(s.format(a)) == a
    ref = s.parse(IRB_REFERENCE)
    assert s.ratio(ref) == 6 and s.aggregation(ref) == "add"
    m = s.op_matrix(ref)
    assert m[0, 1] == 3 and m[1, 2] == 4 and m[2, 3] == 4 and m.sum() == 11
    assert s.live_edges(ref) == [(1, 0), (2, 1), (3, 2)]


@pytest.mark.parametrize("text, msg", [
    ("r2:add:|zero~0|+|zero~0|zero~1|+|zero~0|zero~1|zero~2|", "ratio"),
    ("r1:sum:|zero~0|+|zero~0|zero~1|+|zero~0|zero~1|zero~2|", "aggregation"),
    ("r1:add:|zero~0|+|zero~0|zero~1|", "node groups"),
    ("r1:add:|pool~0|+|zero~0|zero~1|+|zero~0|zero~1|zero~2|", "unknown op"),
    ("r1:add:|zero~1|+|zero~0|zero~1|+|zero~0|zero~1|zero~2|", "must read"),
    ("r1:add:|zero~0|+|zero~0|+|zero~0|zero~1|zero~2|", "incoming edges"),
    ("nonsense", "expected"),
])
def test_parse_errors_are_clear(text, msg):
    with pytest.raises(SpacenasError, match=msg):
        OpenCellSpace().parse(text)


def test_hamming_eq2_by_hand():
    s = OpenCellSpace()
    a, b = s.parse(IRB_REFERENCE), s.parse(B)
    # op matrices differ at 0->1 (dwconv3x3 vs conv1x1) and 1->3 (zero vs conv3x3): 2 / (4*3) = 1/6
    assert s.distance_to(a, b) == pytest.approx(2 / 12)
    # adjacency: A has 0->1, 1->2, 2->3; B also 1->3: |A - B| sums to 1 -> 1/12 (literal Eq. 2)
    assert hamming_distance(s.adjacency(a), s.adjacency(b)) == pytest.approx(1 / 12)
    assert hamming_distance(s.op_matrix(a), s.op_matrix(a)) == 0.0
    with pytest.raises(SpacenasError):
        hamming_distance(np.zeros((3, 3)), np.zeros((4, 4)))


def test_mutation_changes_one_decision():
    s, rng = OpenCellSpace(), np.random.default_rng(0)
    a = s.parse(B)
    for _ in range(20):
        c = s.mutate(a, rng)
        assert s.distance(a, c) == 1 and s.is_valid(c)


def test_layerwise_space_text_forms_and_file(tmp_path):
    sp = LayerwiseSpace([[IRB_REFERENCE, B], ["irb_k3_e3", "zero"]], name="mine")
    a = sp.make([1, 0])
    assert sp.format(a) == f"{B} ; irb_k3_e3"
    assert sp.parse(sp.format(a)) == a
    assert LayerwiseSpace.from_description(sp.describe(), "mine").layers == sp.layers
    with pytest.raises(SpacenasError, match="not a choice of layer 1"):
        sp.parse(f"{B} ; irb_k7_e6")
    with pytest.raises(SpacenasError, match="2 layers"):
        sp.parse(B)
    sp.save(tmp_path / "s.json")
    assert load_layerwise(tmp_path / "s.json").layers == sp.layers
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SpacenasError, match="not a layer-wise space"):
        load_layerwise(tmp_path / "bad.json")
    with pytest.raises(SpacenasError, match="does not exist"):
        load_layerwise(tmp_path / "none.json")
    m = irb_space(3)
    assert m.n_choices == (7, 7, 7) and m.size == 343
    plan = NetPlan(stem_channels=8, channels=[8, 16, 16], strides=[1, 2, 1])
    assert plan.skippable() == [True, False, True]
    m = irb_space(3, skippable=plan.skippable())
    assert m.n_choices == (7, 6, 7) and "zero" not in m.layers[1]


def test_open_cell_module_shapes_residual_and_mul():
    x = torch.randn(2, 8, 6, 6)
    cell = OpenCell(B, 8, 8, 1)
    assert cell(x).shape == x.shape and cell.residual
    down = make_block(B, 8, 12, 2)
    assert down(x).shape == (2, 12, 3, 3)
    dead = "r3:add:|zero~0|+|zero~0|conv3x3~1|+|zero~0|zero~1|conv1x1~2|"
    assert torch.equal(OpenCell(dead, 8, 8)(x), x)  # skipped layer
    assert not OpenCell(dead, 8, 12, 2)(x).any()
    # mul aggregation: node 3 = identity(node 1) * conv3x3(node 1) -> product of the two edge outputs
    cell = OpenCell(B, 8, 8).eval()
    with torch.no_grad():
        n0 = cell.inp(x)
        n1 = cell.edges["1_0"](n0)
        n2 = n1
        n3 = cell.edges["3_1"](n1) * n2
        assert torch.allclose(cell(x), x + cell.out(n3))


def test_layerwise_net_is_reproducible():
    plan = NetPlan(stem_channels=8, channels=[8, 8], strides=[1, 2])
    a = LayerwiseNet.from_blocks(plan, [IRB_REFERENCE, B], torch.Generator().manual_seed(3))
    b = LayerwiseNet.from_blocks(plan, [IRB_REFERENCE, B], torch.Generator().manual_seed(3))
    x = torch.randn(4, 1, 8, 8)
    assert torch.equal(a(x), b(x)) and a(x).shape == (4, 10)
    with pytest.raises(Exception):
        NetPlan(channels=[8, 8], strides=[1])
