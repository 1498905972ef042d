"""MAdds and parameter counts against hand counts and against hooks on the real modules."""
import numpy as np
import pytest
import torch

from spacenas.errors import SpacenasError
from spacenas.nn.madds import (Cost, block_cost, conv_cost, edge_cost, irb_cost, linear_cost, measure,
                               network_cost, open_cell_cost, out_size)
from spacenas.nn.open_cell_net import LayerwiseNet, NetPlan, make_block
from spacenas.spaces.open_cell import IRB_REFERENCE, OpenCellSpace


def test_conv_and_linear_hand_counts():
    # 3x3 conv 4 -> 8 at 5x5: weights 3*3*4*8 = 288; MAdds 288 * 25 = 7200; params 288 + 2*8 = 304
    assert conv_cost(4, 8, 3, 5) == Cost(7200, 304)
    # depthwise 3x3 on 8 channels at 5x5: weights 3*3*1*8 = 72; MAdds 72*25 = 1800; params 72 + 16 = 88
    assert conv_cost(8, 8, 3, 5, groups=8) == Cost(1800, 88)
    # linear 16 -> 10: 160 MACs; params 160 + 10 bias = 170
    assert linear_cost(16, 10) == Cost(160, 170)
    assert out_size(8, 2) == 4 and out_size(7, 2) == 4 and out_size(8, 1) == 8


def test_edge_ops_hand_counts():
    # width 8 at 4x4 (16 positions)
    assert edge_cost("zero", 8, 4) == Cost(0, 0)
    assert edge_cost("identity", 8, 4) == Cost(0, 0)
    assert edge_cost("conv1x1", 8, 4) == Cost(64 * 16, 64 + 16)         # 1024 MAdds, 80 params
    assert edge_cost("conv3x3", 8, 4) == Cost(576 * 16, 576 + 16)       # 9*8*8 = 576 weights
    assert edge_cost("dwconv3x3", 8, 4) == Cost(72 * 16, 72 + 16)       # 9*8 = 72 weights
    with pytest.raises(SpacenasError):
        edge_cost("conv5x5", 8, 4)


def test_reference_cell_equals_irb_by_hand():
    # c = 16, 8x8, r = 6 -> h = 96
    # input 1x1: 16*96 = 1536 w -> 1536*64 = 98304 MAdds, params 1536 + 192 = 1728
    # dwconv3x3 on 96: 864 w -> 55296 MAdds, params 864 + 192 = 1056; identity edges: 0
    # output 1x1: 96*16 = 1536 w -> 98304 MAdds, params 1536 + 32 = 1568
    want = Cost(98304 + 55296 + 98304, 1728 + 1056 + 1568)  # (251904, 4352)
    assert open_cell_cost(IRB_REFERENCE, 16, 16, 8) == want
    assert irb_cost(3, 6, 16, 16, 8) == want


def test_irb_stride2_by_hand():
    # k=5, e=3, 8 -> 16 channels, 8x8 stride 2: h = 24
    # expand at 8x8: 8*24 = 192 w -> 12288 MAdds, params 192 + 48 = 240
    # dw 5x5 s2 -> 4x4: 25*24 = 600 w -> 9600 MAdds, params 600 + 48 = 648
    # project at 4x4: 24*16 = 384 w -> 6144 MAdds, params 384 + 32 = 416
    assert block_cost("irb_k5_e3", 8, 16, 8, 2) == Cost(12288 + 9600 + 6144, 240 + 648 + 416)


def test_dead_edges_and_dead_cells_cost_nothing():
    # 0->1 conv3x3 is dead (node 1 reaches nothing); live: 0->2 conv1x1, 2->3 identity
    # c = 8, r = 1, 4x4: input 64 w -> 1024 MAdds / 80 params; conv1x1 1024 / 80; output 1024 / 80
    text = "r1:add:|conv3x3~0|+|conv1x1~0|zero~1|+|zero~0|zero~1|identity~2|"
    assert open_cell_cost(text, 8, 8, 4) == Cost(3072, 240)
    dead = "r3:add:|zero~0|+|zero~0|conv3x3~1|+|zero~0|zero~1|conv1x1~2|"
    assert open_cell_cost(dead, 8, 8, 4) == Cost(0, 0)
    assert block_cost("zero", 8, 16, 4, 2) == Cost(0, 0)
    with pytest.raises(SpacenasError, match="irb_k"):
        block_cost("irb_k4_e3", 8, 8, 4)


def test_counts_match_hooks_on_real_modules():
    space, rng = OpenCellSpace(), np.random.default_rng(0)
    blocks = [space.format(space.sample(rng)) for _ in range(12)] + ["irb_k7_e6", "irb_k3_e3", "zero"]
    for text in blocks:
        for c_in, c_out, size, stride in ((8, 8, 6, 1), (4, 8, 7, 2)):
            mod = make_block(text, c_in, c_out, stride)
            assert measure(mod, (c_in, size, size)) == block_cost(text, c_in, c_out, size, stride), text


def test_network_cost_matches_hooks():
    plan = NetPlan(stem_channels=8, channels=[8, 12, 12], strides=[1, 2, 1])
    blocks = [IRB_REFERENCE, "irb_k5_e3", "r3:mul:|conv3x3~0|+|dwconv3x3~0|identity~1|+|zero~0|conv1x1~1|identity~2|"]
    net = LayerwiseNet.from_blocks(plan, blocks, torch.Generator().manual_seed(0))
    want = network_cost(blocks, 1, 8, 8, plan.channels, plan.strides, 10)
    assert measure(net, (1, 8, 8)) == want
    # stem: 3*3*1*8 = 72 w at 64 positions = 4608 MAdds (params 72 + 16); head: 12*10 = 120 MAdds
    stem_head = Cost(4608 + 120, 88 + 130)
    body = sum((block_cost(b, *plan.layer_geometry(l)) for l, b in enumerate(blocks)), Cost())
    assert want == stem_head + body
