"""DDSAS: pure math with hand-worked numbers, then the strategy end to end on small data."""
import math

import numpy as np
import pytest
import torch

from spacenas.errors import SpacenasError
from spacenas.strategies.oneshot import ddsas_math as dm


# ----- Eq. 4-5 ------------------------------------------------------------------------------
def test_sigmoid_eq5():
    # sigmoid(0) = 0.5; sigmoid(ln 3) = 1 / (1 + 1/3) = 0.75
    np.testing.assert_allclose(dm.sigmoid(np.array([0.0, math.log(3)])), [0.5, 0.75])


def test_ucb_eq4_paper_form():
    f = np.array([0.5, 0.75, 0.9])
    t = np.array([2, 1, 0])
    # T = 4: op0: 0.5 + sqrt(2 ln 4 / 2) = 0.5 + sqrt(1.386294) = 0.5 + 1.177410 = 1.677410
    #        op1: 0.75 + sqrt(2 ln 4 / 1) = 0.75 + sqrt(2.772589) = 0.75 + 1.665109 = 2.415109
    #        op2: never sampled -> +inf
    u = dm.ucb_scores(f, t, T=4)
    np.testing.assert_allclose(u[:2], [1.677410, 2.415109], atol=1e-6)
    assert math.isinf(u[2]) and u[2] > 0


def test_ucb_eq4_code_form():
    # 0.5 + 1.44 * sqrt(ln 4 / 2) = 0.5 + 1.44 * 0.832555 = 0.5 + 1.198879 = 1.698879
    u = dm.ucb_scores(np.array([0.5]), np.array([2]), T=4, c=1.44, form="code")
    np.testing.assert_allclose(u, [1.698879], atol=1e-6)
    with pytest.raises(SpacenasError, match="allowed: paper, code"):
        dm.ucb_scores(np.array([0.5]), np.array([2]), T=4, form="bogus")


def test_ucb_first_iterations():
    # T = 1: log 1 = 0, tried ops get no bonus; untried ones are +inf
    u = dm.ucb_scores(np.array([0.5, 0.6]), np.array([1, 0]), T=1)
    assert u[0] == 0.5 and math.isinf(u[1])


# ----- top-L with one op per edge -----------------------------------------------------------
SCORES = np.array([[0.9, 0.8, 0.7],
                   [0.1, 0.2, 0.3],
                   [0.6, 0.5, 0.05]])


def test_top_l_keeps_one_op_per_edge():
    rng = np.random.default_rng(0)
    # plain top-4 would be 0.9, 0.8, 0.7, 0.6 and leave edge 1 empty. Per-edge bests first:
    # edge0 op0 (0.9), edge1 op2 (0.3), edge2 op0 (0.6); the 4th slot: best rest = edge0 op1 (0.8)
    z = dm.select_top_l(SCORES, 4, rng)
    np.testing.assert_array_equal(z, [[1, 1, 0], [0, 0, 1], [1, 0, 0]])


def test_top_l_respects_allowed_and_always():
    rng = np.random.default_rng(0)
    allowed = np.ones((3, 3), bool)
    allowed[0, 1] = False
    # edge0 op1 not in the space: the 4th slot goes to the next best, edge0 op2 (0.7)
    z = dm.select_top_l(SCORES, 4, rng, allowed=allowed)
    np.testing.assert_array_equal(z, [[1, 0, 1], [0, 0, 1], [1, 0, 0]])
    # op0 always present and not counted: counted ops are columns 1-2; per-edge bests
    # edge0 op1 (0.8), edge1 op2 (0.3), edge2 op1 (0.5); 4th counted: edge0 op2 (0.7)
    always = np.zeros((3, 3), bool)
    always[:, 0] = True
    z = dm.select_top_l(SCORES, 4, rng, always=always)
    np.testing.assert_array_equal(z, [[1, 1, 1], [1, 0, 1], [1, 1, 0]])
    # fewer allowed ops than L: all of them
    small = np.eye(3, dtype=bool)
    np.testing.assert_array_equal(dm.select_top_l(SCORES, 5, rng, allowed=small), small)


