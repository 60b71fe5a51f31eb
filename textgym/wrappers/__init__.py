"""Wrappers that add what RL on language models needs, one concern each.

* :class:`FormatCheck` — parse ``<think>…</think><move>…</move>`` answers, reward the format.
* :class:`InvalidMovePenalty` — an invalid answer costs a penalty and a retry, not the game.
* :class:`PerTurnSeeding` — opponent replies are a pure function of (episode seed, board).
* :class:`ChatHistory` — the episode as chat messages for chat-template models.

:func:`llm_stack` puts the first three around a game env, in their order: the LLM-facing
envs (``TextTicTacToe-LLM-v0``, ``TextKuhnPoker-LLM-v0``) are built with it.
"""

from textgym.wrappers.chat import ChatHistory
from textgym.wrappers.format_check import FormatCheck
from textgym.wrappers.invalid_move import InvalidMovePenalty
from textgym.wrappers.seeding import PerTurnSeeding, per_turn_generator
from textgym.wrappers.stack import llm_stack

__all__ = [
    "ChatHistory",
    "FormatCheck",
    "InvalidMovePenalty",
    "PerTurnSeeding",
    "llm_stack",
    "per_turn_generator",
]
