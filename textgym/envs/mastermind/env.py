"""``TextMastermind-v0``: guess a hidden code from black/white-peg feedback."""

from __future__ import annotations

from collections import Counter

import numpy as np

from textgym.envs.base.multi_turn import MultiTurnEnv, Reply


def pegs(code: str, guess: str) -> tuple[int, int]:
    """(black, white): right symbol in the right place, right symbol in the wrong place."""
    black = sum(c == g for c, g in zip(code, guess, strict=True))
    common = sum((Counter(code) & Counter(guess)).values())
    return black, common - black


class TextMastermindEnv(MultiTurnEnv):
    """Mastermind: find a code of ``length`` digits from 1..``colors`` (repeats allowed).

    After each guess the player learns how many digits are right and in the right place
    (black pegs) and how many are right but in the wrong place (white pegs). Reward 1.0
    when the code is found (the episode terminates), 0.0 otherwise; the episode is
    truncated after ``max_turns`` guesses. A malformed guess costs a turn and is answered
    with the rule it broke (never echoed back). Earlier guesses and their pegs are repeated
    in every observation, so the latest observation is enough to play.
    """

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

    def start(self, rng: np.random.Generator) -> str:
        """Draw the code."""
        self._code = "".join(str(d) for d in rng.integers(1, self.colors + 1, size=self.length))
        self._history = []
        return f"Guess the {self.length}-digit code. {self.max_turns} guesses left."

    def _valid(self, guess: str | None) -> bool:
        return (
            guess is not None
            and len(guess) == self.length
            and all(c.isdigit() and 1 <= int(c) <= self.colors for c in guess)
        )

    def respond(self, answer: str | None) -> Reply:
        """Score a guess with pegs."""
        left = self.max_turns - self.turn
        if not self._valid(answer):
            rule = f"a guess is {self.length} digits from 1 to {self.colors}"
            return Reply(
                self._board(f"Invalid guess ({rule}). {left} guesses left."), info={"valid": False}
            )
        assert answer is not None
        black, white = pegs(self._code, answer)
        if black == self.length:
            return Reply(
                f"Solved in {self.turn} guesses: the code was {self._code}.",
                reward=1.0,
                done=True,
                info={"valid": True, "solved": True},
            )
        self._history.append(f"{answer}: {black} black, {white} white")
        return Reply(
            self._board(f"{left} guesses left." if left else "Out of guesses."),
            info={"valid": True, "solved": False},
        )

    def _board(self, last: str) -> str:
        return "\n".join(["Guesses so far:", *self._history, last]) if self._history else last

    def hidden_strings(self) -> list[str]:
        """The code, while the episode runs."""
        return [self._code] if self._episode_active and self._code else []