def test_top_l_ties_untried_are_random_but_seeded():
    scores = dm.ucb_scores(np.full((6, 5), 0.5), np.zeros((6, 5)), T=0)
    zs = [dm.select_top_l(scores, 12, np.random.default_rng(s)) for s in range(4)]
    for z in zs:
        assert z.sum() == 12 and z.any(axis=1).all()
    assert any((zs[0] != z).any() for z in zs[1:])
    np.testing.assert_array_equal(zs[0], dm.select_top_l(scores, 12, np.random.default_rng(0)))


def test_ucb_sampling_visits_every_op():
    # with constant f, UCB must try every op of a 6x5 space within ceil(30 / 12) = 3 samplings
    rng = np.random.default_rng(1)
    t = np.zeros((6, 5))
    for T in range(3):
        z = dm.select_top_l(dm.ucb_scores(np.full((6, 5), 0.5), t, T), 12, rng)
        t += z
    assert (t > 0).all()


def test_validate_subspace_size():
    assert dm.validate_subspace_size(12, 6, 5) == 12
    assert dm.validate_subspace_size(28, 14, 8) == 28
    for bad in (6, 31, 0, 2.5):
        with pytest.raises(SpacenasError, match=r"allowed: integers 7\.\.30"):
            dm.validate_subspace_size(bad, 6, 5)
    with pytest.raises(SpacenasError, match=r"15\.\.112"):
        dm.validate_subspace_size(14, 14, 8)


# ----- Eq. 7-8 ------------------------------------------------------------------------------
def test_masked_softmax_eq8():
    # exp(0), exp(ln 2), exp(ln 3) = 1, 2, 3; op3 masked -> [1/6, 2/6, 3/6, 0]
    alpha = torch.tensor([[0.0, math.log(2), math.log(3), 5.0]])
    mask = torch.tensor([[True, True, True, False]])
    torch.testing.assert_close(dm.masked_softmax(alpha, mask), torch.tensor([[1 / 6, 2 / 6, 3 / 6, 0.0]]))


def test_ddsas_weights_eq7():
    # p = sigmoid(zeta) = [0.5, 0.75, 0.25, .]; q = [1/6, 2/6, 3/6, 0]
    # p q = [0.5, 1.5, 0.75, 0] / 6, sum = 2.75 / 6  ->  w = [2/11, 6/11, 3/11, 0]
    zeta = torch.tensor([[0.0, math.log(3), -math.log(3), 7.0]], requires_grad=True)
    alpha = torch.tensor([[0.0, math.log(2), math.log(3), 5.0]], requires_grad=True)
    mask = torch.tensor([[True, True, True, False]])
    w = dm.ddsas_weights(zeta, alpha, mask)
    torch.testing.assert_close(w, torch.tensor([[2 / 11, 6 / 11, 3 / 11, 0.0]]))
    (w[0, 1]).backward()
    # masked ops receive no gradient: they take no part in the forward pass
    assert zeta.grad[0, 3] == 0 and alpha.grad[0, 3] == 0
    assert zeta.grad[0, 1] != 0 and alpha.grad[0, 1] != 0


# ----- Eq. 11-12 ----------------------------------------------------------------------------
def test_saliency_update_eq11():
    # op0: (0.2 * 1 + 0.5) / 2 = 0.35; op1: (0.5 * 3 + 0.1) / 4 = 0.4; op2 not sampled: stays 0.3
    s = dm.saliency_update(np.array([0.2, 0.5, 0.3]), np.array([1, 3, 0]),
                           np.array([0.5, 0.1, 0.9]), np.array([True, True, False]))
    np.testing.assert_allclose(s, [0.35, 0.4, 0.3])


def test_saliency_is_running_mean_eq12():
    # sampled in iterations 1, 2, 4 with p q = 0.2, 0.4, 0.9 (iteration 3: 0.7 but not sampled)
    # Eq. 12: (0.2 + 0.4 + 0.9) / 3 = 0.5
    s, t = np.zeros(1), np.zeros(1)
    for v, z in ((0.2, True), (0.4, True), (0.7, False), (0.9, True)):
        s = dm.saliency_update(s, t, np.array([v]), np.array([z]))
        t = t + z
    np.testing.assert_allclose(s, [0.5])


