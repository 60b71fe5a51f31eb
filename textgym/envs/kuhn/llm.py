"""``TextKuhnPoker-LLM-v0``: Kuhn poker with the wrappers a language model needs."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from textgym.envs.kuhn.env import TextKuhnPokerEnv
from textgym.wrappers.format_check import FormatCheck
from textgym.wrappers.invalid_move import InvalidMovePenalty
from textgym.wrappers.seeding import PerTurnSeeding


def make_llm_kuhn(
    tag: str = "action",
    think_tag: str | None = "think",
    format_reward: float = 0.2,
    penalty: float = -0.1,
    max_invalid: int = 3,
    **env_kwargs: Any,
) -> gym.Env[str, str]:
    """``TextKuhnPoker-v0`` + ``PerTurnSeeding`` + ``InvalidMovePenalty`` + ``FormatCheck``
    (``<action>bet</action>``); other keyword arguments go to
    :class:`~textgym.envs.kuhn.env.TextKuhnPokerEnv`."""
    env: gym.Env[str, str] = TextKuhnPokerEnv(**env_kwargs)
    env = PerTurnSeeding(env)
    env = InvalidMovePenalty(env, penalty=penalty, max_invalid=max_invalid)
    return FormatCheck(
        env, tag=tag, think_tag=think_tag, format_reward=format_reward, example="bet"
    )
