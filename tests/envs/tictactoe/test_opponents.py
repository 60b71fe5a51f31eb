"""Opponents: legal, perfect where promised, uniform among ties, skill knob honoured."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from textgym.envs.tictactoe import rules, solver
from textgym.envs.tictactoe.opponents import (
    MinimaxOpponent,
    NoisyMinimaxOpponent,
    Opponent,
    RandomOpponent,
    make_opponent,
)

# Chi-square critical values at p = 0.001 by degrees of freedom.
CHI2_CRIT_001 = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52, 6: 22.46, 7: 24.32, 8: 26.12}

open_boards = sorted(b for b in solver.solve() if not rules.is_over(b))


def chi_square(counts: Counter, categories: tuple[int, ...]) -> float:
    n = sum(counts.values())
    expected = n / len(categories)
    return sum((counts.get(c, 0) - expected) ** 2 / expected for c in categories)


def test_minimax_opening_is_uniform_over_all_nine_cells() -> None:
    opp = MinimaxOpponent()
    counts = Counter(
        opp.act(rules.EMPTY_BOARD, np.random.default_rng(seed)) for seed in range(9000)
    )
    assert set(counts) == set(range(9))
    assert chi_square(counts, tuple(range(9))) < CHI2_CRIT_001[8]


@pytest.mark.parametrize("board", ["X........", "....X....", "X...O...X", "XO..X...."])
def test_minimax_tie_break_is_uniform_among_optimal_moves(board: str) -> None:
    optimal = solver.optimal_moves(board)
    counts = Counter(
        MinimaxOpponent().act(board, np.random.default_rng(seed))
        for seed in range(400 * len(optimal))
    )
    assert set(counts) == set(optimal)
    if len(optimal) > 1:
        assert chi_square(counts, optimal) < CHI2_CRIT_001[len(optimal) - 1]


@given(st.sampled_from(open_boards), st.integers(0, 2**32 - 1))
def test_every_opponent_plays_legal_moves_and_minimax_plays_optimal_ones(
    board: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    for opp in (RandomOpponent(), MinimaxOpponent(), NoisyMinimaxOpponent(0.5)):
        assert isinstance(opp, Opponent)
        assert opp.act(board, rng) in rules.legal_moves(board)
    assert MinimaxOpponent().act(board, rng) in solver.optimal_moves(board)


def test_random_move_prob_sets_the_share_of_random_moves() -> None:
    # On "X........" the only optimal reply is the centre; a random move hits it 1/8 of the time.
    board = "X........"
    for p in (0.2, 0.7):
        opp = NoisyMinimaxOpponent(p)
        n = 8000
        rng = np.random.default_rng(3)
        not_centre = sum(opp.act(board, rng) != 4 for _ in range(n)) / n
        expected = p * 7 / 8
        assert abs(not_centre - expected) < 5 * np.sqrt(expected * (1 - expected) / n)


def test_make_opponent_picks_the_right_bot_and_validates() -> None:
    assert isinstance(make_opponent(0), MinimaxOpponent)
    assert isinstance(make_opponent(1), RandomOpponent)
    assert make_opponent(0.3).random_move_prob == 0.3  # type: ignore[attr-defined]
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="random_move_prob"):
            make_opponent(bad)


def test_opponents_refuse_finished_boards() -> None:
    with pytest.raises(ValueError, match="game is over"):
        MinimaxOpponent().act("XXXOO....", np.random.default_rng(0))
