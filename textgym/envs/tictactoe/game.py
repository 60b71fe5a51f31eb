"""Tic-tac-toe as a turn-based game of two seats (a
:class:`~textgym.envs.base.turn_based.TurnBasedGame`).

Seat 0 (``player_0``) moves first with the mark ``first_mark`` (X unless the start says
otherwise), seat 1 plays the other mark. Each seat sees the board from its own side, in
the observation style of the game (the drawn board, the compact line or the letters line,
:mod:`textgym.envs.tictactoe.text`). A win returns 1 to the winner and -1 to the loser, a
draw 0 to both (zero-sum; the single-agent env maps outcomes to its own rewards).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from textgym.envs.base.turn_based import TurnBasedGame
from textgym.envs.tictactoe import rules
from textgym.envs.tictactoe.rules import Board, Mark
from textgym.envs.tictactoe.text import (
    ACTION_TO_CELL,
    CELL_ACTIONS,
    COMPACT_PROMPT,
    LETTERS_PROMPT,
    SYSTEM_PROMPT,
    ObservationStyle,
    compact_text,
    full_text,
    legal_action_strings,
    letters_text,
)

_TRITS = str.maketrans(".XO", "012")


def board_code(board: Board) -> int:
    """The board as a base-3 number (``.``=0, ``X``=1, ``O``=2): the game's state key."""
    return int(board.translate(_TRITS), 3)


