"""AutoSpace end to end from the command line: ``spacenas autospace`` (learn, save, checkpoint,
resume) and ``spacenas autospace-search`` (proxyless / random in a learned or the manual space),
plus the DEA's bit-exact resume and one-line errors. Tiny settings: 2 layers, population 4,
K 2, 2 rounds x 3 steps."""
import json

import numpy as np
import pytest
import torch

from spacenas.cli.main import main as cli_main
from spacenas.data import iterate_batches, load_dataset
from spacenas.errors import SpacenasError
from spacenas.nn.madds import network_cost
from spacenas.nn.open_cell_net import NetPlan
from spacenas.spaces.open_cell import load_layerwise
from spacenas.strategies.autospace import AutoSpace, AutoSpaceConfig
from spacenas.strategies.autospace.checkpoint import BatchStream
from spacenas.strategies.autospace.evolution import AutoSpace as _AS

TINY = ["--layers", "2", "--rounds", "2", "--population", "4", "--k", "2", "--set", "steps_per_round=3",
        "--set", "stem_channels=8", "--set", "batch_size=128", "--no-progress"]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits").search_split(torch.Generator().manual_seed(0))


def _run(capsys, *argv):
    rc = cli_main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


class _Stop(Exception):
    pass


def _stop(rec):
    raise _Stop


def test_batch_stream_equals_endless_iterate_batches(digits):
    train, _ = digits
    # 5 batches of 300 over a set of ~900: crosses an epoch boundary, draws a second permutation
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)

    def endless():
        while True:
            yield from iterate_batches(train, 300, g1)
    ref, stream = endless(), BatchStream(train, 300, g2)
    for _ in range(5):
        (xa, ya), (xb, yb) = next(ref), next(stream)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert torch.equal(g1.get_state(), g2.get_state())


def test_dea_resume_equals_uninterrupted_run(digits, tmp_path):
    train, valid = digits
    plan = NetPlan(stem_channels=8, channels=[8, 8], strides=[1, 2])
    cfg = AutoSpaceConfig(rounds=2, steps_per_round=3, population=4, k=2, batch_size=128)
    straight = AutoSpace(cfg, plan).run(train, valid, np.random.default_rng(0), torch.Generator().manual_seed(0))
    ck = tmp_path / "run"
    with pytest.raises(_Stop):  # interrupted after round 1 (its checkpoint is written first)
        AutoSpace(cfg, plan).run(train, valid, np.random.default_rng(0), torch.Generator().manual_seed(0),
                                 run_dir=ck, on_round=_stop)
    # a fresh process: other seeds, the checkpoint restores both generators
    dea = AutoSpace(cfg, plan)
    resumed = dea.run(train, valid, np.random.default_rng(99), torch.Generator().manual_seed(99),
                      run_dir=ck, resume=True)
    assert resumed.space.layers == straight.space.layers
    assert resumed.fitness == straight.fitness
    assert resumed.losses == straight.losses and len(resumed.losses) == 6
    assert [[(m.text, m.fitness, m.iters) for m in p] for p in resumed.populations] == \
           [[(m.text, m.fitness, m.iters) for m in p] for p in straight.populations]
    # resuming a finished run runs nothing and returns the same space
    again = AutoSpace(cfg, plan).run(train, valid, np.random.default_rng(0), torch.Generator(), run_dir=ck,
                                     resume=True)
    assert again.fitness == straight.fitness
    # a different config cannot resume this checkpoint
    with pytest.raises(SpacenasError, match="differs in: config.eps"):
        AutoSpace(cfg.model_copy(update={"eps": 0.9}), plan).run(train, valid, np.random.default_rng(0),
                                                                   torch.Generator(), run_dir=ck, resume=True)
    (ck / "result.json").unlink()
    (ck / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(SpacenasError, match="refused checkpoint"):
        AutoSpace(cfg, plan).run(train, valid, np.random.default_rng(0), torch.Generator(), run_dir=ck, resume=True)


def test_cli_autospace_learns_saves_and_resumes(tmp_path, capsys, monkeypatch):
    straight = tmp_path / "a.json"
    rc, out, _ = _run(capsys, "autospace", *TINY, "--out", str(straight))
    assert rc == 0, out
    assert "round   1/2  loss" in out and "round   2/2  loss" in out
    assert "layer 0:" in out and "layer 1:" in out and f"wrote {straight}" in out
    space = load_layerwise(straight)
    assert space.n_decisions == 2 and all(len(c) == 2 for c in space.layers)
    assert space.meta["plan"]["stem_channels"] == 8 and space.meta["plan"]["strides"] == [1, 2]
    for cells in space.layers:  # the learned cells are printed
        assert all(c in out for c in cells)

    run_dir, resumed = tmp_path / "run", tmp_path / "b.json"
    real = _AS._round

    def crash_in_round_2(self, r, *a, **k):
        if r == 1:
            raise KeyboardInterrupt
        return real(self, r, *a, **k)
    monkeypatch.setattr(_AS, "_round", crash_in_round_2)
    rc, _, err = _run(capsys, "autospace", *TINY, "--out", str(resumed), "--run-dir", str(run_dir))
    assert rc == 130 and "--resume" in err and not resumed.exists()
    assert (run_dir / "checkpoint.pt").is_file() and (run_dir / "config.json").is_file()
    monkeypatch.setattr(_AS, "_round", real)
    # without --resume the dir is refused; with other options it is refused too
    rc, _, err = _run(capsys, "autospace", *TINY, "--out", str(resumed), "--run-dir", str(run_dir))
    assert rc == 2 and "already holds a run; use --resume" in err
    rc, _, err = _run(capsys, "autospace", *TINY, "--seed", "1", "--out", str(resumed), "--run-dir", str(run_dir),
                      "--resume")
    assert rc == 2 and "differs in: seed" in err
    rc, out, _ = _run(capsys, "autospace", *TINY, "--out", str(resumed), "--run-dir", str(run_dir), "--resume")
    assert rc == 0 and "round   2/2" in out and "round   1/2" not in out
    a, b = json.loads(straight.read_text()), json.loads(resumed.read_text())
    assert a["layers"] == b["layers"] and a["fitness"] == b["fitness"] and a["losses"] == b["losses"]


def test_cli_autospace_search_in_learned_and_manual_space(tmp_path, capsys):
    f = tmp_path / "s.json"
    assert _run(capsys, "autospace", *TINY, "--out", str(f))[0] == 0
    learned = load_layerwise(f)
    rc, out, _ = _run(capsys, "autospace-search", "--space-file", str(f), "--method", "proxyless", "--budget", "2",
                      "--set", "warmup_epochs=1", "--set", "batch_size=256", "--lam", "0.1",
                      "--train-epochs", "1", "--json", "--no-progress")
    assert rc == 0
    res = json.loads(out)
    assert len(res["blocks"]) == 2 and all(b in learned.layers[l] for l, b in enumerate(res["blocks"]))
    plan = NetPlan(**learned.meta["plan"])
    cost = network_cost(res["blocks"], 1, 8, plan.stem_channels, plan.channels, plan.strides, 10)
    assert res["madds"] == cost.madds > 0 and res["params"] == cost.params
    assert 0.0 <= res["test_acc"] <= 1.0

    rc, out, _ = _run(capsys, "autospace-search", "--manual-irb", "--layers", "2", "--method", "random",
                      "--budget", "2", "--set", "arch_epochs=1", "--set", "stem_channels=8",
                      "--train-epochs", "1", "--no-progress")
    assert rc == 0
    found = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("  layer ")]
    assert len(found) == 2 and all(b.startswith("irb_k") for b in found)  # no 'zero' in the stride-2 layer 1
    assert "random search in irb-manual (2 layers)" in out
    assert "test accuracy" in out and "MAdds" in out and "params" in out


