"""Pure tic-tac-toe rules: boards, legal moves, applying moves, winners, rendering.

A board is a 9-character string read row by row, with ``"X"``, ``"O"`` or ``"."`` (empty)
in each cell. Cells are indexed 0..8 internally; people and language models see them
numbered 1..9. Boards are immutable and hashable, so every function here is pure and the
hot ones are memoized (there are only 3**9 boards).

This module imports nothing from Gymnasium: it is the inner loop of every rollout.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

Mark = Literal["X", "O"]
Outcome = Literal["X", "O", "draw"]
Board = str

EMPTY = "."
EMPTY_BOARD: Board = EMPTY * 9
MARKS: tuple[Mark, Mark] = ("X", "O")
LINES: tuple[tuple[int, int, int], ...] = (
    (0, 1, 2),
    (3, 4, 5),
    (6, 7, 8),
    (0, 3, 6),
    (1, 4, 7),
    (2, 5, 8),
    (0, 4, 8),
    (2, 4, 6),
)
_SWAP = str.maketrans("XO", "OX")


def other(mark: Mark) -> Mark:
    """Return the opponent's mark."""
    return "O" if mark == "X" else "X"


def is_valid_board(board: object) -> bool:
    """Whether ``board`` is 9 characters of ``X``, ``O`` and ``.`` (not necessarily reachable)."""
    return isinstance(board, str) and len(board) == 9 and set(board) <= {"X", "O", EMPTY}


@cache
def legal_moves(board: Board) -> tuple[int, ...]:
    """Empty cells (0..8) of a board in increasing order; empty when the game is over."""
    if winner(board) is not None:
        return ()
    return tuple(i for i, c in enumerate(board) if c == EMPTY)


@cache
def winner(board: Board) -> Outcome | None:
    """The mark with three in a line, ``"draw"`` if the board is full, else None."""
    for a, b, c in LINES:
        m = board[a]
        if m != EMPTY and m == board[b] == board[c]:
            return m  # type: ignore[return-value]
    return "draw" if EMPTY not in board else None


def is_over(board: Board) -> bool:
    """Whether the game on this board has ended."""
    return winner(board) is not None


def to_move(board: Board, first: Mark = "X") -> Mark:
    """The mark whose turn it is, given which mark moved first."""
    if board.count("X") == board.count("O"):
        return first
    return other(first)


def apply_move(board: Board, cell: int, mark: Mark) -> Board:
    """Return the board after ``mark`` plays ``cell`` (0..8).

    Raises:
        ValueError: if the cell is out of range or occupied, or the game is over.
    """
    if not 0 <= cell < 9:
        raise ValueError(f"cell must be in 0..8, got {cell}")
    if board[cell] != EMPTY:
        raise ValueError(f"cell {cell + 1} is taken on board {board!r}")
    if winner(board) is not None:
        raise ValueError(f"the game on board {board!r} is over")
    return board[:cell] + mark + board[cell + 1 :]


def swap_marks(board: Board) -> Board:
    """Exchange X and O on a board (used to reduce O-first games to X-first ones)."""
    return board.translate(_SWAP)


@cache
def render(board: Board, numbered: bool = True) -> str:
    """Draw the board as text; free cells show their number (1..9) when ``numbered``."""
    cells = [c if c != EMPTY else (str(i + 1) if numbered else " ") for i, c in enumerate(board)]
    rows = [f" {cells[r]} | {cells[r + 1]} | {cells[r + 2]}" for r in (0, 3, 6)]
    return "\n---+---+---\n".join(rows)
