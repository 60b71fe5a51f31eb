"""The exact solver: state count, values against brute force, ceilings against simulation."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from textgym.envs.tictactoe import rules, solver


def negamax(board: str) -> int:
    """Plain, unmemoized negamax: independent reference for the solver's table."""
    w = rules.winner(board)
    if w is not None:
        return 0 if w == "draw" else -1
    mark = rules.to_move(board)
    return max(-negamax(rules.apply_move(board, m, mark)) for m in rules.legal_moves(board))


def test_all_reachable_states_are_solved() -> None:
    table = solver.solve()
    assert len(table) == 5478
    assert table[rules.EMPTY_BOARD].value == 0
    # Every first move is optimal in tic-tac-toe: the minimax opponent may open anywhere.
    assert table[rules.EMPTY_BOARD].optimal_moves == tuple(range(9))
    # After X takes a corner, only the centre holds the draw for O.
    assert table["X........"].optimal_moves == (4,)


reachable = sorted(b for b in solver.solve() if b.count(".") >= 3)


@settings(max_examples=150)
@given(st.sampled_from(reachable))
def test_values_and_all_optimal_moves_match_brute_force(board: str) -> None:
    state = solver.solve()[board]
    assert state.value == negamax(board)
    if not rules.is_over(board):
        mark = rules.to_move(board)
        children = {m: -negamax(rules.apply_move(board, m, mark)) for m in rules.legal_moves(board)}
        best = max(children.values())
        assert state.optimal_moves == tuple(m for m, v in children.items() if v == best)


def test_o_first_games_are_mapped_by_swapping_labels() -> None:
    board = "O...X...."  # O opened in the corner, X answered in the centre
    assert solver.game_value(board, first="O") == 0
    assert solver.optimal_moves(board, first="O") == solver.optimal_moves("X...O....", "X")


def test_minimax_never_loses_from_any_reachable_state_against_any_reply() -> None:
    """Exhaustive: wherever the mover is not already lost, any optimal line never loses."""
    table = solver.solve()
    checked = 0
    for board, state in table.items():
        if rules.is_over(board) or state.value < 0:
            continue
        me = rules.to_move(board)
        assert _worst_case(board, me) >= state.value
        checked += 1
    assert checked > 2000


def _worst_case(board: str, me: str, memo: dict | None = None) -> int:
    """Worst result for ``me`` when ``me`` plays any optimal move and the other side anything."""
    memo = {} if memo is None else memo
    key = (board, me)
    if key in memo:
        return memo[key]
    w = rules.winner(board)
    if w is not None:
        result = 0 if w == "draw" else (1 if w == me else -1)
    else:
        mover = rules.to_move(board)
        moves = solver.optimal_moves(board) if mover == me else rules.legal_moves(board)
        result = min(_worst_case(rules.apply_move(board, m, mover), me, memo) for m in moves)
    memo[key] = result
    return result


def test_random_opponent_ceiling_is_exact_and_consistent() -> None:
    first = solver.best_response_to_random("first").outcomes
    second = solver.best_response_to_random("second").outcomes
    for o in (first, second):
        assert isinstance(o.win, Fraction)
        assert o.win + o.draw + o.loss == 1
    assert first.loss == 0
    assert first.win > Fraction(99, 100)
    assert second.score < first.score


def _simulate(seat: str, games: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    policy = solver.best_response_to_random(seat).policy  # type: ignore[arg-type]
    me = "X" if seat == "first" else "O"
    counts = np.zeros(3)
    for _ in range(games):
        board = rules.EMPTY_BOARD
        while not rules.is_over(board):
            mover = rules.to_move(board)
            options = policy[board] if mover == me else rules.legal_moves(board)
            board = rules.apply_move(board, options[int(rng.integers(len(options)))], mover)
        w = rules.winner(board)
        counts[0 if w == me else (1 if w == "draw" else 2)] += 1
    return counts / games


def test_ceiling_matches_simulation_of_its_policy() -> None:
    n = 4000
    for seat in ("first", "second"):
        exact = solver.best_response_to_random(seat).outcomes  # type: ignore[arg-type]
        freq = _simulate(seat, n, seed=11)
        for p, f in zip((exact.win, exact.draw, exact.loss), freq, strict=True):
            sigma = max(float(np.sqrt(float(p) * (1 - float(p)) / n)), 1 / n)
            assert abs(f - float(p)) < 5 * sigma
