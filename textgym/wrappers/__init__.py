"""Wrappers that add what RL on language models needs, one concern each.

* :class:`FormatCheck` — parse ``<think>…</think><move>…</move>`` answers, reward the format.
* :class:`InvalidMovePenalty` — an invalid answer costs a penalty and a retry, not the game.
* :class:`PerTurnSeeding` — opponent replies are a pure function of (episode seed, board).
* :class:`ChatHistory` — the episode as chat messages for chat-template models.

``TextTicTacToe-LLM-v0`` is the LLM-facing stack built from the first three; see
:func:`textgym.envs.tictactoe.llm.make_llm_tictactoe` to build it by hand.
"""

from textgym.wrappers.chat import ChatHistory
from textgym.wrappers.format_check import FormatCheck
from textgym.wrappers.invalid_move import InvalidMovePenalty
from textgym.wrappers.seeding import PerTurnSeeding, per_turn_generator

__all__ = [
    "ChatHistory",
    "FormatCheck",
    "InvalidMovePenalty",
    "PerTurnSeeding",
    "per_turn_generator",
]
