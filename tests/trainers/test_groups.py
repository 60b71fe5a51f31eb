"""Group-relative advantages and stratified opponent sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from textgym.trainers.groups import (
    group_advantages,
    plan_batch,
    share_of_groups_with_variance,
    stratified_values,
)


@given(st.lists(st.tuples(st.integers(0, 5), st.floats(-2, 2)), min_size=1, max_size=40))
def test_advantages_are_centered_within_each_group(pairs) -> None:
    groups = [g for g, _ in pairs]
    rewards = [r for _, r in pairs]
    adv = group_advantages(rewards, groups)
    for g in set(groups):
        members = [a for a, gg in zip(adv, groups, strict=True) if gg == g]
        assert abs(sum(members)) < 1e-9 * max(1, len(members)) + 1e-9


def test_hand_computed_values() -> None:
    assert group_advantages([1.0, 0.0, 0.5, 0.5], ["a", "a", "b", "b"]) == [0.5, -0.5, 0.0, 0.0]
    scaled = group_advantages([1.0, 0.0], ["a", "a"], scale="std")
    assert scaled == pytest.approx([1.0, -1.0], abs=1e-5)
    assert share_of_groups_with_variance([1.0, 0.0, 0.5, 0.5], ["a", "a", "b", "b"]) == 0.5
    with pytest.raises(ValueError):
        group_advantages([1.0], ["a", "b"])


def test_stratified_sampling_gives_each_bucket_an_equal_share() -> None:
    rng = np.random.default_rng(0)
    for n in (8, 10, 64):
        probs = stratified_values(n, 0.2, 0.7, 4, rng)
        counts = np.histogram(probs, bins=np.linspace(0.2, 0.7, 5))[0]
        assert counts.sum() == n and counts.max() - counts.min() <= 1
        assert all(0.2 <= p <= 0.7 for p in probs)
    assert stratified_values(3, 0.0, 0.0, 2, rng) == [0.0, 0.0, 0.0]


def test_plan_batch_is_seeded_and_validated() -> None:
    plan = plan_batch(
        step_seed=7, games=256, group_size=8, curriculum={"random_move_prob": (0.2, 0.7, False)}
    )
    assert len(plan) == 32 and len({g.seed for g in plan}) == 32
    assert plan == plan_batch(
        step_seed=7, games=256, group_size=8, curriculum={"random_move_prob": (0.2, 0.7, False)}
    )
    assert plan != plan_batch(
        step_seed=8, games=256, group_size=8, curriculum={"random_move_prob": (0.2, 0.7, False)}
    )
    # (run seed, step) pairs, as the RL loop passes them: flat entropy, any numpy version
    by_step = [plan_batch([0, step], 64, 8, {"p": (0.0, 1.0, False)}) for step in (1, 2)]
    assert (
        by_step[0] == plan_batch((0, 1), 64, 8, {"p": (0.0, 1.0, False)})
        and by_step[0] != by_step[1]
    )
    with pytest.raises(ValueError, match="multiple"):
        plan_batch(0, games=100, group_size=8, curriculum={"p": (0.0, 1.0, False)})
    with pytest.raises(ValueError, match="group_size"):
        plan_batch(0, games=8, group_size=1, curriculum={"p": (0.0, 1.0, False)})
    with pytest.raises(ValueError, match="low"):
        plan_batch(0, games=8, group_size=2, curriculum={"p": (0.8, 0.2, False)})
