"""DSM-NAS: the math by hand, the ask/tell contract, resume, and search quality on NB201."""
from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch

from spacenas import registry
from spacenas.errors import SpacenasError
from spacenas.evaluators.base import Result
from spacenas.spaces.nb201 import NB201Space
from spacenas.strategies.query.dsm import DSMNAS
from spacenas.strategies.query.dsm_controller import (
    DSMController, apply_edits, build_subspace_graph, categorical_entropy, clip_logits, ema_update,
    improvement_reward, reinforce_loss)
from support import GOOD_NB201, drive_nb201, nb201_score

GOOD = GOOD_NB201
toy_score, drive = nb201_score, drive_nb201


# ----- pure math, hand-worked -------------------------------------------------------------------
def test_improvement_reward_by_hand():
    assert improvement_reward(93.5, 91.25) == pytest.approx(2.25)  # 93.5 - 91.25
    assert improvement_reward(80.0, 90.5) == pytest.approx(-10.5)  # 80 - 90.5


def test_ema_baseline_by_hand():
    assert ema_update(None, 2.0, 0.9) == 2.0  # first reward initialises
    assert ema_update(2.0, -1.0, 0.9) == pytest.approx(1.7)  # 0.9*2 + 0.1*(-1) = 1.8 - 0.1


def test_apply_edits_in_order():
    # (0,1,2): d0 <- 3, d2 <- 2 (no-op), d0 <- 4 (last edit wins) -> (4,1,2)
    assert apply_edits((0, 1, 2), [(0, 3), (2, 2), (0, 4)]) == (4, 1, 2)


def test_subspace_graph_edges_and_features_by_hand():
    onehots = np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32)
    x, adj, edge = build_subspace_graph(onehots, [90.0, 80.0, 95.0], score_scale=0.01)
    # x = [one-hot, 0.01*score]
    np.testing.assert_allclose(x, [[1, 0, 0.90], [0, 1, 0.80], [1, 0, 0.95]], rtol=1e-6)
    # worse -> better: 1 -> 0 (80 < 90), 1 -> 2 (80 < 95), 0 -> 2 (90 < 95)
    np.testing.assert_array_equal(adj, [[0, 0, 1], [1, 0, 1], [0, 0, 0]])
    np.testing.assert_allclose(edge[1, 0], [1, -1, 0.10], atol=1e-6)  # x0 - x1
    np.testing.assert_allclose(edge[1, 2], [1, -1, 0.15], atol=1e-6)  # x2 - x1
    np.testing.assert_allclose(edge[0, 2], [0, 0, 0.05], atol=1e-6)  # x2 - x0
    assert not edge[0, 1].any() and not edge[2, 0].any() and not edge[2, 1].any()


def test_subspace_graph_ties_get_one_edge():
    _, adj, _ = build_subspace_graph(np.eye(2), [90.0, 90.0])
    np.testing.assert_array_equal(adj, [[0, 1], [0, 0]])


def test_entropy_and_clip_by_hand():
    # p = softmax([0, ln 3]) = [1/4, 3/4]; H = 0.25 ln 4 + 0.75 ln(4/3) = 0.346574 + 0.215762
    h = categorical_entropy(torch.tensor([0.0, math.log(3.0)]))
    assert float(h) == pytest.approx(0.562335, abs=1e-6)
    assert float(categorical_entropy(torch.zeros(5))) == pytest.approx(math.log(5))
    # 1.5 * tanh(1) = 1.5 * 0.761594 = 1.142391
    assert float(clip_logits(torch.tensor(1.0), 1.5)) == pytest.approx(1.142391, abs=1e-6)


def test_reinforce_loss_on_a_tiny_fixed_controller():
    # all weights 0 -> every logit 0 -> uniform policies. K=2 subspaces, decisions with (2, 3)
    # choices (the third choice of decision 0 is masked out), one edit.
    ctrl = DSMController(in_dim=6, n_choices=(2, 3), hidden=4, init_range=0.0)
    x = torch.zeros(2, 6)
    adj = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    edge = torch.zeros(2, 2, 6)
    acts, logp, ent = ctrl(x, adj, edge, [(0, 0), (1, 2)], 1, actions=[1, 0, 1])
    assert acts == [1, 0, 1]
    # log p = ln(1/2) [subspace] + ln(1/2) [decision] + ln(1/2) [choice of decision 0] = -3 ln 2
    assert float(logp.detach()) == pytest.approx(-3 * math.log(2), abs=1e-6)
    assert float(ent.detach()) == pytest.approx(3 * math.log(2), abs=1e-6)
    # loss = -A log p - w H = -0.5 * (-2.079442) - 0.1 * 2.079442 = 1.039721 - 0.207944 = 0.831777
    loss = reinforce_loss(logp, ent, advantage=0.5, entropy_weight=0.1)
    assert float(loss.detach()) == pytest.approx(0.831777, abs=1e-5)
    # decision 1 has 3 choices: -ln2 - ln2 - ln3
    _, logp2, _ = ctrl(x, adj, edge, [(0, 0), (1, 2)], 1, actions=[0, 1, 2])
    assert float(logp2.detach()) == pytest.approx(-2 * math.log(2) - math.log(3), abs=1e-6)


