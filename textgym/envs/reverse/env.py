"""``TextReverse-v0``: reverse a random string; reward = similarity to the exact answer."""

from __future__ import annotations

import difflib
import string

import numpy as np

from textgym.core import OptionRange, ReferencePlayer
from textgym.envs.base.multi_turn import Reply
from textgym.envs.base.single_turn import SingleTurnEnv, Task
from textgym.envs.reverse.reference import ReversePlayer

_ALPHABET = np.array(list(string.ascii_lowercase))


class TextReverseEnv(SingleTurnEnv):
    """Reverse a random lowercase string of ``min_length``..``max_length`` letters.

    ## Description
    A single-turn task: the observation is ``String: <letters>`` and the player answers
    the letters in reverse order. Palindromes are never drawn (their answer would be
    visible in the prompt).

    ## Action Space
    ``Text`` (up to 8192 characters; any ``str`` is accepted). The answer is the last
    complete ``<answer>...</answer>`` (after an optional ``<think>`` block), or the whole
    stripped text with ``answer_tag=None``.

    ## Observation Space
    ``Text`` (up to 2048 characters): ``String: qnhibbaevqxnpzs`` at reset, then
    ``Your answer scored 1.00.``. ``system_prompt`` holds the rules and the answer format.

    ## Rewards
    ``difflib.SequenceMatcher``'s similarity ratio between the answer and the
    reversed string, capped at 0.99 for anything but the exact answer (1.0); 0.0 for a
    missing or malformed answer.

    ## Episode End
    Terminated after the one answer.

    ## Arguments
    * ``min_length``, ``max_length``: the string's length range (2 to 512; 6 and 16).
    * ``answer_tag``: the answer's tag (``"answer"``; None: the whole text).
    * ``render_mode``: None or ``"ansi"``.

    ## Reset Options
    ``length`` (a whole number in ``[min_length, max_length]``, the curriculum) fixes the
    string's length for one episode.

    ## Info
    After the answer: ``answer``, ``expected``, ``format_ok``, ``reward_components`` and
    ``episode_metrics``:
    ``exact`` (1 for the exact answer) and ``similarity`` (the reward).

    ## Version History
    * v0: initial version.
    """

    rate_metrics = ("exact",)

    def __init__(
        self,
        min_length: int = 6,
        max_length: int = 16,
        answer_tag: str | None = "answer",
        render_mode: str | None = None,
    ) -> None:
        if not 2 <= min_length <= max_length <= 512:
            raise ValueError(
                f"need 2 <= min_length <= max_length <= 512, got {min_length}, {max_length}"
            )
        super().__init__(answer_tag=answer_tag, render_mode=render_mode)
        self.min_length = min_length
        self.max_length = max_length
        fmt = f" inside <{answer_tag}>...</{answer_tag}>" if answer_tag else ""
        self.rules_prompt = "Reverse the given string: write its characters in reverse order."
        self.system_prompt = f"{self.rules_prompt} Give only the reversed string{fmt}."

    def curriculum_options(self) -> dict[str, OptionRange]:
        """``length``: the string's length."""
        return {
            "length": OptionRange(
                self.min_length, self.max_length, integer=True, doc="length of the string"
            )
        }

    def reference_player(self) -> ReferencePlayer:
        """Exact reversal; its mistake swaps two neighbouring letters of the answer."""
        return ReversePlayer(self.answer_tag)

    def episode_metrics(self) -> dict[str, float]:
        """``exact`` and ``similarity``."""
        return {"exact": float(self._score == 1.0), "similarity": self._score}

    _score = 0.0

    def respond(self, answer: str | None) -> Reply:
        """Score the answer (see :class:`SingleTurnEnv`) and remember it for the metrics."""
        reply = super().respond(answer)
        self._score = reply.reward
        return reply

    def make_task(self, rng: np.random.Generator) -> Task:
        """A random non-palindrome and its reverse."""
        fixed = self.episode_options.get("length")
        while True:
            n = int(rng.integers(self.min_length, self.max_length + 1)) if fixed is None else fixed
            text = "".join(rng.choice(_ALPHABET, size=n))
            if text != text[::-1]:
                return Task(prompt=f"String: {text}", answer=text[::-1])

    def score(self, answer: str, task: Task) -> float:
        """Similarity ratio in [0, 1] (1.0 only for the exact answer)."""
        if answer == task.answer:
            return 1.0
        return min(difflib.SequenceMatcher(None, answer, task.answer).ratio(), 0.99)
