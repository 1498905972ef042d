"""Retraining A-DARTS archs (nb201-act / darts-act): per-edge activations in the discrete
networks, one fixed activation (--activation), params/MAdds, RReLU, TorchScript export."""
from __future__ import annotations

import argparse
import json

import pytest
import torch
from torch import nn

from spacenas.data import ImageData, load_dataset
from spacenas.errors import SpacenasError
from spacenas.nn.activations import RReLU, Swish
from spacenas.nn.darts_net import DARTSNet, count_params
from spacenas.nn.supernets import ActEdge, NB201Net
from spacenas.spaces.darts import DARTSSpace
from spacenas.spaces.factorized import DARTSActSpace, NB201ActSpace
from spacenas.spaces.nb201 import NB201Space
from spacenas.train import train, train_config
from spacenas.train.loop import build_network, count_madds, fix_activation
from standalone import run_without_spacenas

NB201 = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
# edges: 0 conv3, 1 conv1, 2 pool, 3 skip, 4 conv3, 5 conv3
NB201_ACT = NB201 + " @act=selu,prelu,-,-,swish,relu"
DARTS = ("Genotype(normal=[('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_5x5', 1), "
         "('max_pool_3x3', 1), ('dil_conv_5x5', 2), ('skip_connect', 0), ('avg_pool_3x3', 2)], "
         "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), "
         "('dil_conv_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('max_pool_3x3', 1), "
         "('skip_connect', 2)], reduce_concat=[2, 3, 4, 5])")
DARTS_ACT = DARTS + " @act=selu,prelu,-,rrelu,-,swish,-,-,-,elu,-,celu,-,-,-,-"


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _nb201_act_net(text: str = NB201_ACT, gen=None) -> NB201Net:
    space = NB201ActSpace()
    arch = space.parse(text)
    return NB201Net(space.base_arch(arch), C=4, N=1, in_channels=1, generator=gen or _gen(),
                    activations=space.factor_choices(arch, "act"))


def _darts_act_net(text: str = DARTS_ACT, gen=None, auxiliary: bool = False) -> DARTSNet:
    space = DARTSActSpace()
    arch = space.parse(text)
    return DARTSNet(space.base_arch(arch), C=4, layers=3, in_channels=1, image_size=8, auxiliary=auxiliary,
                    generator=gen or _gen(), activations=space.factor_choices(arch, "act"))


