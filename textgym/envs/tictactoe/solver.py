"""Exact solution of tic-tac-toe.

Two tables, each computed once per process on first use (tens of milliseconds) and cached:

* :func:`solve` — the game-theoretic value of every one of the 5,478 boards reachable
  from the empty board (X moving first), for the player to move (+1 win, 0 draw, −1 loss),
  with **all** optimal moves of each non-terminal board. Minimax opponents pick uniformly
  among these, so they cannot be memorized.
* :func:`best_response_to_random` — the policy that maximizes the expected score
  (win 1, draw ½, loss 0) against a uniformly random opponent, for each seat, with its
  exact win/draw/loss probabilities as fractions. This is the ceiling a trained player can
  reach against a random opponent.

Games where O moves first are the same game with the labels exchanged; every function
takes ``first`` and maps such boards onto the X-first table.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Literal

from textgym.envs.tictactoe.rules import (
    EMPTY_BOARD,
    Board,
    Mark,
    apply_move,
    legal_moves,
    swap_marks,
    to_move,
    winner,
)

Seat = Literal["first", "second"]


@dataclass(frozen=True)
class SolvedState:
    """Exact value of a board for the player to move, and all moves that keep it."""

    value: int
    """+1 if the player to move wins with perfect play, 0 for a draw, −1 for a loss."""
    optimal_moves: tuple[int, ...]
    """Every cell (0..8) whose resulting board has the best value; empty on terminal boards."""


@dataclass(frozen=True)
class Outcomes:
    """Exact probabilities of winning, drawing and losing one game."""

    win: Fraction
    draw: Fraction
    loss: Fraction

    @property
    def score(self) -> Fraction:
        """Expected score with win 1, draw ½, loss 0."""
        return self.win + self.draw / 2


@dataclass(frozen=True)
class RandomOpponentSolution:
    """The expected-score-maximizing policy against a uniformly random opponent, for one seat."""

    seat: Seat
    outcomes: Outcomes
    """Exact win/draw/loss probabilities of that policy from the empty board."""
    policy: dict[Board, tuple[int, ...]]
    """For every reachable board where this seat moves, all moves that maximize the expected
    score (ties broken by the lower loss probability, then the higher win probability)."""


def _normalize(board: Board, first: Mark) -> Board:
    return board if first == "X" else swap_marks(board)


@cache
def solve() -> dict[Board, SolvedState]:
    """Value and optimal moves of every board reachable from the empty board, X first."""
    table: dict[Board, SolvedState] = {}

    def visit(board: Board) -> int:
        known = table.get(board)
        if known is not None:
            return known.value
        result = winner(board)
        if result is not None:
            # The previous mover made the last move, so the player to move lost or drew.
            value = 0 if result == "draw" else -1
            table[board] = SolvedState(value, ())
            return value
        mark = to_move(board)
        child_values = {m: -visit(apply_move(board, m, mark)) for m in legal_moves(board)}
        best = max(child_values.values())
        table[board] = SolvedState(best, tuple(m for m, v in child_values.items() if v == best))
        return best

    visit(EMPTY_BOARD)
    return table


def solved_state(board: Board, first: Mark = "X") -> SolvedState:
    """Exact value and optimal moves of ``board`` in a game where ``first`` moved first.

    Raises:
        KeyError: if the board cannot be reached in such a game.
    """
    try:
        return solve()[_normalize(board, first)]
    except KeyError:
        raise KeyError(f"board {board!r} is not reachable when {first} moves first") from None


@cache
def optimal_move_table(first: Mark = "X") -> dict[Board, tuple[int, ...]]:
    """Board -> all optimal moves, for games where ``first`` moved first (the opponents' table)."""
    return {_normalize(b, first): s.optimal_moves for b, s in solve().items()}


def optimal_moves(board: Board, first: Mark = "X") -> tuple[int, ...]:
    """All optimal moves (0..8) for the player to move on ``board``."""
    try:
        return optimal_move_table(first)[board]
    except KeyError:
        raise KeyError(f"board {board!r} is not reachable when {first} moves first") from None


def game_value(board: Board, first: Mark = "X") -> int:
    """Value of ``board`` for the player to move: +1 win, 0 draw, −1 loss under perfect play."""
    return solved_state(board, first).value


@cache
def best_response_to_random(seat: Seat) -> RandomOpponentSolution:
    """The policy maximizing expected score against a uniformly random opponent, for ``seat``."""
    if seat not in ("first", "second"):
        raise ValueError(f"seat must be 'first' or 'second', got {seat!r}")
    me: Mark = "X" if seat == "first" else "O"
    memo: dict[Board, Outcomes] = {}
    policy: dict[Board, tuple[int, ...]] = {}

    def key(o: Outcomes) -> tuple[Fraction, Fraction, Fraction]:
        return (o.score, -o.loss, o.win)

    def visit(board: Board) -> Outcomes:
        if board in memo:
            return memo[board]
        result = winner(board)
        if result is not None:
            one, zero = Fraction(1), Fraction(0)
            if result == "draw":
                out = Outcomes(zero, one, zero)
            elif result == me:
                out = Outcomes(one, zero, zero)
            else:
                out = Outcomes(zero, zero, one)
        else:
            mover = to_move(board)
            moves = legal_moves(board)
            children = {m: visit(apply_move(board, m, mover)) for m in moves}
            if mover == me:
                best = max(key(o) for o in children.values())
                policy[board] = tuple(m for m, o in children.items() if key(o) == best)
                out = children[policy[board][0]]
            else:
                n = len(moves)
                out = Outcomes(
                    sum((o.win for o in children.values()), Fraction(0)) / n,
                    sum((o.draw for o in children.values()), Fraction(0)) / n,
                    sum((o.loss for o in children.values()), Fraction(0)) / n,
                )
        memo[board] = out
        return out

    outcomes = visit(EMPTY_BOARD)
    return RandomOpponentSolution(seat, outcomes, policy)
