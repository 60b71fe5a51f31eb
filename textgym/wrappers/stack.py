"""``llm_stack``: the wrappers a language model needs around a game env, in their order."""

from __future__ import annotations

import gymnasium as gym

from textgym.wrappers.format_check import FormatCheck
from textgym.wrappers.invalid_move import InvalidMovePenalty
from textgym.wrappers.seeding import PerTurnSeeding


def llm_stack(
    env: gym.Env[str, str],
    tag: str = "move",
    think_tag: str | None = "think",
    format_reward: float = 0.2,
    penalty: float = -0.1,
    max_invalid: int = 3,
    example: str = "5",
) -> gym.Env[str, str]:
    """``env`` + ``PerTurnSeeding`` + ``InvalidMovePenalty`` + ``FormatCheck``.

    The model's text reaches ``FormatCheck`` first (answer parsing in ``<tag>``, format
    reward; ``example`` is the answer its instructions show), then ``InvalidMovePenalty``
    (a retry with ``penalty``, ``max_invalid`` of them), then the env, whose opponent is
    seeded per turn. The LLM variants of the game envs are this stack
    (``TextTicTacToe-LLM-v0``, ``TextKuhnPoker-LLM-v0``).
    """
    env = PerTurnSeeding(env)
    env = InvalidMovePenalty(env, penalty=penalty, max_invalid=max_invalid)
    return FormatCheck(
        env, tag=tag, think_tag=think_tag, format_reward=format_reward, example=example
    )


__all__ = ["llm_stack"]
