"""Retraining: config presets, cutout, drop-path, MAdds, the DARTS eval network, resume."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from spacenas.data import load_dataset
from spacenas.errors import SpacenasError
from spacenas.nn.darts_net import DARTSNet, count_params, drop_path
from spacenas.spaces.darts import DARTSSpace
from spacenas.spaces.nb201 import NB201Space
from spacenas.train import TrainConfig, train, train_config
from spacenas.train.cutout import cutout, cutout_mask
from spacenas.train.loop import count_madds, resolve_arch

DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


# ----- config ----------------------------------------------------------------------------------
def test_presets_are_the_papers():
    d = train_config("darts")
    assert (d.epochs, d.batch_size, d.lr, d.momentum, d.weight_decay) == (600, 96, 0.025, 0.9, 3e-4)
    assert (d.auxiliary_weight, d.drop_path, d.cutout, d.grad_clip, d.C, d.layers) == (0.4, 0.3, 16, 5.0, 36, 20)
    assert not d.nesterov
    n = train_config("nb201")
    assert (n.epochs, n.batch_size, n.lr, n.nesterov, n.weight_decay, n.C, n.N) == (200, 256, 0.1, True, 5e-4, 16, 5)
    assert (n.auxiliary_weight, n.drop_path, n.cutout, n.grad_clip, n.layers) == (0.0, 0.0, 0, None, None)


def test_overrides_and_errors():
    assert train_config("darts", {"epochs": 3, "C": 8}).epochs == 3
    with pytest.raises(SpacenasError, match="unknown option 'epoch'"):
        train_config("darts", {"epoch": 3})
    with pytest.raises(SpacenasError, match="'lr'"):
        train_config("nb201", {"lr": -1})
    with pytest.raises(SpacenasError, match="auxiliary head"):
        train_config("nb201", {"auxiliary_weight": 0.4})
    with pytest.raises(SpacenasError, match="use layers"):
        train_config("darts", {"N": 3})
    with pytest.raises(SpacenasError, match="open-cell"):
        train_config("open-cell")


# ----- cutout and drop-path ----------------------------------------------------------------------
def test_cutout_mask_hand_worked():
    # 4x4 image, length 2 (half 1), centre (1, 2): rows [0, 2), cols [1, 3) are cut
    m = cutout_mask(4, 4, torch.tensor([1]), torch.tensor([2]), 2)
    expect = torch.tensor([[1, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1], [1, 1, 1, 1]], dtype=torch.float32)
    assert torch.equal(m[0, 0], expect)
    # centre (0, 0), length 4 (half 2): rows [0, 2) x cols [0, 2) after clipping at the border
    m = cutout_mask(3, 3, torch.tensor([0]), torch.tensor([0]), 4)
    assert m[0, 0].sum().item() == 9 - 4


def test_cutout_uses_the_generator():
    x = torch.ones(5, 2, 6, 6)
    a = cutout(x, 2, torch.Generator().manual_seed(3))
    b = cutout(x, 2, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(a[:, 0], a[:, 1])  # same square in every channel
    assert ((a == 0).sum(dim=(1, 2, 3)) <= 2 * 4).all() and (a == 0).any()
    assert torch.equal(cutout(x, 0, torch.Generator()), x)


def test_drop_path_zeroes_or_rescales_samples():
    x = torch.ones(64, 3, 2, 2)
    y = drop_path(x, 0.5, torch.Generator().manual_seed(0))
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}  # kept samples scaled by 1 / (1 - 0.5)
    assert (per_sample.std(dim=1) == 0).all() and 0 < (per_sample[:, 0] == 0).sum() < 64
    assert torch.equal(drop_path(x, 0.0, torch.Generator()), x)


# ----- counting ------------------------------------------------------------------------------------
def test_madds_hand_counted():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1, groups=2),
                        nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    # conv1: 2*4*4 outputs * (1*3*3) = 288; depthwise conv2: 32 * (1*3*3) = 288; linear: 3 * 32 = 96
    assert count_madds(net, (1, 4, 4)) == 288 + 288 + 96


def test_madds_agree_with_nb201_flops_table():
    flops = pytest.importorskip("spacenas.benchmarks.flops")
    from spacenas.nn.supernets import NB201Net
    arch = NB201Space().parse("|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    # the benchmark's FLOPs also count one add per classifier bias (10 outputs); MAdds do not
    assert count_madds(NB201Net(arch), (3, 32, 32)) + 10 == flops.nb201_flops(arch)


def test_darts_v2_matches_the_paper_param_count():
    net = DARTSNet(DARTSSpace().parse(DARTS_V2))  # C=36, 20 cells, CIFAR-10
    assert count_params(net) == 3_349_342  # DARTS (2nd order) reports 3.3M
    assert count_madds(net, (3, 32, 32)) == 528_359_040  # the 528M usually quoted for DARTS
    assert sum(p.numel() for p in net.auxiliary_head.parameters()) > 0  # excluded from the count
    net.eval()
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_darts_net_aux_only_in_training():
    g = torch.Generator().manual_seed(0)
    net = DARTSNet(DARTSSpace().parse(DARTS_V2), C=4, layers=5, in_channels=1, image_size=8, generator=g)
    net.set_drop_path(0.2, g)
    logits, aux = net.forward_with_aux(torch.randn(3, 1, 8, 8, generator=g))
    assert logits.shape == aux.shape == (3, 10)
    net.eval()
    assert net.forward_with_aux(torch.randn(3, 1, 8, 8))[1] is None
    with pytest.raises(SpacenasError, match="Generator"):
        net.set_drop_path(0.2, None)


def test_resolve_arch_from_text_or_file(tmp_path):
    space = NB201Space()
    f = tmp_path / "arch.txt"
    f.write_text(NB201_ARCH + "\n")
    assert resolve_arch(str(f), space) == resolve_arch(NB201_ARCH, space) == space.parse(NB201_ARCH)
    with pytest.raises(SpacenasError):
        resolve_arch("not-an-arch", space)


# ----- training and resume -------------------------------------------------------------------------
def _tiny_darts():
    return train_config("darts", {"epochs": 2, "batch_size": 256, "C": 4, "layers": 3, "cutout": 4,
                                  "augment_pad": 1, "drop_path": 0.2, "auxiliary_weight": 0.4})


def test_resume_equals_uninterrupted(digits, tmp_path):
    from spacenas.data import ImageData
    digits = ImageData("digits", digits.train.subset(torch.arange(384)), digits.test.subset(torch.arange(100)),
                       num_classes=10, in_channels=1, image_size=8)  # a slice keeps the test fast
    space, arch = DARTSSpace(), DARTSSpace().parse(DARTS_V2)
    cfg = _tiny_darts()
    full = train(arch, space, digits, cfg, progress=False, generator=torch.Generator().manual_seed(5))
    d = tmp_path / "run"
    part = train(arch, space, digits, cfg, run_dir=d, progress=False,
                 generator=torch.Generator().manual_seed(5), stop_after=1)
    assert part.epochs == 1
    with pytest.raises(SpacenasError, match="resume"):
        train(arch, space, digits, cfg, run_dir=d, progress=False)
    done = train(arch, space, digits, cfg, run_dir=d, resume=True, progress=False,
                 generator=torch.Generator().manual_seed(123))  # state comes from the checkpoint
    assert done.epochs == 2
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, done.model.state_dict()[k]), k
    assert done.test_acc == full.test_acc and done.history == full.history
    assert (d / "result.json").exists() and (d / "weights.pt").exists() and (d / "arch.txt").exists()
    with pytest.raises(SpacenasError, match="config"):
        train(arch, space, digits, cfg.model_copy(update={"lr": 0.5}), run_dir=d, resume=True, progress=False)


def test_nb201_learns_digits(digits):
    cfg = train_config("nb201", {"epochs": 4, "batch_size": 64, "C": 4, "N": 1, "augment_pad": 0, "lr": 0.05})
    r = train(NB201_ARCH, NB201Space(), digits, cfg, progress=False)
    assert r.test_acc > 50.0  # chance is 10%
    assert r.params == count_params(r.model) and r.madds > 0
    assert [h["epoch"] for h in r.history] == [1, 2, 3, 4]
    assert r.history[0]["lr"] == pytest.approx(0.05) and r.history[1]["lr"] < 0.05  # cosine decay


def test_same_seed_same_result(digits):
    cfg = train_config("nb201", {"epochs": 1, "batch_size": 128, "C": 2, "N": 1})
    a = train(NB201_ARCH, NB201Space(), digits, cfg, progress=False)
    b = train(NB201_ARCH, NB201Space(), digits, cfg, progress=False)
    c = train(NB201_ARCH, NB201Space(), digits, cfg.model_copy(update={"seed": 1}), progress=False)
    assert a.history == b.history and a.history != c.history
    assert isinstance(cfg, TrainConfig) and np.isfinite(a.test_loss)


def test_cli_entry_trains_and_exports(tmp_path, capsys):
    import argparse
    import json

    from spacenas.cli.train import add_arguments as add_train_arguments, run as run_train
    p = argparse.ArgumentParser()
    add_train_arguments(p)
    f = tmp_path / "arch.txt"
    f.write_text(NB201_ARCH)
    args = p.parse_args(["--arch", str(f), "--space", "nb201", "--data", "digits", "--epochs", "1",
                         "--set", "C=2", "--set", "N=1", "--set", "batch_size=512", "--run-dir", str(tmp_path / "r"),
                         "--export", "torchscript", "--no-progress", "--json"])
    assert run_train(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epochs"] == 1 and out["arch"] == NB201_ARCH and out["exports"][0].endswith("model.torchscript.pt")
    assert (tmp_path / "r" / "model.json").exists()
    bad = p.parse_args(["--arch", NB201_ARCH, "--space", "nb201", "--set", "lr", "--data", "digits"])
    with pytest.raises(SpacenasError, match="key=value"):
        run_train(bad)
    bad = p.parse_args(["--arch", NB201_ARCH, "--space", "nb201", "--export", "onnx", "--data", "digits"])
    with pytest.raises(SpacenasError, match="--run-dir"):
        run_train(bad)


# ----- train --arch RUN takes the run's data (found by a new user) --------------------------------
def test_train_on_a_search_run_dir_uses_the_runs_data(tmp_path, capsys, monkeypatch):
    """Without --data, `train --arch RUN` used to load cifar10 ('cifar10 needs a data directory')."""
    import json

    from spacenas.cli.main import main
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--no-progress", "--method", "darts", "--data", "digits", "--epochs", "1", "--set", "C=4",
                 "--set", "N=1", "--set", "max_steps=2", "--run-dir", "s"]) == 0
    capsys.readouterr()
    assert main(["train", "--no-progress", "--json", "--arch", "s", "--epochs", "1", "--set", "C=4", "--set", "N=1",
                 "--run-dir", "t"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["dataset"] == "digits"
    assert "data: digits, as searched by s (--data overrides)" in err


def test_the_runs_data_dir_comes_along_and_an_explicit_data_wins(tmp_path):
    import json

    from spacenas.train.job import TrainJob, with_data
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"kind": "oneshot", "space": "nb201", "data": "fashion-mnist",
                                                 "data_dir": "/d/fm"}))
    job = with_data(TrainJob(arch=str(run)))
    assert (job.data, job.data_dir) == ("fashion-mnist", "/d/fm")
    assert (with_data(TrainJob(arch=str(run), data_dir="/mine")).data_dir) == "/mine"
    assert (with_data(TrainJob(arch=str(run), data="digits")).data, with_data(TrainJob(arch=str(run), data="digits"))
            .data_dir) == ("digits", None)
    assert with_data(TrainJob(arch=NB201_ARCH)).data == "cifar10"  # not a run dir: the paper's data
    (run / "config.json").write_text(json.dumps({"kind": "supernet", "space": "mobilenet", "dataset": "digits"}))
    assert with_data(TrainJob(arch=str(run))).data == "digits"  # supernet runs record it as 'dataset'
