"""Replay states of lost episodes: what is kept, and that they restart the same state."""

from __future__ import annotations

import gymnasium as gym
import pytest

from textgym.envs.tictactoe.players import perfect_policy, random_policy
from textgym.rollout import rollout
from textgym.trainers.replay import lost_positions


def test_the_last_positions_of_lost_games_and_nothing_else() -> None:
    games = rollout(
        random_policy(seed=1),
        "TextTicTacToe-LLM-Letters-v0",
        list(range(40)),
        options=[{"random_move_prob": 0.0}] * 40,
    )
    lost = [g for g in games if g.final_info["result"] == "loss"]
    assert 0 < len(lost) < len(games)  # random play loses most games, not all
    positions = lost_positions(games, last=2)
    expected = sum(min(2, len(g.turns) - 1) for g in lost)
    assert len(positions) == expected
    assert all(set(p) == {"board", "agent_mark"} for p in positions)
    # each is the position the policy faced: reset there, the observation is that turn's
    first = next(g for g in lost if len(g.turns) >= 3)
    env = gym.make("TextTicTacToe-LLM-Letters-v0")
    obs, info = env.reset(seed=0, options=lost_positions([first], last=1)[0])
    assert obs == first.turns[-1].messages[-1]["content"]
    assert info["agent_mark"] == first.final_info["agent_mark"]
    env.close()
    assert len(lost_positions(games, last=1)) == sum(len(g.turns) > 1 for g in lost)


def test_envs_without_positions_and_won_games_give_none() -> None:
    games = rollout(
        perfect_policy(),
        "TextTicTacToe-LLM-Letters-v0",
        list(range(8)),
        options=[{"random_move_prob": 1.0}] * 8,
    )
    assert all(g.final_info["result"] != "loss" for g in games)
    assert lost_positions(games) == []
    for game in games:  # a lost game whose env reports no restart options
        for turn in game.turns:
            turn.reward_components["outcome"] = 0.0
    assert len(lost_positions(games)) > 0
    for game in games:
        for turn in game.turns:
            turn.info.pop("restart_options", None)
    assert lost_positions(games) == []
    with pytest.raises(ValueError, match="last"):
        lost_positions(games, last=0)
