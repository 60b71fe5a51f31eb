"""Scripted players read the same text a model reads and play through the protocol."""

from __future__ import annotations

import gymnasium as gym
import pytest

import textgym  # noqa: F401
from textgym.envs.tictactoe.players import perfect_policy, random_policy, read_board, teacher_policy
from textgym.rollout import rollout


@pytest.mark.parametrize("style", ["full", "compact", "letters"])
def test_read_board_inverts_the_observation(style: str) -> None:
    env = gym.make("TextTicTacToe-v0", random_move_prob=1.0, observation_style=style)
    for seed in range(30):
        obs, info = env.reset(seed=seed)
        while True:
            assert read_board(obs) == (info["board"], info["agent_mark"])
            obs, _, terminated, _, info = env.step(info["legal_actions"][0])
            if terminated:
                break
    assert read_board("no board here") is None


def test_perfect_never_loses_and_teacher_sometimes_does() -> None:
    seeds = list(range(200))
    perfect = rollout(perfect_policy(), "TextTicTacToe-LLM-v0", seeds, num_envs=50)
    teacher = rollout(teacher_policy(0.5), "TextTicTacToe-LLM-v0", seeds, num_envs=50)
    assert all(e.final_info["result"] != "loss" for e in perfect)
    assert any(e.final_info["result"] == "loss" for e in teacher)
    assert all(t.info["format_ok"] for e in perfect for t in e.turns)


def test_garbage_conversations_get_empty_answers() -> None:
    outs = random_policy().complete([[], [{"role": "user", "content": "hello"}]])
    assert [o.text for o in outs] == ["", ""]


def test_teacher_habit_picks_the_preferred_optimal_move() -> None:
    from textgym.envs.tictactoe.opponents import CENTRE_CORNERS_EDGES
    from textgym.envs.tictactoe.solver import optimal_moves

    env = gym.make("TextTicTacToe-LLM-Compact-v0", random_move_prob=1.0)
    habitual = teacher_policy(1.0)
    uniform = teacher_policy(1.0, preference=None)
    seen_uniform = set()
    for seed in range(40):
        obs, info = env.reset(seed=seed)
        board, first = info["board"], info["first_mark"]
        best = min(optimal_moves(board, first), key=CENTRE_CORNERS_EDGES.index)
        conv = [{"role": "user", "content": obs}]
        assert habitual.complete([conv])[0].text == f"<move>{best + 1}</move>"
        seen_uniform |= {uniform.complete([conv])[0].text for _ in range(5)}
    assert len(seen_uniform) > 1  # without the habit the optimal moves vary


def test_teacher_rejects_a_preference_that_is_not_a_permutation() -> None:
    with pytest.raises(ValueError, match="permutation"):
        teacher_policy(0.7, preference=(0, 1, 2))
