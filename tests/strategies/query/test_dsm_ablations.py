"""DSM-NAS ablation switches (paper Sec. V-B, V-C): reward form, frozen subspaces, random search in subspaces."""
from __future__ import annotations

import pytest

from spacenas import registry
from spacenas.errors import SpacenasError
from spacenas.evaluators.base import Result
from spacenas.spaces.nb201 import NB201Space
from spacenas.strategies.query.dsm import DSMNAS
from spacenas.strategies.query.dsm_controller import REWARDS, absolute_reward, improvement_reward
from spacenas.strategies.query.dsm_random import DSMRandomSearch
from support import GOOD_NB201, drive_nb201, nb201_score

GOOD = GOOD_NB201
toy_score, drive = nb201_score, drive_nb201


# ----- reward forms, by hand ----------------------------------------------------------------------
def test_reward_forms_by_hand():
    assert improvement_reward(93.5, 91.25) == pytest.approx(2.25)  # 93.5 - 91.25
    assert absolute_reward(93.5, 91.25) == 93.5  # the parent's score is ignored
    assert absolute_reward(80.0, 90.5) == 80.0
    assert set(REWARDS) == {"improvement", "absolute"}


@pytest.mark.parametrize("form, b1, b2", [
    # improvement: R1 = 53 - 50 = 3 -> b = 3; the child replaces the center (53);
    #              R2 = 51 - 53 = -2 -> b = 0.9 * 3 + 0.1 * (-2) = 2.7 - 0.2 = 2.5
    ("improvement", 3.0, 2.5),
    # absolute:    R1 = 53 -> b = 53; R2 = 51 -> b = 0.9 * 53 + 0.1 * 51 = 47.7 + 5.1 = 52.8
    ("absolute", 53.0, 52.8),
])
def test_policy_reward_feeds_the_baseline_by_hand(form, b1, b2):
    s = DSMNAS(NB201Space(), seed=0, config={"n_subspaces": 1, "reward": form, "skip_seen": False})
    center = s.ask()
    s.tell(center, Result(50.0))
    c1 = s.ask()
    s.tell(c1, Result(53.0))
    assert s.baseline_value == pytest.approx(b1)
    assert s.centers == [c1] and s.center_scores == [53.0]  # replacement rule is the same for both forms
    c2 = s.ask()
    s.tell(c2, Result(51.0))
    assert s.baseline_value == pytest.approx(b2)
    assert s.centers == [c1] and s.center_scores == [53.0]  # 51 < 53: rejected under both forms
    assert s.n_updates == 2


def test_bad_reward_form_is_a_one_line_error():
    with pytest.raises(SpacenasError, match="reward"):
        DSMNAS(NB201Space(), config={"reward": "relative"})


# ----- update_subspaces ----------------------------------------------------------------------------
def test_frozen_subspaces_never_change_the_centers():
    s = DSMNAS(NB201Space(), seed=1, config={"update_subspaces": False})
    init = drive(s, 4)
    scores = list(s.center_scores)
    for _ in range(80):
        drive(s, 1)
        assert s.centers == init and s.center_scores == scores
    assert s.n_replacements == 0 and s.n_updates >= 76
    # the answer is the best arch evaluated, not the best (unchanged) initial center
    best = max(s.history, key=lambda ar: ar[1].score)
    assert s.best() == best and best[1].score > max(scores)


def test_updating_subspaces_moves_the_centers_on_the_same_run():
    s = DSMNAS(NB201Space(), seed=1)
    init = drive(s, 4)
    drive(s, 80)
    assert s.n_replacements > 0 and s.centers != init


# ----- random search inside the subspaces ------------------------------------------------------------
def test_dsm_random_registered_and_strict():
    assert registry.query_strategy("dsm-random") is DSMRandomSearch
    with pytest.raises(SpacenasError, match="unknown option"):
        DSMRandomSearch(NB201Space(), config={"reward": "absolute"})
    with pytest.raises(SpacenasError, match="at most n_subspaces"):
        DSMRandomSearch(NB201Space(), config={"init_archs": [GOOD] * 5})


@pytest.mark.parametrize("update", [True, False])
def test_dsm_random_samples_inside_the_balls(update):
    space = NB201Space()
    s = DSMRandomSearch(space, seed=2, config={"init_archs": [GOOD], "radius": 2, "update_subspaces": update})
    init = drive(s, 4)
    assert init[0] == space.parse(GOOD) and init == s.centers
    asked = []
    for _ in range(60):
        child = s.ask()
        k = s.pending[0]
        assert space.distance(child, s.centers[k]) <= 2
        before = (list(s.centers), list(s.center_scores))
        s.tell(child, Result(toy_score(child)))
        asked.append(child)
        improved = toy_score(child) > before[1][k]
        if update and improved:
            assert s.centers[k] == child and s.center_scores[k] == toy_score(child)
        else:
            assert (s.centers, s.center_scores) == before
    assert len({a.choices for a in init + asked}) == 64  # every ask is new
    if not update:
        assert s.centers == init and s.n_replacements == 0
    else:
        assert s.n_replacements > 0
    assert s.best() == max(s.history, key=lambda ar: ar[1].score)


def test_dsm_random_reproducible_by_seed():
    a = drive(DSMRandomSearch(NB201Space(), seed=7), 40)
    b = drive(DSMRandomSearch(NB201Space(), seed=7), 40)
    c = drive(DSMRandomSearch(NB201Space(), seed=8), 40)
    assert a == b and a != c
