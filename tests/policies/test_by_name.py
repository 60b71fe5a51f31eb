"""Policies by name: ``random`` is a weak baseline for every env with a reference player."""

from __future__ import annotations

import pytest

from textgym.evaluation import evaluate
from textgym.policies.by_name import make_policy, policy_names
from textgym.policies.reference import ReferencePolicy


@pytest.mark.parametrize("env_id", ["TextReverse-v0", "TextCalculator-v0", "TextMastermind-v0"])
def test_random_is_the_reference_players_mistakes(env_id: str) -> None:
    assert "random" in policy_names(env_id)
    weak = evaluate("random", episodes=12, view=env_id)
    strong = evaluate("reference", episodes=12, view=env_id)
    assert weak.mean_reward < strong.mean_reward


def test_an_envs_own_random_player_wins_over_the_generic_one() -> None:
    names = policy_names("TextTicTacToe-LLM-v0")
    assert names.count("random") == 1
    policy = make_policy("random", "TextTicTacToe-LLM-v0")
    assert not isinstance(getattr(policy, "policy", policy), ReferencePolicy)


def test_random_takes_no_argument() -> None:
    with pytest.raises(ValueError, match="unknown policy 'random:3'"):
        make_policy("random:3", "TextReverse-v0")