# ----- elastic space ----------------------------------------------------------------------
def test_shrink_space_deletes_lowest_keeps_one_per_edge():
    sal = np.array([[0.1, 0.5, 0.05], [0.2, 0.3, 0.4]])
    full = np.ones((2, 3), bool)
    # ascending: 0.05 (0,2), 0.1 (0,0), 0.2 (1,0), 0.3 (1,1), then 0.4 and 0.5 are last of their edge
    np.testing.assert_array_equal(dm.shrink_space(full, sal, 3), [[0, 1, 0], [0, 1, 1]])
    np.testing.assert_array_equal(dm.shrink_space(full, sal, 10), [[0, 1, 0], [0, 0, 1]])
    protect = np.zeros((2, 3), bool)
    protect[0, 2] = True
    np.testing.assert_array_equal(dm.shrink_space(full, sal, 1, protect), [[0, 1, 1], [1, 1, 1]])


def test_shrink_space_keeps_a_required_op_per_edge():
    # op0 plays 'none': ascending 0.1 (op1) deleted; 0.2 (op2) is the last required op: kept;
    # 0.9 (op0) is not required and the edge still has 2 ops: deleted
    got = dm.shrink_space(np.ones((1, 3), bool), np.array([[0.9, 0.1, 0.2]]), 2,
                          required=np.array([[False, True, True]]))
    np.testing.assert_array_equal(got, [[0, 0, 1]])


def test_expanding_space_schedule():
    ops = ("a", "b", "c", "d")
    assert dm.expanding_space(ops, 2, ["a", "b"], ["c", "d"], 9, 10).tolist() == [[1, 1, 0, 0]] * 2
    assert dm.expanding_space(ops, 2, ["a", "b"], ["c", "d"], 10, 10).tolist() == [[1, 1, 1, 0]] * 2
    assert dm.expanding_space(ops, 1, ["a", "b"], ["c", "d"], 25, 10).tolist() == [[1, 1, 1, 1]]
    with pytest.raises(SpacenasError, match="unknown op 'x'"):
        dm.expanding_space(ops, 1, ["x"], [], 0, 10)


# ----- exploration metric -------------------------------------------------------------------
def test_cosine_distance_of_one_hot_archs():
    from spacenas.spaces.nb201 import NB201Space
    s = NB201Space()
    a, b = s.make([0, 1, 2, 3, 4, 0]), s.make([0, 1, 2, 3, 1, 1])
    # 4 of 6 edges agree: 1 - 4 / (sqrt(6) sqrt(6)) = 1 - 4/6 = 1/3
    assert dm.cosine_distance(s.one_hot(a), s.one_hot(b)) == pytest.approx(1 / 3)
    assert dm.cosine_distance(s.one_hot(a), s.one_hot(a)) == pytest.approx(0.0)
    # a -> a -> b -> a: 0, 1/3, 1/3
    assert dm.exploration_curve([s.one_hot(x) for x in (a, a, b, a)]) == pytest.approx([0, 1 / 3, 1 / 3])


# ----- the strategy on the real supernets -----------------------------------------------------
from spacenas.data import load_dataset  # noqa: E402
from spacenas.nn.supernets import DARTSSupernet, NB201Supernet  # noqa: E402
from spacenas.spaces.nb201 import NB201Space  # noqa: E402
from spacenas.strategies.oneshot.ddsas import DDSAS  # noqa: E402
from spacenas.strategies.oneshot.loop import search  # noqa: E402


def digits(n_train=160, n_valid=160):
    """Small search splits of the embedded digits data (normalized 1x8x8 images)."""
    x, y = load_dataset("digits").train.batch(torch.arange(n_train + n_valid))
    return (x[:n_train], y[:n_train]), (x[n_train:n_train + n_valid], y[n_train:n_train + n_valid])


def nb201(seed=1):
    return NB201Supernet(C=4, N=1, num_classes=10, in_channels=1, generator=torch.Generator().manual_seed(seed))


