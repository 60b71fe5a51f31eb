"""Fingerprints of tic-tac-toe transcripts: every observation, reward, end flag and info
of whole episodes, for each registered tic-tac-toe env, seeds and reset options, with an
action stream that mixes legal moves, taken cells, junk and tagged answers.

``python -m tests.envs.tictactoe.transcripts`` prints them as JSON (what
``transcripts.json`` holds: recorded before the envs moved onto the turn-based core);
``test_transcripts.py`` checks the envs still produce them byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import gymnasium as gym
import numpy as np

import textgym  # noqa: F401  (registers the envs)

ENV_IDS = (
    "TextTicTacToe-v0",
    "TextTicTacToe-LLM-v0",
    "TextTicTacToe-LLM-Compact-v0",
    "TextTicTacToe-LLM-Letters-v0",
)
OPTIONS: tuple[dict[str, Any] | None, ...] = (
    None,
    {"random_move_prob": 1.0},
    {"random_move_prob": 0.5, "agent_mark": "O", "agent_first": True},
    {"board": "X...O....", "agent_mark": "X"},
)


def _action(rng: np.random.Generator, legal: list[str], tagged: bool) -> str:
    """A legal move mostly, else a taken cell, junk or an empty answer."""
    u = rng.random()
    if u < 0.75 and legal:
        move = legal[int(rng.integers(len(legal)))]
    elif u < 0.85:
        move = "5"
    elif u < 0.95:
        move = "banana"
    else:
        return ""
    return f"<move>{move}</move>" if tagged else move


def transcript(env_id: str, seed: int, options: dict[str, Any] | None) -> list[Any]:
    """One episode as a JSON-able list (info values made JSON-able)."""
    env = gym.make(env_id)
    rng = np.random.default_rng(seed + 1000)
    obs, info = env.reset(seed=seed, options=options)
    out: list[Any] = [obs, info]
    tagged = "LLM" in env_id
    for _ in range(30):
        action = _action(rng, list(info.get("legal_actions", [])), tagged)
        obs, reward, terminated, truncated, info = env.step(action)
        out.append([action, obs, reward, terminated, truncated, info])
        if terminated or truncated:
            break
    env.close()
    return json.loads(json.dumps(out, default=repr))


def fingerprints() -> dict[str, str]:
    """``env_id|options#|seed`` -> sha256 of the transcript."""
    out = {}
    for env_id in ENV_IDS:
        for k, options in enumerate(OPTIONS):
            for seed in range(12):
                text = json.dumps(transcript(env_id, seed, options), sort_keys=True)
                out[f"{env_id}|{k}|{seed}"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return out


if __name__ == "__main__":
    print(json.dumps(fingerprints(), indent=1, sort_keys=True))
