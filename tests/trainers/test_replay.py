"""Replay positions of lost games: what is kept, and that they set up the same position."""

from __future__ import annotations

import gymnasium as gym
import pytest

from textgym.evaluation import parse_player
from textgym.rollout import rollout
from textgym.trainers.replay import POSITION_KEYS, lost_positions


def test_the_last_positions_of_lost_games_and_nothing_else() -> None:
    games = rollout(
        parse_player("random", seed=1),
        "TextTicTacToe-LLM-Letters-v0",
        list(range(40)),
        options=[{"random_move_prob": 0.0}] * 40,
    )
    lost = [g for g in games if g.final_info["result"] == "loss"]
    assert 0 < len(lost) < len(games)  # random play loses most games, not all
    positions = lost_positions(games, last=2)
    expected = sum(min(2, len(g.turns) - 1) for g in lost)
    assert len(positions) == expected
    assert all(set(p) == set(POSITION_KEYS) for p in positions)
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
        parse_player("minimax"),
        "TextTicTacToe-LLM-Letters-v0",
        list(range(8)),
        options=[{"random_move_prob": 1.0}] * 8,
    )
    assert all(g.final_info["result"] != "loss" for g in games)
    assert lost_positions(games) == []
    for game in games:  # a lost game whose env reports no position
        game.final_info["result"] = "loss"
        for turn in game.turns:
            turn.info.pop("board")
    assert lost_positions(games) == []
    with pytest.raises(ValueError, match="last"):
        lost_positions(games, last=0)
