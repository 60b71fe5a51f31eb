"""``TextTicTacToe-LLM-v0``: tic-tac-toe with the wrappers a language model needs."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from textgym.envs.tictactoe.env import TextTicTacToeEnv
from textgym.wrappers.stack import llm_stack


def make_llm_tictactoe(
    tag: str = "move",
    think_tag: str | None = "think",
    format_reward: float = 0.2,
    penalty: float = -0.1,
    max_invalid: int = 3,
    **env_kwargs: Any,
) -> gym.Env[str, str]:
    """Build ``TextTicTacToe-v0`` + ``PerTurnSeeding`` + ``InvalidMovePenalty`` + ``FormatCheck``.

    The model's text reaches ``FormatCheck`` first (answer parsing, format reward), then
    ``InvalidMovePenalty`` (retry with a penalty), then the env, whose opponent is seeded
    per turn. Keyword arguments not listed here go to
    :class:`~textgym.envs.tictactoe.env.TextTicTacToeEnv` (``random_move_prob``,
    ``agent_mark``, ``agent_first``, ``render_mode``, outcome rewards).

    ``TextTicTacToe-LLM-v0`` is this function with its defaults. The same stack by hand::

        env = TextTicTacToeEnv(random_move_prob=0.3)
        env = PerTurnSeeding(env)
        env = InvalidMovePenalty(env, penalty=-0.1, max_invalid=3)
        env = FormatCheck(env, tag="move", format_reward=0.2)
    """
    return llm_stack(
        TextTicTacToeEnv(**env_kwargs), tag, think_tag, format_reward, penalty, max_invalid
    )