class TicTacToeGame(TurnBasedGame):
    """One game of tic-tac-toe between two seats.

    ``start(rng, options)`` takes ``first_mark`` (``"X"`` or ``"O"``: the mark of seat 0,
    which moves first) and ``board`` (a position to start from, 9 characters of ``X``,
    ``O``, ``.``, whose game is not over; the seat to move is the one whose turn it is
    there). The game draws nothing from ``rng``: tic-tac-toe has no chance moves.
    """

    start_options = ("first_mark", "board")

    def __init__(self, observation_style: ObservationStyle = "full") -> None:
        if observation_style not in ("full", "compact", "letters"):
            raise ValueError(
                "observation_style must be 'full', 'compact' or 'letters', "
                f"got {observation_style!r}"
            )
        self.observation_style = observation_style
        extra = {"full": "", "compact": COMPACT_PROMPT, "letters": LETTERS_PROMPT}
        head, tail = SYSTEM_PROMPT.split(" Answer with", 1)
        self.rules = head + extra[observation_style] + " Answer with" + tail
        self.board: Board = rules.EMPTY_BOARD
        self.first: Mark = "X"
        self.last_move: int | None = None
        """The cell (0..8) of the last move, None before the first one of this game."""
        self.moves = 0
        """Moves played in this game (not counting a start position's marks)."""
        self.forfeited: tuple[int, str] | None = None
        """The seat that forfeited and why (:meth:`forfeit`), else None."""

    # ------------------------------------------------------------------ the game

    def start(self, rng: np.random.Generator, options: dict[str, Any] | None = None) -> None:
        """A new game: the empty board, or ``options["board"]``; seat 0 plays
        ``options["first_mark"]`` (default X) and moves first."""
        options = dict(options or {})
        unknown = set(options) - set(self.start_options)
        if unknown:
            raise ValueError(f"unknown tic-tac-toe start options: {sorted(unknown)}")
        first = options.get("first_mark", "X")
        if first not in rules.MARKS:
            raise ValueError(f"first_mark must be 'X' or 'O', got {first!r}")
        board = options.get("board", rules.EMPTY_BOARD)
        if not rules.is_valid_board(board):
            raise ValueError(f"board must be 9 characters of X, O and '.', got {board!r}")
        counts = board.count(first), board.count(rules.other(first))
        if counts[0] - counts[1] not in (0, 1) or rules.winner(board) is not None:
            raise ValueError(
                f"board {board!r} cannot be reached with {first} moving first, or its game is over"
            )
        self.board, self.first, self.last_move, self.moves = board, first, None, 0
        self.forfeited = None

    def mark_of(self, seat: int) -> Mark:
        """The mark of ``seat``."""
        return self.first if seat == 0 else rules.other(self.first)

    def to_move(self) -> int | None:
        """Seat 0 when both have as many marks, else seat 1; None when the game is over."""
        if self.forfeited is not None or rules.winner(self.board) is not None:
            return None
        return 0 if self.board.count(self.first) == self.board.count(rules.other(self.first)) else 1

    def legal_actions(self) -> tuple[str, ...]:
        """The free cells, ``"1"``..``"9"`` (empty when the game is over)."""
        return legal_action_strings(self.board)

    def play(self, action: str) -> None:
        """Put the mark of the seat to move on cell ``action``."""
        seat = self.to_move()
        cell = ACTION_TO_CELL.get(action) if isinstance(action, str) else None
        if seat is None:
            raise ValueError("the game is over")
        if cell is None or self.board[cell] != rules.EMPTY:
            raise ValueError(f"{action!r} is not a free cell of {self.board!r}")
        mark = self.mark_of(seat)
        self.board = self.board[:cell] + mark + self.board[cell + 1 :]
        self.last_move, self.moves = cell, self.moves + 1

    def play_cell(self, cell: int) -> None:
        """:meth:`play` by cell index (0..8)."""
        self.play(CELL_ACTIONS[cell] if 0 <= cell < 9 else str(cell))

    def forfeit(self, reason: str) -> None:
        """The seat to move loses: it answered what is not a free cell (``reason``)."""
        seat = self.to_move()
        if seat is None:
            raise ValueError("the game is over")
        self.forfeited = (seat, reason)

    def outcome(self, seat: int) -> str:
        """``"win"``, ``"draw"`` or ``"loss"`` for ``seat``; ``"none"`` while the game runs."""
        if self.forfeited is not None:
            return "loss" if self.forfeited[0] == seat else "win"
        w = rules.winner(self.board)
        if w is None:
            return "none"
        return "draw" if w == "draw" else ("win" if w == self.mark_of(seat) else "loss")

    def returns(self) -> tuple[float, ...]:
        """1 to the winner and -1 to the loser; 0 to both for a draw or while playing."""
        score = {"win": 1.0, "loss": -1.0, "draw": 0.0, "none": 0.0}
        return score[self.outcome(0)], score[self.outcome(1)]

    # ------------------------------------------------------------------ what a seat sees

    def observe(self, seat: int, invalid_reason: str | None = None, result: str = "") -> str:
        """The board from ``seat``'s side in the game's style; ``result`` overrides the
        outcome shown (the single-agent env ends a game on an invalid answer)."""
        mark = self.mark_of(seat)
        result = result or self.outcome(seat)
        if invalid_reason is None and self.forfeited is not None and self.forfeited[0] == seat:
            invalid_reason = self.forfeited[1]
        if self.observation_style == "compact":
            return compact_text(self.board, mark, invalid_reason, result)
        if self.observation_style == "letters":
            return letters_text(self.board, mark, invalid_reason, result)
        opponent_move = None
        if self.last_move is not None and self.board[self.last_move] != mark:
            opponent_move = self.last_move
        first_turn = self.moves == 0 and self.board == rules.EMPTY_BOARD
        return full_text(self.board, mark, opponent_move, first_turn, invalid_reason, result)

    def explain_illegal(self, text: str) -> str:
        """Why ``text`` is not a legal move on this board."""
        action = text.strip() if isinstance(text, str) else ""
        cell = ACTION_TO_CELL.get(action)
        if cell is not None and self.board[cell] != rules.EMPTY:
            return f"cell {action} is taken"
        return f"{action[:20]!r} is not a free cell"

    def state_key(self) -> int:
        """The board (:func:`board_code`)."""
        return board_code(self.board)


__all__ = ["TicTacToeGame", "board_code"]