def test_positive_advantage_raises_the_probability_of_the_action():
    g = torch.Generator().manual_seed(0)
    ctrl = DSMController(in_dim=6, n_choices=(2, 3), hidden=8, generator=g, local_clip=None, global_clip=None)
    x, adj, edge = torch.rand(2, 6, generator=g), torch.tensor([[0.0, 1.0], [0.0, 0.0]]), torch.zeros(2, 2, 6)
    acts = [1, 1, 2]
    opt = torch.optim.SGD(ctrl.parameters(), lr=0.1)
    _, before, ent = ctrl(x, adj, edge, [(0, 0), (1, 2)], 1, actions=acts)
    reinforce_loss(before, ent, 1.0, 0.0).backward()
    opt.step()
    _, after, _ = ctrl(x, adj, edge, [(0, 0), (1, 2)], 1, actions=acts)
    assert float(after.detach()) > float(before.detach())


# ----- strategy behaviour -------------------------------------------------------------------------
def test_registered_and_config_is_strict():
    assert registry.query_strategy("dsm") is DSMNAS
    with pytest.raises(SpacenasError, match="unknown option"):
        DSMNAS(NB201Space(), config={"n_subspace": 3})


def test_first_k_asks_are_the_initial_centers():
    s = DSMNAS(NB201Space(), seed=3)
    first = drive(s, 4)
    assert first == s.centers and None not in s.center_scores
    assert len({a.choices for a in first}) == 4


@pytest.mark.parametrize("radius", [1, 2, 4])
def test_children_stay_inside_the_ball_of_their_center(radius):
    space = NB201Space()
    s = DSMNAS(space, seed=1, config={"radius": radius})
    drive(s, 4)
    for _ in range(40):
        child = s.ask()
        k = s.pending[0]
        center = s.centers[k]
        assert 1 <= space.distance(child, center) <= radius
        s.tell(child, Result(toy_score(child)))


def test_every_ask_after_init_is_new():
    s = DSMNAS(NB201Space(), seed=2)
    asked = drive(s, 80)
    assert len({a.choices for a in asked}) == 80


def test_replacement_only_when_reward_positive_and_rejected_parent_unchanged():
    space = NB201Space()
    s = DSMNAS(space, seed=0)
    drive(s, 4, score=lambda a: 50.0)
    centers, scores = list(s.centers), list(s.center_scores)
    child = s.ask()
    k = s.pending[0]
    s.tell(child, Result(49.0))  # R = -1: rejected
    assert s.centers == centers and s.center_scores == scores
    assert s.centers[k] is centers[k]
    child = s.ask()
    k = s.pending[0]
    s.tell(child, Result(50.0))  # R = 0: rejected too (strictly greater needed)
    assert s.centers == centers
    child = s.ask()
    k = s.pending[0]
    s.tell(child, Result(51.0))  # R = +1: replaces
    assert s.centers[k] == child and s.center_scores[k] == 51.0
    assert [c for i, c in enumerate(s.centers) if i != k] == [c for i, c in enumerate(centers) if i != k]
    assert s.best() == (child, Result(51.0))


def test_dsm_plus_init_archs_and_bad_strings():
    space = NB201Space()
    s = DSMNAS(space, seed=0, config={"init_archs": [GOOD]})
    assert s.ask() == space.parse(GOOD)
    with pytest.raises(SpacenasError, match="bad NB201 arch"):
        DSMNAS(space, config={"init_archs": ["|conv~0|+|none~0|none~1|"]})
    with pytest.raises(SpacenasError, match="at most n_subspaces"):
        DSMNAS(space, config={"init_archs": [GOOD] * 5})


def test_reproducible_by_seed():
    a = drive(DSMNAS(NB201Space(), seed=7), 40)
    b = drive(DSMNAS(NB201Space(), seed=7), 40)
    c = drive(DSMNAS(NB201Space(), seed=8), 40)
    assert a == b and a != c


def test_resume_after_k_tells_continues_identically():
    space = NB201Space()
    ref = DSMNAS(space, seed=5)
    full = drive(ref, 60)
    s = DSMNAS(space, seed=5)
    head = drive(s, 25)
    state = pickle.loads(pickle.dumps(s.state_dict()))
    drive(s, 5)  # the original keeps going; the snapshot must not share state with it
    resumed = DSMNAS(space, seed=123)
    resumed.load_state_dict(state)
    tail = drive(resumed, 35)
    assert head + tail == full
    assert resumed.best() == ref.best()
    for p, q in zip(resumed.controller.parameters(), ref.controller.parameters()):
        assert torch.equal(p, q)