def make(config=None, net=None, seed=0):
    net = net or nb201()
    return DDSAS(net.arch_shapes(), config, generator=torch.Generator().manual_seed(seed)), net


def test_config_validation():
    with pytest.raises(SpacenasError, match=r"L=31 .*allowed: integers 7\.\.30"):
        make({"L": 31})
    with pytest.raises(SpacenasError, match="unknown option 'LL'"):
        make({"LL": 12})
    with pytest.raises(SpacenasError, match=r"set L for cell 'x' of 3 edges x 4 ops \(allowed: integers 4\.\.12\)"):
        DDSAS({"x": (3, 4)})
    with pytest.raises(SpacenasError, match="not both"):
        make({"shrink_every": 1, "expand_initial": ["none"]})
    st, _ = make()
    assert st.sampler.L == {"cell": 12} and st.config.M == 30  # the paper's NB201 setting


def test_only_sampled_ops_are_computed_and_resampled_every_m_steps():
    st, net = make({"M": 2})
    net.fused = False  # the hooks see op calls of the reference path (fused path: tests/nn/test_fused.py)
    calls = set()
    for c, cell in enumerate(m for m in net.modules() if hasattr(m, "edges")):
        for e, mixed in enumerate(cell.edges):
            for key, op in mixed.ops.items():
                op.register_forward_hook(lambda *_, k=(e, int(key)): calls.add(k))
    (x, y), _ = digits(32, 0)
    st.setup(net, 1)
    assert st.sampler.T == 1
    zs = []
    for step in range(5):
        z = st.sampler.z["cell"].copy()
        calls.clear()
        st.arch_step(net, (x, y))
        zs.append(st.sampler.z["cell"].copy())
        computed = np.zeros((6, 5), bool)
        for e, o in calls:
            computed[e, o] = True
        # every computed op is in Z (none is never computed); Z's non-none ops all run
        assert not (computed & ~zs[-1]).any()
        np.testing.assert_array_equal(computed, zs[-1] & (np.arange(5) != 0))
        if step % 2 == 1:
            np.testing.assert_array_equal(zs[-1], z)
    # steps 0..4 with M = 2: samplings at setup, before steps 2 and 4 -> T = 3, t sums to 3 L
    assert st.sampler.T == 3 and st.sampler.t["cell"].sum() == 36
    assert torch.equal(st.masks()["cell"].cpu(), torch.as_tensor(zs[-1]))
    sub = st.sampler.subspace(NB201Space())  # the producer's output as a Subspace
    assert sub.size == int(np.prod(zs[-1].sum(1))) and sub.sample(np.random.default_rng(0)) in sub
    w = st.mixing_weights()["cell"]
    assert torch.all(w[~torch.as_tensor(zs[-1])] == 0)
    torch.testing.assert_close(w.sum(1), torch.ones(6))


def test_search_end_to_end_derives_from_saliency_and_logs_exploration(tmp_path):
    tr, va = digits()
    st, net = make({"M": 3})
    r = search(st, net, tr, va, {"epochs": 3, "batch_size": 32, "max_steps": 4}, progress=False)
    space = NB201Space()
    arch = space.parse(r.arch_text)
    sal = st.saliency()["cell"]
    # per edge: the non-none op with the highest saliency
    assert list(arch.choices) == [1 + int(np.argmax(row[1:])) for row in sal]
    assert (sal > 0).sum() > 6 and (sal >= 0).all()
    assert len(st.exploration) == 2 and all(0.0 <= d <= 1.0 for d in st.exploration)
    assert all(h["subspace_ops"] == 12 for h in r.history)


class _Interrupt(Exception):
    pass


class _StopAt2(DDSAS):
    def on_epoch_start(self, epoch, supernet):
        if epoch == 2:
            raise _Interrupt
        super().on_epoch_start(epoch, supernet)


