"""``ChatHistory``: the episode as a growing list of chat messages for chat-template models."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from textgym.core import Message
from textgym.wrappers.common import refuse_double_wrap


def stack_system_prompt(env: gym.Env, override: str | None = None) -> str:
    """``override`` when given, else the ``system_prompt`` the wrapper stack of ``env``
    exposes (its rules and answer format), else ``""``."""
    if override is not None:
        return override
    try:
        return str(env.get_wrapper_attr("system_prompt"))
    except AttributeError:
        return ""


class ChatHistory(gym.Wrapper[str, str, str, str]):
    """Record the episode as chat messages: system prompt, user turns, assistant answers.

    After ``reset`` the history is ``[system, user(observation)]``; each ``step`` appends
    ``assistant(action)`` and ``user(observation)`` (the final observation too, unless
    ``include_final_observation=False``). The history is ``self.messages`` and a copy is in
    ``info["messages"]``, ready for ``tokenizer.apply_chat_template``. ``reset`` starts a
    new history. Observations and actions pass through unchanged.

    Args:
        env: a text env.
        system_prompt: the system message; by default the stack's ``system_prompt``
            (so a :class:`FormatCheck` below contributes its format instructions).
        include_final_observation: also record the observation that ends the episode.
    """

    def __init__(
        self,
        env: gym.Env[str, str],
        system_prompt: str | None = None,
        include_final_observation: bool = True,
    ) -> None:
        if system_prompt is not None and not isinstance(system_prompt, str):
            raise ValueError(f"system_prompt must be a str or None, got {system_prompt!r}")
        refuse_double_wrap(env, ChatHistory)
        super().__init__(env)
        self._system_prompt = system_prompt
        self.include_final_observation = bool(include_final_observation)
        self.messages: list[Message] = []

    @property
    def system_prompt(self) -> str:
        """The system message of the conversation."""
        return stack_system_prompt(self.env, self._system_prompt)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Reset the env and start a new conversation."""
        obs, info = self.env.reset(seed=seed, options=options)
        self.messages = []
        if self.system_prompt:
            self.messages.append({"role": "system", "content": self.system_prompt})
        self.messages.append({"role": "user", "content": obs})
        return obs, {**info, "messages": list(self.messages)}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Step the env and append the answer and the new observation."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.messages.append({"role": "assistant", "content": action})
        if not (terminated or truncated) or self.include_final_observation:
            self.messages.append({"role": "user", "content": obs})
        return obs, reward, terminated, truncated, {**info, "messages": list(self.messages)}
