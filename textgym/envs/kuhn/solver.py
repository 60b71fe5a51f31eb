"""Exact Kuhn poker analysis: strategies, expected values, best responses, exploitability.

A **strategy** gives, for every information set a player can meet, the probability of its
aggressive action (``bet`` where it may check, ``call`` where it faces a bet). An
information set is ``(card, history)``: player 0 decides at ``()`` and ``("check",
"bet")``, player 1 at ``("check",)`` and ``("bet",)``. A :class:`Strategy` holds both
seats' choices (a model that plays either seat has one of each), as exact fractions.

The counterpart of the tic-tac-toe audit: :func:`exploitability` is how much a best
responder wins against a strategy, exact, by trying all 64 pure strategies of each seat
(3 cards x 2 decisions, each a yes/no) on all 6 deals.

The equilibria (Kuhn, 1950) form a family with one parameter ``alpha`` in [0, 1/3]
(:func:`equilibrium`): the first player's value is -1/18 for every one of them.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import product

from textgym.envs.kuhn.rules import CARDS, DEALS, DECISIONS, legal_actions, payoff, to_act

Number = Fraction | float
InfoSet = tuple[str, tuple[str, ...]]

#: Every information set of each seat, in a fixed order.
INFOSETS: tuple[tuple[InfoSet, ...], tuple[InfoSet, ...]] = tuple(  # type: ignore[assignment]
    tuple((card, h) for card in CARDS for h in DECISIONS if DECISIONS[h] == seat) for seat in (0, 1)
)

#: The first player's value of the game under any equilibrium.
GAME_VALUE = Fraction(-1, 18)

Strategy = dict[InfoSet, Number]
"""Probability of the aggressive action (bet, call) at each information set."""


def check_strategy(strategy: Strategy) -> None:
    """Every information set of both seats has a probability in [0, 1]; else ValueError."""
    for infoset in INFOSETS[0] + INFOSETS[1]:
        if infoset not in strategy:
            raise ValueError(f"the strategy has no probability for {infoset}")
        p = strategy[infoset]
        if not 0 <= p <= 1:
            raise ValueError(f"probability {p!r} at {infoset} is not in [0, 1]")


def equilibrium(alpha: Number = Fraction(1, 6)) -> Strategy:
    """An equilibrium strategy for both seats; ``alpha`` in [0, 1/3] is how often player
    0 bluffs with the J (it bets the K 3 alpha of the time and calls with the Q alpha +
    1/3 of the time); player 1 bets the K, bluffs the J a third of the time after a check,
    calls a bet with the K always and with the Q a third of the time."""
    if not 0 <= alpha <= Fraction(1, 3):
        raise ValueError(f"alpha must be in [0, 1/3], got {alpha!r}")
    third = Fraction(1, 3)
    return {
        ("J", ()): alpha,
        ("Q", ()): 0,
        ("K", ()): 3 * alpha,
        ("J", ("check", "bet")): 0,
        ("Q", ("check", "bet")): alpha + third,
        ("K", ("check", "bet")): 1,
        ("J", ("check",)): third,
        ("Q", ("check",)): 0,
        ("K", ("check",)): 1,
        ("J", ("bet",)): 0,
        ("Q", ("bet",)): third,
        ("K", ("bet",)): 1,
    }


def _action_prob(strategy: Strategy, card: str, history: tuple[str, ...], action: str) -> Number:
    p = strategy[(card, history)]
    return p if action in ("bet", "call") else 1 - p


def value(first: Strategy, second: Strategy) -> Number:
    """Player 0's expected net chips when ``first`` plays seat 0 and ``second`` seat 1
    (each uses its own seat's information sets)."""
    total: Number = Fraction(0)
    for cards in DEALS:
        total += _hand_value(first, second, cards, ())
    return total / len(DEALS)


def _hand_value(
    first: Strategy, second: Strategy, cards: tuple[str, str], history: tuple[str, ...]
) -> Number:
    seat = to_act(history)
    if seat is None:
        return Fraction(payoff(cards, history))
    strategy = first if seat == 0 else second
    return sum(
        _action_prob(strategy, cards[seat], history, a)
        * _hand_value(first, second, cards, (*history, a))
        for a in legal_actions(history)
    )


def pure_strategies(seat: int) -> list[Strategy]:
    """Every pure strategy of ``seat`` (64: one yes/no at each of its 6 information sets);
    the other seat's sets are left at 0, unused."""
    out = []
    for choice in product((0, 1), repeat=len(INFOSETS[seat])):
        strategy: Strategy = dict.fromkeys(INFOSETS[1 - seat], Fraction(0))
        strategy.update({s: Fraction(c) for s, c in zip(INFOSETS[seat], choice, strict=True)})
        out.append(strategy)
    return out


def best_response_value(strategy: Strategy, seat: int) -> Number:
    """What a best responder in ``seat`` wins (net chips per hand) against ``strategy``
    playing the other seat: the best of its 64 pure strategies (a best response can
    always be pure)."""
    if seat == 0:
        return max(value(pure, strategy) for pure in pure_strategies(0))
    return max(-value(strategy, pure) for pure in pure_strategies(1))


def exploitability(strategy: Strategy) -> Number:
    """How far ``strategy`` (both seats) is from an equilibrium, in chips per hand: the
    mean of what a best responder wins against it in each seat, less the game's value
    to that seat (the NashConv over 2; 0 exactly at an equilibrium)."""
    check_strategy(strategy)
    gain0 = best_response_value(strategy, 0) - value(strategy, strategy)
    gain1 = best_response_value(strategy, 1) + value(strategy, strategy)
    return (gain0 + gain1) / 2


__all__ = [
    "GAME_VALUE",
    "INFOSETS",
    "InfoSet",
    "Strategy",
    "best_response_value",
    "check_strategy",
    "equilibrium",
    "exploitability",
    "pure_strategies",
    "value",
]
