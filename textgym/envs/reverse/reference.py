"""The reference player of ``TextReverse-v0``: exact reversal, and a near miss."""

from __future__ import annotations

import re

import numpy as np

from textgym.core import Conversation

_STRING = re.compile(r"String: ([a-z]+)\s*$")


def _last_string(conversation: Conversation) -> str:
    users = [m["content"] for m in conversation if m.get("role") == "user"]
    match = _STRING.search(users[-1]) if users else None
    if match is None:
        raise ValueError("no 'String: ...' in the latest observation")
    return match.group(1)


class ReversePlayer:
    """Answers the reversed string; its mistake swaps two neighbouring letters."""

    def __init__(self, answer_tag: str | None = "answer") -> None:
        self.answer_tag = answer_tag

    def _wrap(self, text: str) -> str:
        tag = self.answer_tag
        return f"<{tag}>{text}</{tag}>" if tag else text

    def answer(self, conversation: Conversation) -> str:
        """The exact reversal."""
        return self._wrap(_last_string(conversation)[::-1])

    def mistake(self, conversation: Conversation, rng: np.random.Generator) -> str:
        """The reversal with two neighbouring letters swapped (the first differing pair
        from a random place on), or with one letter dropped when all letters are equal."""
        text = _last_string(conversation)[::-1]
        start = int(rng.integers(len(text) - 1))
        for k in list(range(start, len(text) - 1)) + list(range(start)):
            if text[k] != text[k + 1]:
                return self._wrap(text[:k] + text[k + 1] + text[k] + text[k + 2 :])
        return self._wrap(text[1:])
