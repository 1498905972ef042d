"""The bi-level loop and the strategies end to end (a tiny fake supernet; the real NB201
supernet with the digits data when those modules are present)."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from spacenas import registry
from spacenas.errors import SpacenasError
from spacenas.nn.supernet_base import Supernet
from spacenas.spaces.nb201 import OPS, NB201Space
from spacenas.strategies.oneshot.darts import DARTS
from spacenas.strategies.oneshot.drnas import DrNAS
from spacenas.strategies.oneshot.gdas import GDAS
from spacenas.strategies.oneshot.loop import search


class FakeSupernet(Supernet):
    """NB201-shaped DAG of linear 'ops' (none, identity, 3 x tanh-linear); counts op calls."""

    def __init__(self, d_in: int = 6, hidden: int = 8, n_classes: int = 3, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.space = NB201Space()
        self.proj = nn.Linear(d_in, hidden)
        self.lin = nn.ModuleList([nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(3)]) for _ in range(6)])
        self.head = nn.Linear(hidden, n_classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
        self.scale = nn.Parameter(torch.ones(1))
        self.calls, self.k, self.widened = 0, 1, 0

    def arch_shapes(self):
        return {"cell": (6, 5)}

    @property
    def op_names(self):
        return OPS

    def forward(self, x, weights, masks=None, act_weights=None):
        w, m = weights["cell"], None if masks is None else masks["cell"]
        nodes, e = [torch.relu(self.proj(x))], 0
        for j in range(1, 4):
            s = 0
            for i in range(j):
                for o in range(5):
                    if m is not None and not bool(m[e, o]):
                        continue
                    self.calls += 1
                    h = nodes[i]
                    y = torch.zeros_like(h) if o == 0 else h if o == 1 else torch.tanh(self.lin[e][o - 2](h))
                    s = s + w[e, o] * y
                e += 1
            nodes.append(s)
        return self.head(nodes[-1]) * self.scale.mean()

    def derive(self, scores, masks=None):
        s = scores["cell"].clone()
        if masks is not None:
            s[~masks["cell"]] = float("-inf")
        return self.space.make(s.argmax(1).tolist())

    def set_partial_channels(self, k, generator=None):
        self.k = k

    def widen(self, factor, generator):
        # a new, larger parameter: the optimizer must be rebuilt and resume must replay this
        old = self.scale.detach()
        self.scale = nn.Parameter(torch.cat([old, old[torch.randint(len(old), (len(old) * (factor - 1),),
                                                                    generator=generator)]]))
        self.k //= factor
        self.widened += 1


def blobs(n: int = 48, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 6, generator=g) + 2.0 * nn.functional.one_hot(y, 6).float()
    return x, y


def run(cls, cfg=None, loop=None, run_dir=None, resume=False, seed=0, net=None):
    net = net or FakeSupernet()
    s = cls(net.arch_shapes(), cfg or {}, torch.Generator().manual_seed(seed))
    lc = {"epochs": 2, "batch_size": 16, "seed": seed, **(loop or {})}
    res = search(s, net, blobs(48, 1), blobs(48, 2), lc, run_dir=run_dir, resume=resume, progress=False)
    return res, s, net


@pytest.mark.parametrize("cls", [DARTS, GDAS, DrNAS])
def test_each_method_runs_end_to_end_and_logs(cls, tmp_path):
    res, s, net = run(cls, loop={"dataset": "cifar10"}, run_dir=tmp_path)
    assert res.arch.space == "nb201" and NB201Space().parse(res.arch_text) == res.arch
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [0, 1] and len(res.history) == 2
    for r in lines:
        assert {"train_loss", "train_acc", "valid_loss", "valid_acc", "arch", "mixing", "benchmark", "lr"} <= set(r)
        assert len(r["mixing"]["cell"]) == 6 and all(abs(sum(row) - 1) < 1e-3 for row in r["mixing"]["cell"])
    from spacenas.benchmarks.nb201 import load_nb201
    assert res.benchmark["test"] == pytest.approx(load_nb201().accuracy(res.arch, "cifar10", "test"))
    assert (tmp_path / "checkpoint.pt").exists()


def test_second_order_darts_runs_in_the_loop():
    res, s, net = run(DARTS, {"second_order": True}, loop={"epochs": 1})
    first, s1, _ = run(DARTS, {}, loop={"epochs": 1})
    assert NB201Space().parse(res.arch_text) == res.arch
    assert not torch.allclose(s.params["cell"], s1.params["cell"])  # a different gradient was used


def test_arch_parameters_learn_and_weights_get_no_arch_gradient():
    net = FakeSupernet()
    s = DARTS(net.arch_shapes(), {}, torch.Generator().manual_seed(0))
    before = s.params["cell"].detach().clone()
    w_before = [p.detach().clone() for p in net.parameters()]
    stats = s.arch_step(net, blobs(16, 3))
    assert {"arch_loss", "arch_acc"} <= set(stats)
    assert not torch.equal(before, s.params["cell"].detach())
    assert all(p.grad is None for p in net.parameters())  # the arch step leaves weight grads alone
    assert all(torch.equal(a, b.detach()) for a, b in zip(w_before, net.parameters()))


@pytest.mark.parametrize("cls,cfg", [
    (DARTS, {}), (GDAS, {}), (DrNAS, {}),
    (DrNAS, {"progressive": {"partial_k": [4, 2], "keep_ops": [5, 3], "stage_epochs": [1, 1]}}),
])
def test_resume_is_identical_to_an_uninterrupted_run(cls, cfg, tmp_path):
    full, s_full, net_full = run(cls, cfg, run_dir=tmp_path / "a")
    # the same run interrupted at the start of epoch 1 (after epoch 0's checkpoint), then resumed
    half_dir = tmp_path / "c"
    net1 = FakeSupernet()
    s1 = cls(net1.arch_shapes(), cfg, torch.Generator().manual_seed(0))
    _stop_after_first_epoch(s1)
    with pytest.raises(_Stop):
        search(s1, net1, blobs(48, 1), blobs(48, 2), {"epochs": 2, "batch_size": 16}, run_dir=half_dir, progress=False)
    resumed, s2, net2 = run(cls, cfg, run_dir=half_dir, resume=True)
    assert resumed.arch == full.arch
    assert torch.equal(s2.params["cell"], s_full.params["cell"])
    sd_a, sd_b = net_full.state_dict(), net2.state_dict()
    assert sd_a.keys() == sd_b.keys() and all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)
    assert [h["arch"] for h in resumed.history] == [h["arch"] for h in full.history]
    assert len((half_dir / "log.jsonl").read_text().splitlines()) == 2


class _Stop(Exception):
    pass


def _stop_after_first_epoch(strategy):
    orig = strategy.on_epoch_start

    def hook(epoch, supernet):
        if epoch == 1:
            raise _Stop
        orig(epoch, supernet)
    strategy.on_epoch_start = hook


def test_progressive_prunes_widens_and_rebuilds_the_optimizer():
    cfg = {"progressive": {"partial_k": [4, 2], "keep_ops": [5, 3], "stage_epochs": [1, 2]}}
    res, s, net = run(DrNAS, cfg, loop={"epochs": 3})
    assert net.k == 2 and net.widened == 1 and net.scale.shape == (2,)
    assert (s.op_masks["cell"].sum(1) == 3).all()
    assert s.op_masks["cell"][torch.arange(6), torch.tensor(res.arch.choices)].all()  # derived op kept
    assert not torch.equal(net.scale.detach(), torch.ones(2))  # the new parameter was trained
    # pruned ops get mixing weight 0 and are never computed
    w = s.mixing_weights()["cell"]
    assert (w[~s.op_masks["cell"]] == 0).all()
    net.calls = 0
    s.forward(net, blobs(4)[0])
    assert net.calls == 18


def test_gdas_computes_one_op_per_edge_and_grads_reach_all_logits():
    net = FakeSupernet()
    s = GDAS(net.arch_shapes(), {}, torch.Generator().manual_seed(0))
    x, y = blobs(8)
    net.calls = 0
    loss = nn.functional.cross_entropy(s.forward(net, x), y)
    assert net.calls == 6 and (s.masks()["cell"].sum(1) == 1).all()
    (g,) = torch.autograd.grad(loss, s.params["cell"])
    # every logit of an edge gets gradient through the sampled op's straight-through weight,
    # unless the sampled op is 'none' (its output is 0, so dL/dh is 0)
    live = ~s.masks()["cell"][:, 0]
    assert live.sum() >= 3 and (g[live] != 0).all() and (g[~live] == 0).all()


def test_gdas_temperature_anneals():
    res, s, _ = run(GDAS, {"tau_max": 10.0, "tau_min": 0.1}, loop={"epochs": 3})
    assert s.mixer.tau == pytest.approx(0.1)


def test_op_masks_restrict_mixing_and_derivation():
    net = FakeSupernet()
    s = DARTS(net.arch_shapes(), {}, torch.Generator().manual_seed(0))
    m = torch.zeros(6, 5, dtype=torch.bool)
    m[:, 2] = m[:, 4] = True
    s.set_op_masks({"cell": m})
    assert (s.mixing_weights()["cell"][~m] == 0).all()
    assert set(s.derive(net).choices) <= {2, 4}
    with pytest.raises(SpacenasError):
        s.set_op_masks({"cell": torch.zeros(6, 5, dtype=torch.bool)})


def test_bad_config_is_a_one_line_error():
    with pytest.raises(SpacenasError, match="unknown option 'bogus'"):
        DrNAS({"cell": (6, 5)}, {"bogus": 1})
    with pytest.raises(SpacenasError, match="anchor"):
        DrNAS({"cell": (6, 5)}, {"anchor": "l3"})
    with pytest.raises(SpacenasError, match="partial_k"):
        DrNAS({"cell": (6, 5)}, {"progressive": {"partial_k": [2, 4], "keep_ops": [5, 3]}})
    with pytest.raises(SpacenasError, match="epochs"):
        search(DARTS({"cell": (6, 5)}), FakeSupernet(), blobs(), blobs(), {"epochs": 0}, progress=False)


def test_registry_names():
    for name, cls in (("darts", DARTS), ("gdas", GDAS), ("drnas", DrNAS)):
        assert registry.oneshot_strategy(name) is cls


def _real_parts():
    from spacenas.data import load_dataset
    from spacenas.nn.supernets import NB201Supernet

    return load_dataset, NB201Supernet


@pytest.mark.parametrize("method", ["darts", "gdas", "drnas"])
def test_real_nb201_supernet_on_digits(method):
    from spacenas.strategies.oneshot.build import build_search
    _real_parts()
    built = build_search(space="nb201", method=method, data="digits", seed=0, epochs=1,
                         options={"C": 4, "N": 1, "batch_size": 64, "max_steps": 3})
    res = search(built.strategy, built.supernet, built.train, built.valid, built.loop, progress=False)
    assert NB201Space().parse(res.arch_text) == res.arch


def test_real_nb201_progressive_drnas_on_digits():
    from spacenas.strategies.oneshot.build import build_search
    _real_parts()
    built = build_search(space="nb201", method="drnas", data="digits", seed=0, epochs=2, progressive=True,
                         options={"C": 8, "N": 1, "batch_size": 64, "max_steps": 2})
    res = search(built.strategy, built.supernet, built.train, built.valid, built.loop, progress=False)
    assert built.supernet.partial_k == 2
    assert (built.strategy.op_masks["cell"].sum(1) == 3).all()
    assert built.strategy.op_masks["cell"][torch.arange(6), torch.tensor(res.arch.choices)].all()


def test_cli_run_prints_the_arch_and_table_accuracies_each_epoch(tmp_path, capsys):
    from spacenas.cli.main import main as cli_main
    _real_parts()
    argv = ["search", "--space", "nb201", "--method", "drnas", "--data", "digits", "--epochs", "2",
            "--run-dir", str(tmp_path / "r"), "--no-progress",
            "--set", "C=4", "--set", "N=1", "--set", "max_steps=2", "--set", "dataset=cifar10"]
    assert cli_main(argv) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "epoch   1" in text and "epoch   2" in text and "epoch   0" not in text and "cifar10 table" in text  # 1-based
    derived = [ln for ln in out.out.splitlines() if ln.startswith("derived")][0].split()[1]
    NB201Space().parse(derived)
    assert cli_main(argv[:7] + ["--set", "bogus=1"]) == 2
    assert "unknown option" in capsys.readouterr().err
    assert cli_main(["search", "--method", "gdas", "--progressive", "--data", "digits"]) == 2
    assert "progressive" in capsys.readouterr().err


def test_any_map_style_dataset_gives_the_same_run_as_tensors():
    class Plain(torch.utils.data.Dataset):
        def __init__(self, xy):
            self.x, self.y = xy

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return self.x[i], self.y[i]

    a, sa, _ = run(DARTS, loop={"epochs": 1})
    net = FakeSupernet()
    sb = DARTS(net.arch_shapes(), {}, torch.Generator().manual_seed(0))
    b = search(sb, net, Plain(blobs(48, 1)), Plain(blobs(48, 2)), {"epochs": 1, "batch_size": 16}, progress=False)
    assert torch.allclose(sa.params["cell"], sb.params["cell"]) and a.arch == b.arch


def test_run_dir_guards(tmp_path):
    """A run dir is never overwritten, 'resume' needs a checkpoint, and a resume must match the run."""
    d = tmp_path / "r"
    run(DARTS, loop={"epochs": 1}, run_dir=d)
    with pytest.raises(SpacenasError, match="already holds a run"):
        run(DARTS, loop={"epochs": 1}, run_dir=d)
    with pytest.raises(SpacenasError, match="nothing to resume"):
        run(DARTS, loop={"epochs": 1}, run_dir=tmp_path / "empty", resume=True)
    with pytest.raises(SpacenasError, match="other settings.*loop.epochs.*method"):
        run(GDAS, loop={"epochs": 2}, run_dir=d, resume=True)
    with pytest.raises(SpacenasError, match="differs in: loop.lr"):
        run(DARTS, loop={"epochs": 1, "lr": 0.5}, run_dir=d, resume=True)
    res, _, _ = run(DARTS, loop={"epochs": 1}, run_dir=d, resume=True)  # same settings: accepted
    assert len(res.history) == 1


# ----- search time (log.jsonl per epoch, result.json) ----------------------------------------------
def _log(d):
    return [json.loads(x) for x in (d / "log.jsonl").read_text().splitlines()]


def test_search_time_is_logged_per_epoch_and_summed_into_the_result(tmp_path):
    res, _, _ = run(DARTS, loop={"epochs": 3}, run_dir=tmp_path)
    lines = _log(tmp_path)
    assert all(r["epoch_seconds"] > 0 for r in lines)
    running = 0.0
    for r in lines:
        running += r["epoch_seconds"]
        assert r["search_seconds"] == pytest.approx(running)
    stored = json.loads((tmp_path / "result.json").read_text())
    assert stored["search_seconds"] == res.search_seconds == lines[-1]["search_seconds"]
    assert not {"epoch_seconds", "search_seconds"} & set(stored["final"])  # timings once, at the top
    assert search(DARTS(FakeSupernet().arch_shapes(), {}, torch.Generator().manual_seed(0)), FakeSupernet(),
                  blobs(48, 1), blobs(48, 2), {"epochs": 3, "batch_size": 16}, run_dir=tmp_path, resume=True,
                  progress=False).search_seconds == res.search_seconds  # a finished dir gives it back


def _interrupted(tmp_path):
    d = tmp_path / "cut"
    net = FakeSupernet()
    s = DARTS(net.arch_shapes(), {}, torch.Generator().manual_seed(0))
    _stop_after_first_epoch(s)
    with pytest.raises(_Stop):
        search(s, net, blobs(48, 1), blobs(48, 2), {"epochs": 2, "batch_size": 16}, run_dir=d, progress=False)
    return d


def test_search_time_adds_up_across_a_resume(tmp_path):
    """Epoch 0 in one process, epoch 1 after a resume: the result's search time is the sum of both
    epochs (the checkpoint carries it; the time between the runs is in no epoch)."""
    d = _interrupted(tmp_path)
    first = _log(d)[0]
    assert first["search_seconds"] == first["epoch_seconds"]
    res, _, _ = run(DARTS, run_dir=d, resume=True)
    a, b = _log(d)
    assert a == first
    assert b["search_seconds"] == pytest.approx(a["epoch_seconds"] + b["epoch_seconds"])
    assert json.loads((d / "result.json").read_text())["search_seconds"] == res.search_seconds == b["search_seconds"]


def test_resume_from_a_checkpoint_without_search_time_records_it_as_unknown(tmp_path):
    """A checkpoint written before the search time was recorded: the sum would be partial, so the
    result says null (the report then falls back to its labelled wall-time estimate)."""
    from spacenas.runs import CHECKPOINT, load_checkpoint, save_checkpoint
    d = _interrupted(tmp_path)
    state = load_checkpoint(d / CHECKPOINT)
    del state["run"]["search_seconds"]
    save_checkpoint(d / CHECKPOINT, state)
    res, _, _ = run(DARTS, run_dir=d, resume=True)
    assert res.search_seconds is None and _log(d)[1]["search_seconds"] is None and _log(d)[1]["epoch_seconds"] > 0
    assert json.loads((d / "result.json").read_text())["search_seconds"] is None
