"""ChatHistory: the conversation grows turn by turn and restarts on reset."""

from __future__ import annotations

import gymnasium as gym
import pytest

import textgym  # noqa: F401
from textgym.wrappers import ChatHistory


def test_history_grows_and_resets() -> None:
    env = ChatHistory(gym.make("TextTicTacToe-LLM-v0", agent_first=True))
    obs, info = env.reset(seed=0)
    assert [m["role"] for m in info["messages"]] == ["system", "user"]
    assert "<move>" in info["messages"][0]["content"]  # FormatCheck's prompt, found below
    assert info["messages"][1]["content"] == obs
    obs, _, _, _, info = env.step("<move>5</move>")
    assert [m["role"] for m in info["messages"]] == ["system", "user", "assistant", "user"]
    assert info["messages"][2]["content"] == "<move>5</move>"
    assert info["messages"][3]["content"] == obs
    info["messages"].append({"role": "user", "content": "tampered"})
    assert len(env.messages) == 4  # info holds a copy
    _, info = env.reset(seed=1)
    assert len(env.messages) == 2 and len(info["messages"]) == 2


def test_final_observation_is_optional_and_system_prompt_overridable() -> None:
    env = ChatHistory(
        gym.make("TextTicTacToe-v0", agent_first=True),
        system_prompt="Play well.",
        include_final_observation=False,
    )
    env.reset(seed=0)
    assert env.messages[0] == {"role": "system", "content": "Play well."}
    _, _, terminated, _, info = env.step("nonsense")  # the base env ends the game
    assert terminated and info["messages"][-1]["role"] == "assistant"


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="system_prompt"):
        ChatHistory(gym.make("TextTicTacToe-v0"), system_prompt=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already applied"):
        ChatHistory(ChatHistory(gym.make("TextTicTacToe-v0")))
    env = ChatHistory(gym.make("TextTicTacToe-v0"))
    env.reset(seed=0)
    with pytest.raises(TypeError):
        env.step(None)  # type: ignore[arg-type]
    assert len(env.messages) == 2  # a refused step records nothing
