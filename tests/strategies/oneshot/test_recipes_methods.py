"""The papers' recipes in A-DARTS (skip-connect rule, Config-A), DDSAS (ImageNet schedule) and
AutoSpace (Eq. 1's hard MAdds limit, fitness on the training set), issue 12."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from spacenas.data import load_dataset
from spacenas.data.splits import ImageTensorDataset
from spacenas.errors import SpacenasError
from spacenas.nn.open_cell_net import NetPlan
from spacenas.nn.supernets import NB201Supernet
from spacenas.spaces.darts import DARTSSpace
from spacenas.spaces.nb201 import NB201Space
from spacenas.strategies.autospace import AutoSpace, AutoSpaceConfig
from spacenas.strategies.autospace.math import within_madds
from spacenas.strategies.oneshot import ddsas_math as dm
from spacenas.strategies.oneshot.adarts import DISCARD_REASON, ADARTS, config_a, keeps_skip_rule, search_until_kept
from spacenas.strategies.oneshot.loop import search


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits").search_split(torch.Generator().manual_seed(0))


def tensors(split, n):
    return split.batch(torch.arange(n))


# ----- A-DARTS: the skip-connect rule ---------------------------------------------------------
def _genotype(normal_op: str) -> str:
    normal = [(normal_op, 0), ("sep_conv_3x3", 1)] * 4
    reduce = [("skip_connect", 0), ("max_pool_3x3", 1)] * 4
    return (f"Genotype(normal={normal!r}, normal_concat=[2, 3, 4, 5], reduce={reduce!r}, "
            f"reduce_concat=[2, 3, 4, 5])")


def test_skip_rule_looks_at_the_normal_cell_only():
    space = DARTSSpace()
    assert keeps_skip_rule(space, space.parse(_genotype("skip_connect")))
    # skip_connect only in the reduction cell: discarded
    assert not keeps_skip_rule(space, space.parse(_genotype("dil_conv_3x3")))
    nb = NB201Space()  # one cell type: the cell is the normal cell
    assert keeps_skip_rule(nb, nb.parse("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    assert not keeps_skip_rule(nb, nb.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"))


def test_search_until_kept_discards_runs_without_skip():
    nb = NB201Space()
    archs = {0: "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
             1: "|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
             2: "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"}
    net = type("Net", (), {"space": nb})()

    def run(seed):
        return type("R", (), {"arch": nb.parse(archs[seed])})(), None, net

    seed, res, discarded = search_until_kept(run, [0, 1, 2])
    assert (seed, discarded) == (2, [0, 1]) and nb.format(res.arch) == archs[2]
    with pytest.raises(SpacenasError, match="discarded"):
        search_until_kept(run, [0, 1])


def test_skip_rule_verdict_is_logged(digits):
    net = NB201Supernet(C=4, N=1, num_classes=10, in_channels=1, act_mixture=True,
                        generator=torch.Generator().manual_seed(1))
    st = ADARTS(net.arch_shapes(), {"skip_rule": True}, torch.Generator().manual_seed(0))
    tr, va = tensors(digits[0], 64), tensors(digits[1], 64)
    r = search(st, net, tr, va, {"epochs": 1, "batch_size": 32, "max_steps": 1}, progress=False)
    kept = keeps_skip_rule(net.space, r.arch)
    assert r.history[-1]["discarded"] == (False if kept else DISCARD_REASON)


# ----- A-DARTS: Config-A ----------------------------------------------------------------------------
def test_config_a_freezes_beta_and_searches_alpha(digits, tmp_path):
    tr, va = tensors(digits[0], 64), tensors(digits[1], 64)

    def nb201():
        return NB201Supernet(C=4, N=1, num_classes=10, in_channels=1, act_mixture=True,
                             generator=torch.Generator().manual_seed(1))

    first = ADARTS(nb201().arch_shapes(), {}, torch.Generator().manual_seed(0))
    search(first, nb201(), tr, va, {"epochs": 1, "batch_size": 32, "max_steps": 2}, run_dir=tmp_path / "a",
           progress=False)
    opts = config_a(tmp_path / "a")
    assert opts == config_a(first)  # the log holds the exact beta
    net = nb201()
    st = ADARTS(net.arch_shapes(), opts, torch.Generator().manual_seed(5))
    alpha0, beta0 = st.params["cell"].detach().clone(), st.beta["cell"].detach().clone()
    torch.testing.assert_close(beta0, first.beta["cell"].detach())
    torch.testing.assert_close(st.act_weights()["cell"], torch.softmax(beta0, -1))
    r = search(st, net, tr, va, {"epochs": 1, "batch_size": 32, "max_steps": 2}, progress=False)
    assert torch.equal(st.beta["cell"].detach(), beta0)  # frozen
    assert not torch.equal(st.params["cell"].detach(), alpha0)  # alpha learned
    assert "act_loss" not in r.history[-1]


def test_config_a_bad_inputs(tmp_path):
    shapes = {"cell": (6, 5)}
    with pytest.raises(SpacenasError, match="shape"):
        ADARTS(shapes, {"frozen_beta": {"cell": [[0.0] * 9] * 5}})
    with pytest.raises(SpacenasError, match="cell types"):
        ADARTS(shapes, {"frozen_beta": {"normal": [[0.0] * 9] * 6}})
    with pytest.raises(SpacenasError, match="not both"):
        ADARTS(shapes, {"frozen_beta": {"cell": [[0.0] * 9] * 6}, "fixed_activation": "relu"})
    with pytest.raises(SpacenasError, match="cannot read"):
        config_a(tmp_path / "missing")


# ----- DDSAS: ImageNet schedule -----------------------------------------------------------------
def test_expanding_space_at_given_epochs():
    ops = ("none", "a", "b", "c")
    row = lambda m: [o for o, on in zip(ops, m[0]) if on]  # noqa: E731
    assert row(dm.expanding_space(ops, 2, ["a"], ["b", "c"], 9, 10)) == ["a"]
    assert row(dm.expanding_space(ops, 2, ["a"], ["b", "c"], 10, 10)) == ["a", "b"]
    assert row(dm.expanding_space(ops, 2, ["a"], ["b", "c"], 25, 10)) == ["a", "b", "c"]
    assert row(dm.expanding_space(ops, 2, ["a"], ["b", "c"], 39, 10, [40, 40])) == ["a"]
    assert row(dm.expanding_space(ops, 2, ["a"], ["none", "b", "c"], 40, 10, [40, 40, 40])) == ["none", "a", "b", "c"]
    with pytest.raises(SpacenasError, match="expand_epochs"):
        dm.expanding_space(ops, 2, ["a"], ["b", "c"], 0, 10, [40])


def test_imagenet_schedule_samples_parametric_ops_first():
    from spacenas.strategies.oneshot.ddsas import DDSAS
    from spacenas.spaces.darts import SUPERNET_OPS
    param = ["sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
    rest = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect"]
    s = DDSAS({"normal": (14, 8), "reduce": (14, 8)},
              {"expand_initial": param, "expand_order": rest, "expand_epochs": [40] * 4},
              torch.Generator().manual_seed(0))
    net = type("Net", (), {"op_names": SUPERNET_OPS})()
    s.setup(net, 60)
    is_param = torch.tensor([o in param for o in SUPERNET_OPS])
    for epoch in (0, 39):
        s.on_epoch_start(epoch, net)
        assert not s.op_masks["normal"][:, ~is_param].any()
    s.on_epoch_start(40, net)
    assert s.sampler.allowed["normal"].all()


# ----- AutoSpace: Eq. 1 and the fitness data -----------------------------------------------------
def test_within_madds_is_strict():
    assert within_madds(2.5, 3.0) and not within_madds(3.0, 3.0) and within_madds(1e9, None)


def _plan():
    return NetPlan(stem_channels=8, channels=[8, 8], strides=[1, 2])


def test_eq1_limit_holds_for_every_cell(digits):
    plan = _plan()
    free = AutoSpace(AutoSpaceConfig(population=6, k=2, tournament=2, offspring=2, reference=None), plan)
    costs = sorted(free._madds(0, m.text) for m in free.initial_population(np.random.default_rng(0))[0])
    limit = float(np.median(costs))  # a limit that half of the free cells break
    assert costs[-1] >= limit
    cfg = AutoSpaceConfig(rounds=2, steps_per_round=2, population=4, k=2, tournament=2, offspring=2,
                          batch_size=32, reference=None, madds_max=limit)
    dea = AutoSpace(cfg, plan)
    res = dea.run(digits[0], digits[1], np.random.default_rng(1), torch.Generator().manual_seed(0))
    for l, pop in enumerate(res.populations):
        assert all(dea._madds(l, m.text) < limit for m in pop)


def test_fitness_on_the_training_set_never_reads_the_valid_split(digits):
    train, valid = digits
    poisoned = ImageTensorDataset(valid.images, torch.full_like(valid.labels, 99), valid.mean.view(-1),
                                  valid.std.view(-1), valid.scale, valid.indices)
    cfg = dict(rounds=1, steps_per_round=2, population=4, k=2, tournament=2, offspring=1, batch_size=16,
               reference=None)
    res = AutoSpace(AutoSpaceConfig(**cfg, fitness_data="train"), _plan()).run(
        train, poisoned, np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert len(res.losses) == 2
    with pytest.raises((IndexError, RuntimeError)):  # the default reads the held-out split
        AutoSpace(AutoSpaceConfig(**cfg), _plan()).run(train, poisoned, np.random.default_rng(0),
                                                       torch.Generator().manual_seed(0))
