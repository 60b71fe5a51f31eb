"""Kuhn poker as a turn-based game of two seats (a
:class:`~textgym.envs.base.turn_based.TurnBasedGame`): a chance move (the deal) and hidden
information (each seat sees only its own card until a showdown).

Seat 0 (``player_0``) acts first. Actions are the words ``check``, ``bet``, ``call`` and
``fold`` (:mod:`textgym.envs.kuhn.rules`). Returns are each seat's net chips (-2 to 2,
zero-sum); a seat that forfeits (answers what is not a legal action) loses 1 chip, its
ante, as if it had folded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from textgym.envs.base.turn_based import TurnBasedGame
from textgym.envs.kuhn import rules

RULES = (
    "You are playing Kuhn poker against one opponent. The deck has three cards: J < Q < K. "
    "Each player antes 1 chip and gets one card; the third card is not used. Player 1 acts "
    "first: check or bet 1 chip. After a check, player 2 may check (showdown: the higher "
    "card wins the pot) or bet 1; facing a bet, a player calls (showdown) or folds (the "
    "other player wins the pot). Each turn you see your card, the moves so far and your "
    "legal actions."
)
ANSWER = " Answer with one legal action (check, bet, call or fold), and nothing else."

_PAST = {"check": "checked", "bet": "bet", "call": "called", "fold": "folded"}


class KuhnPokerGame(TurnBasedGame):
    """One hand of Kuhn poker between two seats.

    ``start(rng, options)`` deals two different cards from ``rng`` (one draw: a
    permutation), or takes ``options["cards"]``: (seat 0's card, seat 1's card).
    """

    rules = RULES + ANSWER
    start_options = ("cards",)
    observation_length = 512

    def __init__(self) -> None:
        self.cards: tuple[str, str] = ("J", "Q")
        self.history: tuple[str, ...] = ()
        self.forfeited: tuple[int, str] | None = None
        """The seat that forfeited and why, else None."""

    def start(self, rng: np.random.Generator, options: dict[str, Any] | None = None) -> None:
        """Deal (from ``rng``, or ``options["cards"]``) and start the betting."""
        options = dict(options or {})
        unknown = set(options) - set(self.start_options)
        if unknown:
            raise ValueError(f"unknown Kuhn poker start options: {sorted(unknown)}")
        if "cards" in options:
            cards = tuple(options["cards"])
            if len(cards) != 2 or cards[0] == cards[1] or not set(cards) <= set(rules.CARDS):
                raise ValueError(f"cards must be two different cards of J, Q, K, got {cards!r}")
        else:
            order = rng.permutation(len(rules.CARDS))
            cards = (rules.CARDS[int(order[0])], rules.CARDS[int(order[1])])
        self.cards = cards  # type: ignore[assignment]
        self.history = ()
        self.forfeited = None

    def to_move(self) -> int | None:
        """The seat to act; None when the hand is over."""
        return None if self.forfeited is not None else rules.to_act(self.history)

    def legal_actions(self) -> tuple[str, ...]:
        """``check``/``bet``, or ``call``/``fold`` facing a bet; () when over."""
        return () if self.forfeited is not None else rules.legal_actions(self.history)

    def play(self, action: str) -> None:
        """Play ``action`` for the seat to act."""
        legal = self.legal_actions()
        if action not in legal:
            raise ValueError(f"{action!r} is not a legal action now ({', '.join(legal) or 'none'})")
        self.history = (*self.history, action)

    def forfeit(self, reason: str) -> None:
        """The seat to act loses its ante (1 chip), as if it folded."""
        seat = self.to_move()
        if seat is None:
            raise ValueError("the hand is over")
        self.forfeited = (seat, reason)

    def returns(self) -> tuple[float, ...]:
        """Each seat's net chips (zeros while the hand runs)."""
        if self.forfeited is not None:
            loser = self.forfeited[0]
            return (-1.0, 1.0) if loser == 0 else (1.0, -1.0)
        if self.history not in rules.TERMINALS:
            return (0.0, 0.0)
        first = float(rules.payoff(self.cards, self.history))
        return first, -first

    def parse_action(self, text: str) -> str | None:
        """The legal action ``text`` names (case and surrounding whitespace ignored)."""
        action = text.strip().lower() if isinstance(text, str) else None
        return action if action in self.legal_actions() else None

    def explain_illegal(self, text: str) -> str:
        """Why ``text`` is not a legal action now."""
        word = text.strip().lower() if isinstance(text, str) else ""
        shown = repr(word) if word.isascii() and word.isalpha() and len(word) <= 12 else "that"
        return f"{shown} is not one of {', '.join(self.legal_actions())}"

    def observe(self, seat: int) -> str:
        """Seat ``seat``'s card, the moves so far, and its legal actions or the result;
        the other card only at a showdown."""
        lines = [f"You are player {seat + 1} of 2. Your card: {self.cards[seat]}."]
        moves = [f"Player {i % 2 + 1} {_PAST[action]}." for i, action in enumerate(self.history)]
        lines.append(" ".join(moves) if moves else "No moves yet.")
        over = self.to_move() is None
        if not over:
            if self.to_move() == seat:
                lines.append("Legal actions: " + ", ".join(self.legal_actions()) + ".")
            else:
                lines.append("The opponent is to act.")
            return "\n".join(lines)
        if self.forfeited is not None:
            who, reason = self.forfeited
            lines.append(
                f"Illegal action: {reason}. "
                + ("You forfeit your ante." if who == seat else "The opponent forfeits its ante.")
            )
        elif self.history[-1] != "fold":
            other = self.cards[1 - seat]
            lines.append(f"Showdown: the opponent has {other}.")
        net = int(self.returns()[seat])
        word = "win" if net > 0 else "lose"
        lines.append(f"Hand over: you {word} {abs(net)} chip{'s' if abs(net) != 1 else ''}.")
        return "\n".join(lines)

    def information_set(self, seat: int) -> tuple[str, tuple[str, ...]]:
        """What ``seat`` knows: its card and the history (the solver's information set)."""
        return self.cards[seat], self.history

    def state_key(self) -> int:
        """The information set of the seat to act, as a small stable number."""
        seat = self.to_move()
        card = self.cards[0 if seat is None else seat]
        code = {(): 0, ("check",): 1, ("bet",): 2, ("check", "bet"): 3}.get(self.history, 4)
        return rules.RANK[card] * 8 + code


__all__ = ["KuhnPokerGame"]
