"""PerTurnSeeding: replies are a pure function of (episode seed, board), in any process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textgym.envs.tictactoe.env import TextTicTacToeEnv
from textgym.wrappers import InvalidMovePenalty, PerTurnSeeding

paths = st.lists(st.integers(0, 8), min_size=5, max_size=5)


def replies(env: gym.Env, seed: int, path: list[int]) -> dict[str, str]:
    """Map each board the opponent had to answer to the board after its reply."""
    seen: dict[str, str] = {}
    _, info = env.reset(seed=seed)
    if info["opponent_move"] is not None:
        seen["........."] = info["board"]
    for choice in path:
        legal = info["legal_actions"]
        cell = int(legal[choice % len(legal)]) - 1
        before = info["board"][:cell] + info["agent_mark"] + info["board"][cell + 1 :]
        _, _, terminated, _, info = env.step(legal[choice % len(legal)])
        if info["opponent_move"] is not None:
            seen[before] = info["board"]
        if terminated:
            break
    return seen


def conflicts(env: gym.Env, seed: int, many_paths: list[list[int]]) -> int:
    table: dict[str, str] = {}
    clashes = 0
    for path in many_paths:
        for before, after in replies(env, seed, path).items():
            clashes += table.setdefault(before, after) != after
    return clashes


@settings(max_examples=40)
@given(st.integers(0, 2**32 - 1), st.lists(paths, min_size=20, max_size=40))
def test_same_seed_and_board_give_the_same_reply_whatever_the_path(
    seed: int, many_paths: list[list[int]]
) -> None:
    env = PerTurnSeeding(TextTicTacToeEnv(random_move_prob=0.5))
    assert conflicts(env, seed, many_paths) == 0


def test_without_the_wrapper_replies_depend_on_the_path() -> None:
    """The control: the property above is not true by accident."""
    many = np.random.default_rng(0).integers(0, 9, size=(300, 5)).tolist()
    env = TextTicTacToeEnv(random_move_prob=0.5)
    assert sum(conflicts(env, seed, many) for seed in range(5)) > 0


@settings(max_examples=40)
@given(st.integers(0, 2**32 - 1), paths, st.lists(st.integers(0, 3), min_size=5, max_size=5))
def test_invalid_retries_never_shift_the_opponent(
    seed: int, path: list[int], retries: list[int]
) -> None:
    def boards(with_retries: bool) -> list[str]:
        env = InvalidMovePenalty(
            PerTurnSeeding(TextTicTacToeEnv(random_move_prob=0.5)), max_invalid=20
        )
        _, info = env.reset(seed=seed)
        out = [info["board"]]
        for choice, n_bad in zip(path, retries, strict=True):
            for _ in range(n_bad if with_retries else 0):
                env.step("not a move")
            legal = info["legal_actions"]
            _, _, terminated, _, info = env.step(legal[choice % len(legal)])
            out.append(info["board"])
            if terminated:
                break
        return out

    assert boards(False) == boards(True)


def test_double_wrapping_and_unsupported_envs_are_refused() -> None:
    env = PerTurnSeeding(TextTicTacToeEnv())
    with pytest.raises(ValueError, match="already applied"):
        PerTurnSeeding(env)
    with pytest.raises(ValueError, match="already seeded per turn"):
        PerTurnSeeding(_seeded_base())
    with pytest.raises(ValueError, match="state_key"):
        PerTurnSeeding(gym.make("CartPole-v1"))  # type: ignore[arg-type]


def _seeded_base() -> gym.Env:
    base = TextTicTacToeEnv()
    PerTurnSeeding(base)  # sets the hook on the base env
    return base


SCRIPT = """
import json
from textgym.envs.tictactoe.env import TextTicTacToeEnv
from textgym.wrappers import PerTurnSeeding
from tests.wrappers.test_seeding import replies
env = PerTurnSeeding(TextTicTacToeEnv(random_move_prob=0.5))
print(json.dumps([replies(env, s, [s % 9, 3, 1, 4, 1]) for s in range(30)], sort_keys=True))
"""


def test_replies_are_identical_across_processes_and_hash_seeds() -> None:
    env = PerTurnSeeding(TextTicTacToeEnv(random_move_prob=0.5))
    here = json.dumps([replies(env, s, [s % 9, 3, 1, 4, 1]) for s in range(30)], sort_keys=True)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for hash_seed in ("0", "31337"):
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        assert out.stdout.strip() == here
