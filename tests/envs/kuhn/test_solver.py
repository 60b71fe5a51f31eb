"""Kuhn poker's exact analysis against its closed forms."""

from __future__ import annotations

from fractions import Fraction

import pytest

from textgym.envs.kuhn import rules
from textgym.envs.kuhn.solver import (
    GAME_VALUE,
    INFOSETS,
    best_response_value,
    equilibrium,
    exploitability,
    value,
)


def test_payoffs_of_every_complete_hand() -> None:
    assert rules.payoff(("K", "J"), ("check", "check")) == 1
    assert rules.payoff(("J", "K"), ("check", "check")) == -1
    assert rules.payoff(("Q", "J"), ("bet", "call")) == 2
    assert rules.payoff(("J", "Q"), ("check", "bet", "call")) == -2
    assert rules.payoff(("J", "Q"), ("bet", "fold")) == 1
    assert rules.payoff(("K", "Q"), ("check", "bet", "fold")) == -1
    with pytest.raises(ValueError, match="not a complete hand"):
        rules.payoff(("K", "Q"), ("check",))


@pytest.mark.parametrize("alpha", [Fraction(0), Fraction(1, 6), Fraction(1, 3)])
def test_every_equilibrium_is_worth_minus_one_eighteenth_and_unexploitable(alpha) -> None:
    strategy = equilibrium(alpha)
    assert value(strategy, strategy) == GAME_VALUE == Fraction(-1, 18)
    assert best_response_value(strategy, 0) == Fraction(-1, 18)
    assert best_response_value(strategy, 1) == Fraction(1, 18)
    assert exploitability(strategy) == 0


def test_known_strategies_have_their_closed_form_exploitability() -> None:
    every = INFOSETS[0] + INFOSETS[1]
    # uniform random: 11/24 chips a hand (OpenSpiel's published figure, 0.458333)
    assert exploitability(dict.fromkeys(every, Fraction(1, 2))) == Fraction(11, 24)
    # always bet and call. Seat 0's best response: bet the K (called: +2), anything with
    # the Q (0: +2 against the J, -2 against the K), check and fold the J (-1)
    always = dict.fromkeys(every, Fraction(1))
    assert best_response_value(always, 0) == Fraction(1, 3)  # (K 2 + Q 0 + J -1) / 3
    assert best_response_value(always, 1) == Fraction(1, 3)
    assert exploitability(always) == Fraction(1, 3)
    # a deviation from equilibrium is exploitable: player 1 never bluffs its J
    honest = {**equilibrium(), ("J", ("check",)): Fraction(0)}
    assert exploitability(honest) > 0


def test_bad_strategies_and_alphas_are_refused() -> None:
    with pytest.raises(ValueError, match="alpha"):
        equilibrium(Fraction(1, 2))
    with pytest.raises(ValueError, match="no probability"):
        exploitability({})
    with pytest.raises(ValueError, match="not in"):
        exploitability({**equilibrium(), ("K", ()): Fraction(3, 2)})