def test_resume_matches_uninterrupted_run(tmp_path):
    tr, va = digits(96, 96)
    cfg = {"epochs": 3, "batch_size": 32, "max_steps": 3}
    st, net = make({"M": 2})
    full = search(st, net, tr, va, cfg, progress=False)
    net1 = nb201()
    st1 = _StopAt2(net1.arch_shapes(), {"M": 2}, generator=torch.Generator().manual_seed(0))
    with pytest.raises(_Interrupt):
        search(st1, net1, tr, va, cfg, run_dir=tmp_path, progress=False)
    st2, net2 = make({"M": 2}, seed=5)  # a different seed: everything must come from the checkpoint
    part = search(st2, net2, tr, va, cfg, run_dir=tmp_path, resume=True, progress=False)
    assert part.arch_text == full.arch_text
    np.testing.assert_allclose(st2.saliency()["cell"], st.saliency()["cell"], rtol=1e-5)
    np.testing.assert_array_equal(st2.sampler.t["cell"], st.sampler.t["cell"])
    assert st2.sampler.T == st.sampler.T and st2.steps == st.steps
    assert st2.exploration == pytest.approx(st.exploration)


def test_shrinking_and_expanding_spaces():
    (x, y), _ = digits(16, 0)
    st, net = make({"M": 1, "shrink_every": 1, "shrink_n": 4})
    st.setup(net, 3)
    for epoch in range(3):
        st.on_epoch_start(epoch, net)
        st.arch_step(net, (x, y))
        allowed = st.sampler.allowed["cell"]
        assert allowed.sum() == 30 - 4 * epoch and allowed.any(1).all()
        assert not (st.sampler.z["cell"] & ~allowed).any()
    ops = NB201Space().decisions[0].choices
    st, net = make({"M": 1, "L": 7, "expand_initial": ["none", "skip_connect", "nor_conv_3x3"],
                    "expand_order": ["avg_pool_3x3", "nor_conv_1x1"], "expand_every": 2})
    st.setup(net, 5)
    for epoch in range(5):
        st.on_epoch_start(epoch, net)
        st.arch_step(net, (x, y))
        n_ops = 3 + epoch // 2
        allowed = st.sampler.allowed["cell"]
        assert (allowed.sum(1) == n_ops).all()
        assert not (st.sampler.z["cell"] & ~allowed).any()
    assert allowed[:, ops.index("nor_conv_1x1")].all()
    arch = st.derive(net)
    assert all(c != 0 for c in arch.choices)  # none excluded where another op is allowed


def test_keep_none_code_option():
    (x, y), _ = digits(16, 0)
    st, net = make({"keep_none": True, "ucb_form": "code", "ucb_c": 1.44, "saliency_value": "mixing"})
    st.setup(net, 1)
    st.arch_step(net, (x, y))
    z = st.sampler.z["cell"]
    assert z[:, 0].all() and z.sum() == 12 + 6  # none always in Z, not counted in L


def test_ddsas_sampling_drives_drnas_dirichlet_mixing():
    from spacenas.strategies.oneshot.drnas import DirichletMixer
    tr, va = digits()
    st, net = make({"M": 2, "mixing": "dirichlet", "arch_weight_decay": 0.0})
    assert isinstance(st.mixer, DirichletMixer)
    r = search(st, net, tr, va, {"epochs": 2, "batch_size": 32, "max_steps": 4}, progress=False)
    NB201Space().parse(r.arch_text)
    z = torch.as_tensor(st.sampler.z["cell"])
    w1, w2 = st.mixing_weights()["cell"], st.mixing_weights()["cell"]
    assert torch.all(w1[~z] == 0) and not torch.allclose(w1, w2)  # a fresh Dirichlet draw each pass
    torch.testing.assert_close(w1.sum(1), torch.ones(6))
    assert st.sampler.T >= 4 and (st.saliency()["cell"] > 0).sum() > 6


def test_darts_supernet_l28():
    net = DARTSSupernet(C=2, layers=3, num_classes=10, in_channels=1, generator=torch.Generator().manual_seed(0))
    st, _ = make(net=net)
    assert st.sampler.L == {"normal": 28, "reduce": 28}
    (x, y), _ = digits(8, 0)
    st.setup(net, 1)
    st.arch_step(net, (x, y))
    for k in ("normal", "reduce"):
        z = st.sampler.z[k]
        assert z.sum() == 28 and z.any(1).all()
    net.space.check(st.derive(net))