@pytest.mark.parametrize("argv, msg", [
    (["autospace", "--out", "X", "--set", "nope=1"], "unknown autospace option 'nope' (allowed: arch_lr"),
    (["autospace", "--out", "X", "--set", "eps=3"], "bad value 3 for 'eps'"),
    (["autospace", "--out", "X", "--rounds", "0"], "--rounds: 0 must be a positive integer"),
    (["autospace", "--out", "X", "--rounds", "2", "--set", "rounds=3"], "--rounds and --set rounds=... both given"),
    (["autospace", "--out", "X", "--k", "5", "--population", "4"], "need a population of at least k"),
    (["autospace", "--out", "X", "--set", "strides=[3,1]"], "strides must be 1 or 2"),
    (["autospace", "--out", "X", "--layers", "2", "--set", "channels=[8]"], "channels has 1 entries but --layers is 2"),
    (["autospace", "--out", "X", "--resume"], "--resume needs --run-dir"),
    (["autospace", "--out", "X", "--seed", "-1"], "--seed: -1 must be >= 0"),
    (["autospace", "--out", "/nonexistent/dir/s.json"], "does not exist"),
    (["autospace", "--out", "X", "--data", "cifar10", "--data-dir", "/nonexistent/data"],
     "--data-dir '/nonexistent/data' is not a directory"),
    (["autospace", "--out", "X", "--data", "cifar10", "--data-dir", "EMPTY"], "cifar10 not found in"),
    (["autospace", "--out", "X", "--data", "mnist"], "unknown data set 'mnist'"),
    (["autospace", "--out", "X", "--run-dir", "NEWDIR", "--resume"], "nothing to resume"),
    (["autospace-search", "--method", "random"], "one of the arguments --space-file --manual-irb is required"),
    (["autospace-search", "--space-file", "/nonexistent/s.json", "--method", "proxyless"], "does not exist"),
    (["autospace-search", "--space-file", "NOTJSON", "--method", "proxyless"], "is not JSON"),
    (["autospace-search", "--space-file", "NOLAYERS", "--method", "proxyless"], "is corrupt (KeyError: 'layers')"),
    (["autospace-search", "--space-file", "BADCELL", "--method", "proxyless"], "layer 0: bad open cell"),
    (["autospace-search", "--manual-irb", "--method", "darts"], "unknown method 'darts' (allowed: proxyless, random)"),
    (["autospace-search", "--manual-irb", "--method", "random", "--lam", "1"], "--lam: only for --method proxyless"),
    (["autospace-search", "--manual-irb", "--method", "random", "--set", "arch_epochs=0"], "random search: bad value 0 for 'arch_epochs'"),
    (["autospace-search", "--manual-irb", "--method", "proxyless", "--set", "epochs=3"], "unknown proxyless search option"),
    (["autospace-search", "--manual-irb", "--method", "proxyless", "--budget", "2"], "no architecture epochs"),
])
def test_cli_errors_are_one_line(argv, msg, tmp_path, capsys):
    files = {"NOTJSON": "{", "NOLAYERS": '{"format": "spacenas.layerwise/1"}',
             "BADCELL": '{"format": "spacenas.layerwise/1", "layers": [["r9:add:x"]]}'}
    (tmp_path / "EMPTY").mkdir()
    subst = {"X": str(tmp_path / "s.json"), "EMPTY": str(tmp_path / "EMPTY"), "NEWDIR": str(tmp_path / "new")}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        subst[name] = str(tmp_path / name)
    rc, out, err = _run(capsys, *[subst.get(a, a) for a in argv])
    assert rc == 2, out
    assert err.startswith("spacenas: error: ") and err.count("\n") == 1
    assert msg in err
