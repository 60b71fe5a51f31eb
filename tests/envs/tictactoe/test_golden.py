"""Golden transcripts: recorded playthroughs that catch accidental prompt or rule changes.

Regenerate deliberately with ``TEXTGYM_UPDATE_GOLDEN=1 pytest tests/envs/tictactoe/test_golden.py``
and review the diff; a changed prompt is a behaviour change that bumps the env version.
"""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import textgym  # noqa: F401

GOLDEN = Path(__file__).parent / "golden"
# name -> (make kwargs, seed, step at which the player answers its own taken cell)
CASES: dict[str, tuple[dict, int, int | None]] = {
    "perfect_opponent_seed0": ({"random_move_prob": 0.0}, 0, None),
    "perfect_opponent_seed1": ({"random_move_prob": 0.0}, 1, None),
    "mixed_opponent_seed2": ({"random_move_prob": 0.5}, 2, None),
    "agent_o_second_illegal": ({"agent_mark": "O", "agent_first": False}, 3, 1),
}


def record(kwargs: dict, seed: int, illegal_at: int | None) -> str:
    env = gym.make("TextTicTacToe-v0", **kwargs)
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    parts = [f"== reset(seed={seed}) {kwargs}", obs]
    step = 0
    while True:
        legal = info["legal_actions"]
        if step == illegal_at:
            action = str(info["board"].index(info["agent_mark"]) + 1)
        else:
            action = legal[int(rng.integers(len(legal)))]
        obs, reward, terminated, truncated, info = env.step(action)
        parts += [
            f"== step({action!r}) -> reward={reward} terminated={terminated} "
            f"truncated={truncated} result={info['result']}",
            obs,
        ]
        step += 1
        if terminated or truncated:
            return "\n".join(parts) + "\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_transcript_matches_golden(name: str) -> None:
    text = record(*CASES[name])
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("TEXTGYM_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with TEXTGYM_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"transcript drifted from {path}"
