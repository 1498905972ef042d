"""Retraining MobileNet-like archs: the standalone network, its cost, config, resume, CLI, export."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spacenas.cli.main import main as cli_main
from spacenas.data import ImageData, load_dataset
from spacenas.errors import SpacenasError
from spacenas.nn.darts_net import count_params
from spacenas.nn.madds_mobilenet import subnet_cost
from spacenas.nn.mobilenet_net import MobileNetNet, build_mobilenet, load_supernet_weights
from spacenas.nn.mobilenet_supernet import MobileNetShape, MobileNetSupernet
from spacenas.spaces.mobilenet import MobileNetSpace
from spacenas.train import train, train_config
from spacenas.train.export import inference_copy
from spacenas.train.loop import count_madds
from standalone import run_without_spacenas

ARCH = "72327343336853161425"
TINY = {"stem_width": 4, "widths": [4, 4, 6, 6, 8], "head_width": 8}  # keeps training tests fast


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def small_digits(digits):
    return ImageData("digits", digits.train.subset(torch.arange(256)), digits.test.subset(torch.arange(100)),
                     num_classes=10, in_channels=1, image_size=8)


# ----- the network ---------------------------------------------------------------------------------
def test_layers_follow_the_arch_string():
    net = MobileNetNet(MobileNetSpace().parse(ARCH))
    # '7232': (E,R) = (6,3), (3,5), (3,7), (3,5); '7343': (6,3), (3,7), (4,3), (3,7); ...
    got = [(m.expansion, m.kernel) for m in net.units[0]]
    assert got == [(6, 3), (3, 5), (3, 7), (3, 5)]
    assert [len(u) for u in net.units] == [4, 4, 4, 4, 4]
    short = MobileNetNet(MobileNetSpace().parse("1100" + "9900" + "5550" + "1234" + "1200"))
    assert [len(u) for u in short.units] == [2, 2, 3, 4, 2]  # absent layers are not built
    # default shape: stem 8 channels; unit 1 (width 8) starts with stride 2 -> no residual; its
    # second layer (8 -> 8, stride 1) is residual; unit 2 starts 8 -> 12 -> no residual
    assert not short.units[0][0].residual and short.units[0][1].residual
    assert short.units[1][0].c_in == 8 and short.units[1][0].c_out == 12 and not short.units[1][0].residual


@pytest.mark.parametrize("arch,shape", [
    (ARCH, {}),
    ("1100" * 5, {}),
    ("99999999999999999999", {}),
    ("1230" + "4500" + "6789" + "1100" + "2340", {"in_channels": 3, "image_size": 16, "stem_stride": 2,
                                                  "num_classes": 7}),
])
def test_madds_and_params_equal_subnet_cost(arch, shape):
    space = MobileNetSpace()
    s = MobileNetShape(**shape)
    net = MobileNetNet(space.parse(arch), s, generator=torch.Generator().manual_seed(0))
    cost = subnet_cost(space.parse(arch), s, space)
    assert count_madds(net, (s.in_channels, s.image_size, s.image_size)) == cost.madds
    assert count_params(net) == cost.params
    assert net(torch.zeros(2, s.in_channels, s.image_size, s.image_size)).shape == (2, s.num_classes)


def test_hand_counted_smallest_arch():
    # "1100" x 5 on 8x8x1, default shape: stem 3x3 1->8: 8*8*8*9 = 4608 MAdds.
    # unit 1 layer 1 (E3 R3, 8->8, stride 2): expand 8*8*8*24 = 12288, dw 4*4*24*9 = 3456,
    #   project 4*4*24*8 = 3072 -> 18816; layer 2 (8->8, 4x4): 16*8*24 + 16*24*9 + 16*24*8 = 9600.
    net = MobileNetNet(MobileNetSpace().parse("1100" * 5))
    stem_and_unit1 = 4608 + 18816 + 9600
    total = count_madds(net, (1, 8, 8))
    unit1_only = count_madds(torch.nn.Sequential(net.stem, net.units[0][0], net.units[0][1]), (1, 8, 8))
    assert unit1_only == stem_and_unit1
    assert total == subnet_cost(MobileNetSpace().parse("1100" * 5)).madds


def test_residual_blocks_start_as_identity():
    net = MobileNetNet(MobileNetSpace().parse(ARCH), generator=torch.Generator().manual_seed(0)).eval()
    layer = net.units[1][1]
    assert layer.residual
    x = torch.randn(2, layer.c_in, 4, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(layer(x), x)  # gamma of the last BN is 0


def test_depthwise_fast_path_matches_conv2d():
    net = MobileNetNet(MobileNetSpace().parse("9999" * 5), generator=torch.Generator().manual_seed(0))
    dw = net.units[0][0].depthwise  # 7x7, stride 2
    x = torch.randn(3, dw.in_channels, 8, 8, generator=torch.Generator().manual_seed(2))
    ref = torch.nn.functional.conv2d(x, dw.weight, stride=2, padding=3, groups=dw.in_channels)
    torch.testing.assert_close(dw(x), ref, rtol=1e-5, atol=1e-5)


def test_supernet_weights_give_the_supernets_subnetwork(tmp_path):
    space, g = MobileNetSpace(), torch.Generator().manual_seed(0)
    sup = MobileNetSupernet(generator=g)
    with torch.no_grad():  # non-trivial BN affine parameters everywhere
        for name, p in sup.named_parameters():
            if "bn" in name:
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
    arch = space.parse("7230" + "9100" + "5555" + "3120" + "8600")
    net = MobileNetNet(arch)
    load_supernet_weights(net, sup.state_dict())
    x = torch.randn(6, 1, 8, 8, generator=g)
    sup.train(), net.train()  # batch statistics in both
    torch.testing.assert_close(net(x), sup(x, arch), rtol=1e-4, atol=1e-5)
    # a cache file as supernet_run writes it (key with the shape + state_dict)
    f = tmp_path / "supernet.pt"
    torch.save({"key": {"shape": sup.shape.model_dump(mode="json")}, "state_dict": sup.state_dict()}, f)
    built = build_mobilenet(arch, {}, 1, 10, 8, torch.Generator().manual_seed(9), str(f))
    assert torch.equal(built.units[2][1].depthwise.weight, net.units[2][1].depthwise.weight)
    with pytest.raises(SpacenasError, match="differs in: widths"):
        build_mobilenet(arch, {"widths": [8, 12, 16, 20, 32]}, 1, 10, 8, None, str(f))
    with pytest.raises(SpacenasError, match="no such file"):
        build_mobilenet(arch, {}, 1, 10, 8, None, str(tmp_path / "missing.pt"))


# ----- config ------------------------------------------------------------------------------------
def test_mobilenet_recipe_and_overrides():
    c = train_config("mobilenet")
    assert (c.epochs, c.batch_size, c.lr, c.nesterov, c.weight_decay, c.grad_clip) == (30, 64, 0.1, True, 4e-5, None)
    assert (c.cutout, c.augment_pad, c.auxiliary_weight, c.drop_path, c.shape) == (0, 0, 0.0, 0.0, {})
    c = train_config("mobilenet", {"epochs": 3, "augment_pad": 4, "shape": {"widths": [8, 8, 8, 8, 8]}})
    assert (c.epochs, c.augment_pad, c.shape["widths"]) == (3, 4, [8, 8, 8, 8, 8])
    with pytest.raises(SpacenasError, match="widths come from shape"):
        train_config("mobilenet", {"C": 16})
    with pytest.raises(SpacenasError, match="auxiliary head"):
        train_config("mobilenet", {"auxiliary_weight": 0.4})
    with pytest.raises(SpacenasError, match="only to mobilenet"):
        train_config("darts", {"shape": {"widths": [8, 8, 8, 8, 8]}})
    with pytest.raises(SpacenasError, match="only to mobilenet"):
        train_config("nb201", {"init_from_supernet": "x.pt"})


def test_bad_shape_and_arch_are_clear_errors(small_digits):
    cfg = train_config("mobilenet", {"epochs": 1, "shape": {"widths": [8, 8]}})
    with pytest.raises(SpacenasError, match="widths"):
        train(ARCH, MobileNetSpace(), small_digits, cfg, progress=False)
    with pytest.raises(SpacenasError):
        train("7232734333685316142", MobileNetSpace(), small_digits, train_config("mobilenet"), progress=False)


# ----- training, resume, CLI and export --------------------------------------------------------------
def test_resume_equals_uninterrupted(small_digits, tmp_path):
    space = MobileNetSpace()
    cfg = train_config("mobilenet", {"epochs": 2, "batch_size": 128, "shape": TINY, "augment_pad": 1})
    full = train(ARCH, space, small_digits, cfg, progress=False)
    d = tmp_path / "run"
    part = train(ARCH, space, small_digits, cfg, run_dir=d, progress=False, stop_after=1)
    assert part.epochs == 1
    done = train(ARCH, space, small_digits, cfg, run_dir=d, resume=True, progress=False,
                 generator=torch.Generator().manual_seed(77))  # the state comes from the checkpoint
    assert done.epochs == 2
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, done.model.state_dict()[k]), k
    assert done.history == full.history and done.test_acc == full.test_acc
    assert done.madds == subnet_cost(space.parse(ARCH), MobileNetShape(**TINY)).madds


def test_learns_digits(digits):
    cfg = train_config("mobilenet", {"epochs": 3, "shape": TINY})
    r = train(ARCH, MobileNetSpace(), digits, cfg, progress=False)
    assert r.test_acc > 40.0  # chance is 10%
    assert r.history[0]["lr"] == pytest.approx(0.1) and r.history[2]["lr"] < r.history[1]["lr"]


_CHILD = """
import numpy as np
import torch
x = np.load("x.npy")
np.save("y.npy", torch.jit.load(sys.argv[2])(torch.from_numpy(x)).detach().numpy())
"""


def test_cli_trains_exports_and_the_export_runs_without_spacenas(tmp_path, capsys):
    run = tmp_path / "run"
    rc = cli_main(["train", "--space", "mobilenet", "--arch", ARCH, "--data", "digits", "--epochs", "1",
                   "--set", f"shape={json.dumps(TINY)}", "--export", "torchscript", "--run-dir", str(run),
                   "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "params" in out and "MAdds" in out
    result = json.loads((run / "result.json").read_text())
    cost = subnet_cost(MobileNetSpace().parse(ARCH), MobileNetShape(**TINY))
    assert (result["madds"], result["params"]) == (cost.madds, cost.params)
    # the TorchScript file in a fresh interpreter that cannot import spacenas
    model = MobileNetNet(MobileNetSpace().parse(ARCH), MobileNetShape(**TINY))
    model.load_state_dict(torch.load(run / "weights.pt", weights_only=True))
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    np.save(tmp_path / "x.npy", x.numpy())
    run_without_spacenas(tmp_path, _CHILD, str(run / "model.torchscript.pt"))
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), inference_copy(model)(x).numpy(), rtol=1e-5, atol=1e-5)


def test_cli_init_from_supernet(tmp_path, capsys):
    sup = MobileNetSupernet(TINY, generator=torch.Generator().manual_seed(0))
    f = tmp_path / "supernet.pt"
    torch.save({"key": {"shape": sup.shape.model_dump(mode="json")}, "state_dict": sup.state_dict()}, f)
    base = ["train", "--space", "mobilenet", "--arch", ARCH, "--data", "digits", "--epochs", "1", "--no-progress",
            "--init-from-supernet", str(f)]
    assert cli_main(base) != 0  # the supernet's shape is not the default one
    assert "another network shape" in capsys.readouterr().err
    # same shape and a negligible learning rate: the trained weights are the supernet's
    assert cli_main(base + ["--set", f"shape={json.dumps(TINY)}", "--set", "lr=1e-9", "--run-dir",
                            str(tmp_path / "r")]) == 0
    w = torch.load(tmp_path / "r" / "weights.pt", weights_only=True)
    torch.testing.assert_close(w["classifier.weight"], sup.classifier.weight.detach(), rtol=0, atol=1e-6)
    torch.testing.assert_close(w["units.0.0.depthwise.weight"], sup.units[0][0].kernel_weight(3, 6).detach(),
                               rtol=0, atol=1e-6)  # ARCH's first layer is '7' = E6 R3
    assert cli_main(["train", "--space", "nb201", "--arch", "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                     "--data", "digits", "--init-from-supernet", str(f), "--no-progress"]) != 0
    assert "only to mobilenet" in capsys.readouterr().err


def test_show_draws_a_mobilenet_strip(tmp_path, capsys):
    out = tmp_path / "arch.svg"
    assert cli_main(["show", ARCH, "--space", "mobilenet", "--out", str(out)]) == 0
    assert out.exists() and "<svg" in out.read_text()[:2000]
