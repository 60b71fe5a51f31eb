"""Pure Kuhn poker rules: three cards, one chip ante, one bet (Kuhn, 1950).

The deck is J < Q < K. Each player antes 1 chip and gets one card; the other card is
never seen. Player 0 acts first:

- ``check``: then player 1 may ``check`` (showdown for the pot of 2: the higher card wins
  1 chip net) or ``bet`` 1; player 0 must then ``call`` (showdown for 4: 2 net) or
  ``fold`` (player 1 wins 1 net);
- ``bet`` 1: player 1 may ``call`` (showdown for 4: 2 net) or ``fold`` (player 0 wins 1).

A history is the tuple of actions so far. Every function here is pure; nothing imports
Gymnasium.
"""

from __future__ import annotations

from itertools import permutations

CARDS: tuple[str, ...] = ("J", "Q", "K")
"""The deck, lowest first."""

RANK = {card: i for i, card in enumerate(CARDS)}

#: Every deal (player 0's card, player 1's card), each with probability 1/6.
DEALS: tuple[tuple[str, str], ...] = tuple(permutations(CARDS, 2))  # type: ignore[assignment]

#: The non-terminal histories, each with the player to act.
DECISIONS: dict[tuple[str, ...], int] = {(): 0, ("check",): 1, ("bet",): 1, ("check", "bet"): 0}

#: Complete histories.
TERMINALS: tuple[tuple[str, ...], ...] = (
    ("check", "check"),
    ("check", "bet", "call"),
    ("check", "bet", "fold"),
    ("bet", "call"),
    ("bet", "fold"),
)


def to_act(history: tuple[str, ...]) -> int | None:
    """The player (0 or 1) to act after ``history``; None when the hand is over."""
    return DECISIONS.get(tuple(history))


def legal_actions(history: tuple[str, ...]) -> tuple[str, ...]:
    """``check``/``bet`` without a bet to answer, ``call``/``fold`` facing one; () at the end."""
    history = tuple(history)
    if history not in DECISIONS:
        return ()
    return ("call", "fold") if history and history[-1] == "bet" else ("check", "bet")


def payoff(cards: tuple[str, str], history: tuple[str, ...]) -> int:
    """Player 0's net chips at the end of ``history`` (player 1 gets the opposite)."""
    history = tuple(history)
    if history not in TERMINALS:
        raise ValueError(f"{history} is not a complete hand")
    if history[-1] == "fold":
        folder = 1 if history == ("bet", "fold") else 0
        return 1 if folder == 1 else -1
    stake = 2 if "bet" in history else 1
    return stake if RANK[cards[0]] > RANK[cards[1]] else -stake


__all__ = ["CARDS", "DEALS", "DECISIONS", "RANK", "TERMINALS", "legal_actions", "payoff", "to_act"]
