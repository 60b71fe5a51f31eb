"""InvalidMovePenalty: penalty arithmetic, exact forfeit point, unchanged board, reset."""

from __future__ import annotations

import gymnasium as gym
import pytest
from hypothesis import given
from hypothesis import strategies as st

from textgym.envs.tictactoe.env import TextTicTacToeEnv
from textgym.wrappers import InvalidMovePenalty


def make(max_invalid: int = 3, penalty: float = -0.1) -> InvalidMovePenalty:
    env = TextTicTacToeEnv(agent_mark="X", agent_first=True, random_move_prob=1.0)
    return InvalidMovePenalty(env, penalty=penalty, max_invalid=max_invalid)


def test_invalid_answer_keeps_board_and_explains() -> None:
    env = make()
    _, info = env.reset(seed=0)
    obs, _, _, _, info = env.step("5")
    taken_board = info["board"]
    obs, reward, terminated, truncated, info = env.step("5")
    assert (reward, terminated, truncated) == (-0.1, False, False)
    assert info["board"] == taken_board  # unchanged, and the opponent did not move
    assert obs.startswith("Invalid answer: cell 5 is taken; legal moves: ")
    assert ", ".join(info["legal_actions"]) in obs
    assert info["invalid_count"] == 1 and info["invalid_action"]
    assert info["reward_components"] == {"outcome": 0.0, "invalid": -0.1}


@given(
    st.integers(0, 5),
    st.lists(st.sampled_from(["bad", "", "0", "taken", "legal"]), min_size=1, max_size=12),
    st.integers(0, 1000),
)
def test_penalty_arithmetic_and_forfeit_at_max_invalid_plus_one(
    max_invalid: int, plan: list[str], seed: int
) -> None:
    env = make(max_invalid=max_invalid)
    _, info = env.reset(seed=seed)
    invalid = 0
    total_invalid = 0.0
    for kind in plan:
        if kind == "legal":
            action = info["legal_actions"][0]
        elif kind == "taken":
            taken = [str(i + 1) for i, c in enumerate(info["board"]) if c != "."]
            action = taken[0] if taken else "bad"
        else:
            action = kind
        is_invalid = action not in info["legal_actions"]
        _, reward, terminated, _, info = env.step(action)
        total_invalid += info["reward_components"]["invalid"]
        assert reward == pytest.approx(sum(info["reward_components"].values()))
        if is_invalid:
            invalid += 1
            assert info["invalid_count"] == invalid
            if invalid == max_invalid + 1:
                assert terminated and info["forfeit"] and info["result"] == "loss"
            else:
                assert not terminated, "forfeit must come exactly at max_invalid + 1"
        if terminated:
            break
    assert total_invalid == pytest.approx(-0.1 * invalid)


def test_reset_clears_the_count() -> None:
    env = make()
    env.reset(seed=0)
    env.step("junk")
    env.step("junk")
    _, info = env.reset(seed=0)
    assert env.invalid_count == 0 and info["invalid_count"] == 0
    for _ in range(3):
        _, _, terminated, _, _ = env.step("junk")
        assert not terminated


def test_zero_tolerance_forfeits_at_once() -> None:
    env = make(max_invalid=0)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step("nope")
    assert terminated and info["forfeit"] and reward == pytest.approx(-0.1)


def test_finished_episode_and_wrong_types_still_raise() -> None:
    env = make(max_invalid=0)
    env.reset(seed=0)
    with pytest.raises(TypeError, match="int"):
        env.step(5)  # type: ignore[arg-type]
    env.step("nope")
    with pytest.raises(RuntimeError, match="reset"):
        env.step("5")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"penalty": 0.5},
        {"penalty": float("nan")},
        {"max_invalid": -1},
        {"max_invalid": 1.5},
        {"penalty": "x"},
    ],
)
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=repr(next(iter(kwargs.values())))[:3]):
        InvalidMovePenalty(TextTicTacToeEnv(), **kwargs)


def test_double_wrapping_is_refused() -> None:
    with pytest.raises(ValueError, match="already applied"):
        InvalidMovePenalty(gym.wrappers.RecordEpisodeStatistics(make()))


def test_env_without_legal_actions_is_refused_clearly() -> None:
    class Bare(gym.Wrapper):
        def reset(self, **kw):
            obs, _ = self.env.reset(**kw)
            return obs, {}

    env = InvalidMovePenalty(Bare(TextTicTacToeEnv()))
    with pytest.raises(ValueError, match="legal_actions"):
        env.reset(seed=0)
