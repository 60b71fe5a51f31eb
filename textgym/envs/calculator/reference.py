"""The reference player of ``TextCalculator-v0`` and ``TextMCPCalculator-v0``.

It reads the problem from the conversation, calls the calculator once per step (each call
on the result the tool gave before, never on its own arithmetic) and answers the last
result. It needs the whole conversation (``history="full"``): the problem is only in the
first observation.
"""

from __future__ import annotations

import json
import re

import numpy as np

from textgym.core import Conversation

_BOXES = re.compile(r"has (\d+) boxes with (\d+) \w+ in each\.")
_AWAY = re.compile(r"gives away (\d+) ")
_GROUPS = re.compile(r"among (\d+) groups")
_RESULT = re.compile(r"^Result of calculate: (-?[\d.]+)\s*$")


Problem = tuple[int, int, int | None, int | None]


def read_problem(text: str) -> Problem:
    """(x, y, z, k) of a calculator word problem (z, k None when the problem stops early)."""
    boxes = _BOXES.search(text)
    if boxes is None:
        raise ValueError("no calculator problem in the conversation")
    away, groups = _AWAY.search(text), _GROUPS.search(text)
    return (
        int(boxes.group(1)),
        int(boxes.group(2)),
        int(away.group(1)) if away else None,
        int(groups.group(1)) if groups else None,
    )


def _call(expression: str) -> str:
    payload = {"name": "calculate", "arguments": {"expression": expression}}
    return f"<tool_call>{json.dumps(payload)}</tool_call>"


class CalculatorPlayer:
    """One calculator call per step of the problem, then the final answer."""

    @staticmethod
    def _state(
        conversation: Conversation,
    ) -> tuple[tuple[int, int, int | None, int | None], list[str]]:
        users = [m["content"] for m in conversation if m.get("role") == "user"]
        for i, text in enumerate(users):
            if _BOXES.search(text):
                results = [m.group(1) for u in users[i + 1 :] if (m := _RESULT.match(u.strip()))]
                return read_problem(text), results
        raise ValueError("no calculator problem in the conversation (history='full' needed)")

    def answer(self, conversation: Conversation) -> str:
        """The next calculator call, or the final answer once every step has a result."""
        (x, y, z, k), results = self._state(conversation)
        steps = [lambda: f"{x} * {y}"]
        if z is not None:
            steps.append(lambda: f"{results[0]} - {z}")
        if k is not None:
            steps.append(lambda: f"{results[1]} / {k}")
        if len(results) < len(steps):
            return _call(steps[len(results)]())
        return f"<answer>{results[len(steps) - 1]}</answer>"

    def mistake(self, conversation: Conversation, rng: np.random.Generator) -> str:
        """A wrong final answer: the right one, computed here, off by 1 to 9."""
        (x, y, z, k), _ = self._state(conversation)
        value = x * y - (z or 0)
        value = value // k if k else value
        off = int(rng.integers(1, 10)) * (1 if rng.random() < 0.5 else -1)
        return f"<answer>{value + off}</answer>"
