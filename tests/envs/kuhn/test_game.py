"""Kuhn poker as a game of two seats: the deal, hidden cards, returns, forfeits."""

from __future__ import annotations

import numpy as np
import pytest

from textgym.envs.kuhn import rules
from textgym.envs.kuhn.game import KuhnPokerGame


def test_deals_are_uniform_and_come_only_from_the_generator() -> None:
    game = KuhnPokerGame()
    counts: dict[tuple[str, str], int] = {}
    rng = np.random.default_rng(0)
    for _ in range(6000):
        game.start(rng)
        counts[game.cards] = counts.get(game.cards, 0) + 1
    assert set(counts) == set(rules.DEALS)
    assert all(abs(n - 1000) < 120 for n in counts.values())  # 1/6 each, about 4 s.e.
    a, b = KuhnPokerGame(), KuhnPokerGame()
    a.start(np.random.default_rng(7))
    b.start(np.random.default_rng(7))
    assert a.cards == b.cards


def test_each_seat_sees_only_its_own_card_until_the_showdown() -> None:
    game = KuhnPokerGame()
    game.start(np.random.default_rng(0), {"cards": ("Q", "K")})
    assert game.to_move() == 0 and game.legal_actions() == ("check", "bet")
    assert "Your card: Q" in game.observe(0) and "K" not in game.observe(0)
    assert "Your card: K" in game.observe(1) and "Q" not in game.observe(1)
    game.play("check")
    game.play("bet")
    assert game.to_move() == 0 and game.legal_actions() == ("call", "fold")
    assert "Player 1 checked. Player 2 bet." in game.observe(0)
    game.play("call")
    assert game.is_over() and game.returns() == (-2.0, 2.0)
    assert "Showdown: the opponent has K." in game.observe(0)
    assert game.observe(0).endswith("Hand over: you lose 2 chips.")
    assert game.observe(1).endswith("Hand over: you win 2 chips.")


def test_a_fold_shows_no_card_and_a_forfeit_costs_the_ante() -> None:
    game = KuhnPokerGame()
    game.start(np.random.default_rng(0), {"cards": ("J", "K")})
    game.play("bet")
    game.play("fold")
    assert game.returns() == (1.0, -1.0) and "K" not in game.observe(0)
    game.start(np.random.default_rng(0), {"cards": ("J", "K")})
    game.play("check")
    assert game.parse_action(" BET\n") == "bet" and game.parse_action("call") is None
    reason = game.explain_illegal("raise")
    game.forfeit(reason)
    assert game.is_over() and game.returns() == (1.0, -1.0)
    assert "Illegal action: 'raise' is not one of check, bet." in game.observe(1)
    with pytest.raises(ValueError, match="over"):
        game.forfeit("again")


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"cards": ("K", "K")}, "two different"),
        ({"cards": ("A", "K")}, "two different"),
        ({"deal": 1}, "unknown Kuhn poker start options"),
    ],
)
def test_bad_starts_and_actions_are_refused(options, needle) -> None:
    game = KuhnPokerGame()
    with pytest.raises(ValueError, match=needle):
        game.start(np.random.default_rng(0), options)
    game.start(np.random.default_rng(0))
    with pytest.raises(ValueError, match="not a legal action"):
        game.play("call")