def _calls(net: nn.Module, x: torch.Tensor, kinds) -> list[str]:
    """Names of the activation modules of ``kinds`` that ran during ``net(x)`` (forward hooks)."""
    seen, hooks = [], []
    for name, m in net.named_modules():
        if isinstance(m, kinds):
            hooks.append(m.register_forward_hook(lambda _m, _i, _o, name=name: seen.append(name)))
    try:
        net(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def test_act_edge_hand_worked():
    # 1 channel, 1x1 conv weight 1, BN in eval mode with mean 0, var 1: out = act(x) / sqrt(1 + 1e-5)
    # SELU(-1) = 1.0507009873554805 * 1.6732632423543772 * (exp(-1) - 1)
    #          = 1.7580993408473766 * (-0.6321205588285577) = -1.1113307378125625; /1.000005 -> -1.1113252
    # (the op's own ReLU would give 0); SELU(2) = 1.0507009873554805 * 2 = 2.101401974710961 -> 2.1013915
    from spacenas.nn.mixed import MixedOp
    edge = MixedOp(["nor_conv_1x1"], 1, 1, affine=True)
    edge.ops["0"].conv.weight.data.fill_(1.0)
    act_edge = ActEdge(edge, nn.SELU()).eval()
    x = torch.tensor([-1.0, 2.0]).view(1, 1, 1, 2)
    assert torch.allclose(act_edge(x).flatten(), torch.tensor([-1.1113252, 2.1013915]), atol=1e-6)
    assert torch.allclose(edge.eval()(x).flatten(), torch.tensor([0.0, 2.0 / 1.000005 ** 0.5]), atol=1e-6)


def test_nb201_net_uses_the_searched_activation_per_edge():
    net = _nb201_act_net().eval()
    cells = [m for m in net.body.layers if m.__class__.__name__ == "NB201Cell"]
    assert len(cells) == 3
    want = {0: nn.SELU, 1: nn.PReLU, 4: Swish, 5: nn.ReLU}
    for cell in cells:
        for e, edge in enumerate(cell.edges):
            if e in want:
                assert isinstance(edge, ActEdge) and type(edge.act) is want[e]
            else:
                assert not isinstance(edge, ActEdge)
    x = torch.randn(2, 1, 8, 8, generator=_gen(1))
    ran = _calls(net, x, (nn.SELU, nn.PReLU, Swish, nn.ReLU))
    # every cell's activations run, on the right edges (plus the final BN-ReLU of the body)
    expected = {f"body.layers.{li}.edges.{e}.act" for li in (0, 2, 4) for e in want} | {"body.lastact.1"}
    assert set(ran) == expected and len(ran) == len(expected)
    # the SELU really feeds edge 0's conv: its input is the cell input
    seen = {}
    net.body.layers[0].edges[0].act.register_forward_hook(lambda m, i, o: seen.setdefault("in", i[0]))
    net.body.layers[0].register_forward_hook(lambda m, i, o: seen.setdefault("cell", i[0]))
    net(x)
    assert torch.equal(seen["in"], seen["cell"])


def test_fixed_relu_equals_plain_network_with_same_weights():
    space = NB201ActSpace()
    act_space, arch = fix_activation(space, NB201_ACT, "relu")
    assert act_space.format(arch) == NB201 + " @act=relu,relu,-,-,relu,relu"
    relu_net = NB201Net(act_space.base_arch(arch), C=4, N=1, in_channels=1, generator=_gen(3),
                        activations=act_space.factor_choices(arch, "act"))
    plain = NB201Net(NB201Space().parse(NB201), C=4, N=1, in_channels=1, generator=_gen(7))
    relu_net.load_state_dict(plain.state_dict())  # strict: the same keys (ReLU has no parameters)
    x = torch.randn(4, 1, 8, 8, generator=_gen(2))
    for mode in (True, False):
        plain.train(mode)
        relu_net.train(mode)
        assert torch.equal(relu_net(x), plain(x))
    # the searched activations do change the function (so the check above can fail)
    selu_net = _nb201_act_net(NB201_ACT.replace("prelu", "selu").replace("swish", "selu"))
    selu_net.load_state_dict(plain.state_dict())
    assert not torch.allclose(selu_net.eval()(x), plain(x))
    # a plain nb201 arch is lifted to nb201-act
    lifted_space, lifted = fix_activation(NB201Space(), NB201, "elu")
    assert lifted_space.name == "nb201-act" and lifted_space.format(lifted) == NB201 + " @act=elu,elu,-,-,elu,elu"


def test_darts_net_activations_and_relu_equivalence():
    net = _darts_act_net().eval()
    normal, reduce_ = net.cells[0], net.cells[1]
    assert reduce_.reduction and not normal.reduction
    assert {k: type(m) for k, m in normal.acts.items()} == {"0": nn.SELU, "1": nn.PReLU, "3": RReLU, "5": Swish}
    assert {k: type(m) for k, m in reduce_.acts.items()} == {"1": nn.ELU, "3": nn.CELU}
    x = torch.randn(2, 1, 8, 8, generator=_gen(1))
    ran = _calls(net, x, (nn.SELU, nn.PReLU, RReLU, Swish, nn.ELU, nn.CELU))
    # layers=3: cell 0 normal, cells 1 and 2 reduction
    assert sorted(ran) == sorted([f"cells.0.acts.{k}" for k in "0135"]
                                 + [f"cells.{c}.acts.{k}" for c in (1, 2) for k in "13"])
    # fixed relu == plain DARTSNet with the same weights (with the auxiliary head too)
    space, arch = fix_activation(DARTSActSpace(), DARTS_ACT, "relu")
    relu_net = DARTSNet(space.base_arch(arch), C=4, layers=3, in_channels=1, image_size=8, generator=_gen(5),
                        activations=space.factor_choices(arch, "act"))
    plain = DARTSNet(DARTSSpace().parse(DARTS), C=4, layers=3, in_channels=1, image_size=8, generator=_gen(6))
    relu_net.load_state_dict(plain.state_dict())
    for mode in (True, False):
        plain.train(mode)
        relu_net.train(mode)
        a, b = relu_net.forward_with_aux(x), plain.forward_with_aux(x)
        assert torch.equal(a[0], b[0]) and (a[1] is None) == (b[1] is None)
    net.load_state_dict(plain.state_dict(), strict=False)  # same op weights, searched activations
    assert not torch.allclose(net.eval()(x), plain.eval()(x))


def test_params_count_learned_activation_parameters_and_madds_ignore_them():
    plain = NB201Net(NB201Space().parse(NB201), C=4, N=1, in_channels=1)
    act = _nb201_act_net()
    # PReLU (1 slope) on edge 1 and Swish (1 coefficient) on edge 4, in each of the 3 cells: +6
    assert count_params(act) == count_params(plain) + 6
    assert count_madds(act, (1, 8, 8)) == count_madds(plain, (1, 8, 8))
    dplain = DARTSNet(DARTSSpace().parse(DARTS), C=4, layers=3, in_channels=1, image_size=8, auxiliary=False)
    dact = _darts_act_net()
    # one normal cell (layers=3): PReLU + Swish = +2; the reduction cells' ELU/CELU have none
    assert count_params(dact) == count_params(dplain) + 2
    assert count_madds(dact, (1, 8, 8)) == count_madds(dplain, (1, 8, 8))


def test_bad_activation_lists_are_clear_errors():
    arch = NB201Space().parse(NB201)
    with pytest.raises(SpacenasError, match="unknown activation 'gelu'"):
        NB201Net(arch, C=4, N=1, activations=["gelu", None, None, None, None, None])
    with pytest.raises(SpacenasError, match="avg_pool_3x3"):
        NB201Net(arch, C=4, N=1, activations=[None, None, "relu", None, None, None])
    with pytest.raises(SpacenasError, match="one entry per edge"):
        NB201Net(arch, C=4, N=1, activations=["relu"])
    with pytest.raises(SpacenasError, match="unknown activation 'tanh'"):
        fix_activation(NB201ActSpace(), NB201_ACT, "tanh")
    from spacenas.spaces.base import Arch
    with pytest.raises(SpacenasError, match="applies to spaces"):
        fix_activation(type("S", (), {"name": "mobilenet"})(), Arch("mobilenet", ()), "relu")


def test_rrelu_slopes_come_from_the_run_generator():
    g = _gen(0)
    net = _darts_act_net(gen=g)
    rrelu = net.cells[0].acts["3"]
    assert rrelu.generator is g
    x = -torch.rand(1, 4, 3, 3, generator=_gen(9)) - 0.5  # negative inputs: output = slope * x
    rrelu.train()
    g.manual_seed(11)
    a = rrelu(x)
    g.manual_seed(11)
    assert torch.equal(rrelu(x), a)  # same generator state, same slopes
    slopes = a / x
    assert (slopes >= 1 / 8 - 1e-6).all() and (slopes <= 1 / 3 + 1e-6).all() and slopes.std() > 0
    rrelu.eval()  # eval: the fixed slope (1/8 + 1/3) / 2 = 11/48
    assert torch.allclose(rrelu(x), x * 11 / 48)


@pytest.fixture(scope="module")
def small_digits():
    d = load_dataset("digits")
    return ImageData("digits", d.train.subset(torch.arange(256)), d.test.subset(torch.arange(64)),
                     d.num_classes, d.in_channels, d.image_size)


def test_train_darts_act_is_reproducible_and_resumes(small_digits, tmp_path):
    cfg = train_config("darts-act", {"epochs": 2, "C": 4, "layers": 3, "batch_size": 128})
    assert cfg.drop_path == 0.3 and cfg.cutout == 16  # the darts recipe
    space = DARTSActSpace()
    a = train(DARTS_ACT, space, small_digits, cfg, progress=False)
    assert a.arch == DARTS_ACT and a.space == "darts-act"
    # RReLU's training slopes come from the run generator, which the checkpoint carries
    train(DARTS_ACT, space, small_digits, cfg, run_dir=tmp_path, progress=False, stop_after=1)
    b = train(DARTS_ACT, space, small_digits, cfg, run_dir=tmp_path, resume=True, progress=False)
    assert a.train_loss == b.train_loss and a.test_acc == b.test_acc and a.test_loss == b.test_loss
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    net = build_network(space, space.parse(DARTS_ACT), cfg, small_digits, None)
    assert isinstance(net, DARTSNet) and isinstance(net.cells[0].acts["0"], nn.SELU)
    assert a.params == count_params(net)


_CHILD = """
import torch
x = torch.load("x.pt")
torch.save(torch.jit.load("model.torchscript.pt")(x), "y.pt")
"""


def test_cli_trains_nb201_act_and_exports_torchscript(tmp_path, capsys):
    from spacenas.cli.train import add_arguments as add_train_arguments, run as run_train
    p = argparse.ArgumentParser()
    add_train_arguments(p)
    common = ["--space", "nb201-act", "--data", "digits", "--epochs", "2", "--set", "C=4", "--set", "N=1",
              "--set", "batch_size=512", "--no-progress", "--json"]
    run = tmp_path / "run"
    assert run_train(p.parse_args(["--arch", NB201_ACT, *common, "--run-dir", str(run),
                                   "--export", "torchscript"])) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["arch"] == NB201_ACT and out["epochs"] == 2
    plain_params = count_params(NB201Net(NB201Space().parse(NB201), C=4, N=1, in_channels=1))
    assert out["params"] == plain_params + 6 and out["madds"] > 0
    # fresh process without spacenas: the exported model equals the trained one (eval mode)
    model = _nb201_act_net()
    model.load_state_dict(torch.load(run / "weights.pt", weights_only=True))
    x = torch.randn(3, 1, 8, 8, generator=_gen(4))
    torch.save(x, run / "x.pt")
    run_without_spacenas(run, _CHILD)
    with torch.no_grad():
        assert torch.allclose(torch.load(run / "y.pt"), model.eval()(x), atol=1e-5)
    # --activation: one fixed activation instead of the searched ones (also lifts a plain nb201 arch)
    assert run_train(p.parse_args(["--arch", NB201_ACT, *common, "--activation", "prelu"])) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["arch"] == NB201 + " @act=prelu,prelu,-,-,prelu,prelu" and out["params"] == plain_params + 12
    lifted = [a if a != "nb201-act" else "nb201" for a in common]
    assert run_train(p.parse_args(["--arch", NB201, *lifted, "--activation", "selu"])) == 0
    assert json.loads(capsys.readouterr().out)["arch"] == NB201 + " @act=selu,selu,-,-,selu,selu"
    with pytest.raises(SpacenasError, match=r"unknown activation 'gelu' \(allowed: relu, relu6"):
        run_train(p.parse_args(["--arch", NB201_ACT, *common, "--activation", "gelu"]))
