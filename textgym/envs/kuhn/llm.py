"""``TextKuhnPoker-LLM-v0``: Kuhn poker with the wrappers a language model needs."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from textgym.envs.kuhn.env import TextKuhnPokerEnv
from textgym.wrappers.stack import llm_stack


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
    return llm_stack(
        TextKuhnPokerEnv(**env_kwargs), tag, think_tag, format_reward, penalty, max_invalid, "bet"
    )
