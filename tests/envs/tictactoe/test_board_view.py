"""BoardObservation: numeric view of the same game, and tabular Q-learning that learns."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import textgym  # noqa: F401
from tests.scripts import load_script
from textgym.envs.tictactoe.board_view import BoardObservation, encode_board

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "q_learning.py"
MASKABLE_PPO = EXAMPLE.with_name("maskable_ppo.py")


def test_encoding_is_from_the_players_side() -> None:
    assert encode_board("XO.......", "X").tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0]
    assert encode_board("XO.......", "O").tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 0]


def test_same_game_as_the_text_env() -> None:
    text_env = gym.make("TextTicTacToe-v0", random_move_prob=0.5)
    board_env = BoardObservation(gym.make("TextTicTacToe-v0", random_move_prob=0.5))
    for seed in range(20):
        _, t_info = text_env.reset(seed=seed)
        obs, b_info = board_env.reset(seed=seed)
        while True:
            assert obs in board_env.observation_space
            assert b_info["action_mask"].tolist() == [
                int(str(c + 1) in t_info["legal_actions"]) for c in range(9)
            ]
            cell = int(np.flatnonzero(b_info["action_mask"])[0])
            _, t_r, t_done, _, t_info = text_env.step(str(cell + 1))
            obs, b_r, b_done, _, b_info = board_env.step(cell)
            assert (t_r, t_done, t_info["board"]) == (b_r, b_done, b_info["board"])
            if t_done:
                break


def test_check_env_passes_and_bad_actions_raise() -> None:
    env = BoardObservation(gym.make("TextTicTacToe-v0"))
    check_env(env.unwrapped)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"0\.\.8"):
        env.step(9)
    with pytest.raises(TypeError, match="str"):
        env.step("5")  # type: ignore[arg-type]


def test_tabular_q_learning_beats_the_random_opponent_more_than_a_random_player() -> None:
    example = load_script(EXAMPLE)
    q = example.train(episodes=4000, seed=0)
    learned = example.evaluate(q, games=1000)
    baseline = example.evaluate(None, games=1000)
    assert learned["win"] >= baseline["win"] + 0.2
    assert learned["loss"] < baseline["loss"]


def test_action_masks_are_the_free_cells_and_empty_at_the_end() -> None:
    env = BoardObservation(gym.make("TextTicTacToe-v0", random_move_prob=1.0))
    obs, _ = env.reset(seed=3)
    assert env.action_masks().dtype == bool
    assert env.action_masks().tolist() == (obs == 0).tolist()
    done = False
    while not done:
        cell = int(np.flatnonzero(env.action_masks())[0])
        obs, _, terminated, truncated, _ = env.step(cell)
        done = terminated or truncated
        if not done:
            assert env.action_masks().tolist() == (obs == 0).tolist()
    assert not env.action_masks().any()


@pytest.mark.slow
def test_maskable_ppo_trains_on_it_with_no_glue_and_beats_random() -> None:
    pytest.importorskip("sb3_contrib", reason="pip install 'textgym[sb3]'")
    example = load_script(MASKABLE_PPO)
    model = example.train(steps=4096, seed=0)
    rng = np.random.default_rng(0)
    trained = example.win_rate(
        lambda o, m: int(model.predict(o, action_masks=m, deterministic=True)[0]), 200
    )
    random = example.win_rate(lambda o, m: int(rng.choice(np.flatnonzero(m))), 200)
    assert trained > random + 0.1, (trained, random)
