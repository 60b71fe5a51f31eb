"""``TextMastermind-v0``: guess a hidden code from black/white-peg feedback."""

from __future__ import annotations

import numpy as np

from textgym.core import OptionRange, ReferencePlayer
from textgym.envs.base.multi_turn import MultiTurnEnv, Reply
from textgym.envs.mastermind.reference import ConsistentGuesser
from textgym.envs.mastermind.rules import pegs


class TextMastermindEnv(MultiTurnEnv):
    """Mastermind: find a code of ``length`` digits from 1..``colors`` (repeats allowed).

    ## Description
    After each guess the player learns how many digits are right and in the right place
    (black pegs) and how many are right but in the wrong place (white pegs). Earlier
    guesses and their pegs are repeated in every observation, with the code's length and
    digits, so the latest observation is enough to play (``markov_observations``).

    ## Action Space
    ``Text`` (up to 8192 characters; any ``str`` is accepted). The guess is the last
    complete ``<guess>...</guess>`` (after an optional ``<think>`` block): ``length``
    digits from 1 to ``colors``.

    ## Observation Space
    ``Text`` (up to 4096 characters): the code's length and digits, the guesses so far
    with their pegs, and the guesses left. ``system_prompt`` holds the rules and the
    answer format. A malformed guess is answered with the rule it broke (never echoed
    back).

    ## Rewards
    1.0 on the step that finds the code, 0.0 on every other step.

    ## Episode End
    Terminated when the code is found; truncated after ``max_turns`` guesses (malformed
    ones count).

    ## Arguments
    * ``length``: digits in the code (2 to 8; 4).
    * ``colors``: each digit is from 1 to this (2 to 9; 6).
    * ``max_turns``: guesses allowed (10).
    * ``answer_tag``: the guess's tag (``"guess"``; None: the whole text).
    * ``render_mode``: None or ``"ansi"``.

    ## Reset Options
    The curriculum: ``length`` (2..``length``) and ``colors`` (2..``colors``) make that
    episode's code shorter or its digits fewer; ``guesses`` (1..``max_turns``) gives it
    fewer guesses.

    ## Info
    ``turn`` (guesses made), ``format_ok``, ``reward_components``, ``valid`` and
    ``invalid_action`` (whether the guess was well formed), ``solved``; at the end
    ``episode_metrics``: ``solved``,
    ``guesses`` (answers given) and ``invalid_guesses``.

    ## Version History
    * v0: initial version; observations name the code's length and digits (so that
      episodes of a curriculum say what they ask).
    """

    markov_observations = True
    rate_metrics = ("solved",)

    def __init__(
        self,
        length: int = 4,
        colors: int = 6,
        max_turns: int = 10,
        answer_tag: str | None = "guess",
        render_mode: str | None = None,
    ) -> None:
        if not 2 <= length <= 8 or not 2 <= colors <= 9:
            raise ValueError(f"need 2 <= length <= 8 and 2 <= colors <= 9, got {length}, {colors}")
        super().__init__(max_turns=max_turns, answer_tag=answer_tag, render_mode=render_mode)
        self.length = length
        self.colors = colors
        self.rules_prompt = (
            f"Find the secret code: {length} digits, each from 1 to {colors}, repeats allowed. "
            "After each guess you are told how many digits are right and in the right place "
            "(black) and how many are right but in the wrong place (white). "
            f"You have {max_turns} guesses."
        )
        fmt = f" inside <{answer_tag}>...</{answer_tag}>" if answer_tag else ""
        example = "".join(str(1 + i % colors) for i in range(length))
        self.system_prompt = f"{self.rules_prompt} Give each guess{fmt}, e.g. {example}."
        self._code = ""
        self._history: list[str] = []
        self._length, self._colors, self._guesses = length, colors, max_turns
        self._invalid = 0
        self._solved = False

    def curriculum_options(self) -> dict[str, OptionRange]:
        """``length`` and ``colors`` of the code, up to the env's own."""
        return {
            "length": OptionRange(2, self.length, integer=True, doc="digits in the code"),
            "colors": OptionRange(2, self.colors, integer=True, doc="digits range from 1 to this"),
            "guesses": OptionRange(1, self.max_turns, integer=True, doc="guesses allowed"),
        }

    def reference_player(self) -> ReferencePlayer:
        """Guesses the first code (in numeric order) consistent with every peg so far; its
        mistake is a uniformly random code."""
        return ConsistentGuesser(self.answer_tag)

    def episode_metrics(self) -> dict[str, float]:
        """``solved``, ``guesses`` and ``invalid_guesses``."""
        return {
            "solved": float(self._solved),
            "guesses": float(self.turn),
            "invalid_guesses": float(self._invalid),
        }

    def start(self, rng: np.random.Generator) -> str:
        """Draw the code."""
        self._length = int(self.episode_options.get("length", self.length))
        self._colors = int(self.episode_options.get("colors", self.colors))
        self._guesses = int(self.episode_options.get("guesses", self.max_turns))
        self._code = "".join(str(d) for d in rng.integers(1, self._colors + 1, size=self._length))
        self._history = []
        self._invalid = 0
        self._solved = False
        return f"{self._setting()} {self._guesses} guesses left."

    def _setting(self) -> str:
        return f"Guess the {self._length}-digit code (digits 1 to {self._colors})."

    def _valid(self, guess: str | None) -> bool:
        return (
            guess is not None
            and len(guess) == self._length
            and all(c.isdigit() and 1 <= int(c) <= self._colors for c in guess)
        )

    def respond(self, answer: str | None) -> Reply:
        """Score a guess with pegs."""
        left = self._guesses - self.turn
        if not self._valid(answer):
            self._invalid += 1
            rule = f"a guess is {self._length} digits from 1 to {self._colors}"
            return Reply(
                self._board(f"Invalid guess ({rule}). {left} guesses left."),
                truncated=left <= 0,
                info={"valid": False, "invalid_action": True},
            )
        assert answer is not None
        black, white = pegs(self._code, answer)
        if black == self._length:
            self._solved = True
            return Reply(
                f"Solved in {self.turn} guesses: the code was {self._code}.",
                reward=1.0,
                done=True,
                info={"valid": True, "invalid_action": False, "solved": True},
            )
        self._history.append(f"{answer}: {black} black, {white} white")
        return Reply(
            self._board(f"{left} guesses left." if left > 0 else "Out of guesses."),
            truncated=left <= 0,
            info={"valid": True, "invalid_action": False, "solved": False},
        )

    def _board(self, last: str) -> str:
        so_far = ["Guesses so far:", *self._history] if self._history else []
        return "\n".join([self._setting(), *so_far, last])

    def hidden_strings(self) -> list[str]:
        """The code, while the episode runs."""
        return [self._code] if self._episode_active and self._code else []