# ----- search quality on the shipped table ----------------------------------------------------------
def test_beats_random_search_on_nb201_cifar10():
    from spacenas.evaluators import TabularEvaluator
    from spacenas.strategies.query.random import RandomSearch

    def run(cls, seed):
        ev = TabularEvaluator("cifar10")
        st = cls(ev.space, seed=seed)
        while ev.spent < 100:
            a = st.ask()
            st.tell(a, ev.evaluate(a))
        return st.best()[1].metrics["test"]

    dsm = np.mean([run(DSMNAS, s) for s in range(10)])
    rs = np.mean([run(RandomSearch, s) for s in range(10)])
    assert dsm > rs + 0.2 and dsm > 94.0, (dsm, rs)


def test_search_inside_a_given_subspace():
    from spacenas.subspace import Subspace
    space = NB201Space()
    mask = np.ones((6, 5), bool)
    mask[:, 0] = False  # no 'none' op anywhere
    mask[0, 4] = False  # no avg_pool on the first edge
    sub = Subspace(space, mask)
    s = DSMNAS(space, seed=4, subspace=sub)
    asked = drive(s, 60)
    assert all(sub.contains(a) for a in asked)
    with pytest.raises(SpacenasError, match="outside the subspace"):
        DSMNAS(space, config={"init_archs": ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]}, subspace=sub)


def test_resume_between_ask_and_tell_continues_identically():
    space = NB201Space()
    full = drive(DSMNAS(space, seed=9), 30)
    s = DSMNAS(space, seed=9)
    head = drive(s, 12)
    child = s.ask()
    state = s.state_dict()
    resumed = DSMNAS(space, seed=0)
    resumed.load_state_dict(state)
    resumed.tell(child, Result(toy_score(child), {"test": toy_score(child)}, 1.0))
    tail = drive(resumed, 17)
    assert head + [child] + tail == full


def test_cuda_device_without_cuda_is_a_clear_error():
    import pytest
    import torch

    from spacenas.errors import SpacenasError
    from spacenas.spaces.nb201 import NB201Space
    from spacenas.strategies.query.dsm import DSMNAS

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(SpacenasError, match="CUDA is not available"):
        DSMNAS(NB201Space(), seed=0, config={"device": "cuda"})


def test_n_subspaces_is_bounded_where_the_k_by_k_graph_stays_small():
    """K above MAX_SUBSPACES is refused at once, naming the field and the bound (was le=10,000:
    K=10,000 builds a dense 10^8-edge graph per controller step, hundreds of GB); the bound's
    reason is in the field description (numbers: benchmarks/dsm_subspace_count.py)."""
    from spacenas.config import build_config
    from spacenas.strategies.query.dsm import MAX_SUBSPACES, DSMConfig
    assert build_config(DSMConfig, {"n_subspaces": MAX_SUBSPACES}).n_subspaces == MAX_SUBSPACES
    for k in (MAX_SUBSPACES + 1, 10_000):
        with pytest.raises(SpacenasError, match=f"'n_subspaces': Input should be less than or equal to {MAX_SUBSPACES}"):
            build_config(DSMConfig, {"n_subspaces": k})
    desc = DSMConfig.model_fields["n_subspaces"].description
    assert f"at most {MAX_SUBSPACES}" in desc and "K x K" in desc


def test_dsm_at_the_bound_runs_a_controller_step():
    """K = MAX_SUBSPACES is usable: the K initial centers, then one controller step."""
    from spacenas.evaluators import TabularEvaluator
    from spacenas.strategies.query.dsm import MAX_SUBSPACES
    ev = TabularEvaluator("cifar10")
    s = DSMNAS(ev.space, seed=0, config={"n_subspaces": MAX_SUBSPACES, "hidden": 8})
    for _ in range(MAX_SUBSPACES + 1):
        a = s.ask()
        s.tell(a, ev.evaluate(a))
    assert s.n_updates == 1 and len(s.centers) == MAX_SUBSPACES


def test_draw_unseen_skips_taken_archs_and_gives_up_after_its_tries():
    from spacenas.strategies.query.dsm_random import draw_unseen
    space = NB201Space()
    draws = iter([space.make([0] * 6), space.make([0] * 6), space.make([1] * 6)])
    assert draw_unseen(lambda: next(draws), {(0,) * 6}).choices == (1,) * 6
    same = space.make([2] * 6)
    assert draw_unseen(lambda: same, {same.choices}, tries=3) is same  # nothing unseen: the last draw
