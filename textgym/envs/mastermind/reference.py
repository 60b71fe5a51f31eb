"""The reference player of ``TextMastermind-v0``: the first code consistent with the pegs."""

from __future__ import annotations

import itertools
import re

import numpy as np

from textgym.core import Conversation
from textgym.envs.mastermind.rules import pegs

_SETTING = re.compile(r"Guess the (\d+)-digit code \(digits 1 to (\d+)\)\.")
_PEGS = re.compile(r"^(\d+): (\d+) black, (\d+) white$", re.MULTILINE)

#: Codes a guesser may scan; beyond it (long codes over many digits) it refuses.
MAX_CODES = 1_000_000


def read_game(observation: str) -> tuple[int, int, list[tuple[str, int, int]]]:
    """(length, colors, [(guess, black, white), ...]) from a Mastermind observation."""
    setting = _SETTING.search(observation)
    if setting is None:
        raise ValueError("no 'Guess the N-digit code (digits 1 to C).' in the observation")
    scored = [(g, int(b), int(w)) for g, b, w in _PEGS.findall(observation)]
    return int(setting.group(1)), int(setting.group(2)), scored


class ConsistentGuesser:
    """Plays the first code, in numeric order, that agrees with every peg count so far
    (it solves the default 4 digits of 1-6 within the 10 guesses); its mistake is a
    uniformly random code."""

    def __init__(self, answer_tag: str | None = "guess") -> None:
        self.answer_tag = answer_tag

    def _wrap(self, text: str) -> str:
        tag = self.answer_tag
        return f"<{tag}>{text}</{tag}>" if tag else text

    @staticmethod
    def _latest(conversation: Conversation) -> str:
        users = [m["content"] for m in conversation if m.get("role") == "user"]
        if not users:
            raise ValueError("no observation in the conversation")
        return users[-1]

    def answer(self, conversation: Conversation) -> str:
        """The first consistent code."""
        length, colors, scored = read_game(self._latest(conversation))
        if colors**length > MAX_CODES:
            raise ValueError(f"{colors}^{length} codes are too many to scan")
        digits = "".join(str(d) for d in range(1, colors + 1))
        for candidate in itertools.product(digits, repeat=length):
            code = "".join(candidate)
            if all(pegs(code, g) == (b, w) for g, b, w in scored if len(g) == length):
                return self._wrap(code)
        raise ValueError("no code agrees with the pegs")

    def mistake(self, conversation: Conversation, rng: np.random.Generator) -> str:
        """A uniformly random code of the right shape."""
        length, colors, _ = read_game(self._latest(conversation))
        return self._wrap("".join(str(d) for d in rng.integers(1, colors + 1, size=length)))
