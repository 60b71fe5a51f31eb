"""The text-environment base class and text-space helpers.

Every textgym environment is a ``gymnasium.Env[str, str]``: observations and actions are
strings, described by :class:`gymnasium.spaces.Text` spaces with an explicit, ordered
charset of printable ASCII (Gymnasium's default charset is alphanumeric only and would
reject any normal prompt).
"""

from __future__ import annotations

import string
from typing import Any

import gymnasium as gym
from gymnasium import spaces

#: Printable ASCII in a fixed order: digits, letters, punctuation, then whitespace
#: (space, tab, newline, carriage return, vertical tab, form feed).
PRINTABLE_CHARSET: str = string.printable


def text_space(max_length: int, charset: str = PRINTABLE_CHARSET) -> spaces.Text:
    """A :class:`~gymnasium.spaces.Text` space of 0..``max_length`` characters of ``charset``."""
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    return spaces.Text(max_length=max_length, min_length=0, charset=charset)


class EpisodeOverError(RuntimeError):
    """Raised when ``step`` is called on an episode that has ended or was never reset."""


class TextEnv(gym.Env[str, str]):
    """Base class for environments that speak text in and text out.

    Subclasses set ``observation_space``/``action_space`` (see :func:`text_space`), a
    ``system_prompt`` describing the task and the answer format, and implement
    ``reset``/``step``. They call :meth:`_check_action` first thing in ``step``, which
    enforces the two programming-error rules of the library: actions must be ``str``
    (any string is a legal input), and a finished episode cannot be stepped.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "human"], "render_fps": 1}

    system_prompt: str = ""
    """Instructions for the player: the rules and the expected answer format."""

    rules_prompt: str = ""
    """The task without the answer format; wrappers that impose their own answer format
    (such as :class:`textgym.wrappers.FormatCheck`) build their system prompt from it."""

    _episode_active: bool = False

    def _check_action(self, action: object) -> str:
        if not isinstance(action, str):
            raise TypeError(
                f"{type(self).__name__}.step expects the action as a str, "
                f"got {type(action).__name__}: {action!r:.80}"
            )
        if not self._episode_active:
            raise EpisodeOverError(
                f"{type(self).__name__}: the episode is over (or was never started); "
                "call reset() before step()"
            )
        return action

    def explain_illegal(self, action: str) -> str:
        """Why ``action`` is not legal now, in a few words shown to the player (override)."""
        return "not a legal action"

    def hidden_strings(self) -> list[str]:
        """Strings the player must never see in an observation (hidden answers, secrets).

        The conformance checker (:func:`textgym.utils.env_checker.check_text_env`) asserts
        that none of them appears in any observation. Override in envs with hidden state.
        """
        return []
