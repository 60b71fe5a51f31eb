"""Tic-tac-toe opponents: bots that receive the board and an injected random generator.

Every opponent implements :class:`Opponent`: ``act(board, rng, first="X") -> cell`` where
``cell`` is 0..8 and ``first`` says which mark opened the game (so the bot knows whose turn
it is). Opponents hold no random state of their own; all randomness comes from ``rng``,
which the environment owns and seeds.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from textgym.envs.tictactoe.rules import Board, Mark, legal_moves
from textgym.envs.tictactoe.solver import optimal_moves


@runtime_checkable
class Opponent(Protocol):
    """A tic-tac-toe bot."""

    def act(self, board: Board, rng: np.random.Generator, first: Mark = "X") -> int:
        """Return the cell (0..8) to play on ``board`` for the player to move."""
        ...


def _pick(moves: tuple[int, ...], rng: np.random.Generator) -> int:
    """A uniformly random element of ``moves`` (one ``rng.random()`` draw, none for one move)."""
    n = len(moves)
    if n == 1:
        return moves[0]
    if n == 0:
        raise ValueError("no legal move: the game is over")
    return moves[int(rng.random() * n)]


class RandomOpponent:
    """Plays a uniformly random legal move."""

    def act(self, board: Board, rng: np.random.Generator, first: Mark = "X") -> int:
        """Return a uniformly random empty cell."""
        return _pick(legal_moves(board), rng)

    def __repr__(self) -> str:
        return "RandomOpponent()"


class MinimaxOpponent:
    """Perfect play: a uniformly random choice among *all* game-theoretically optimal moves.

    There is no fixed preference order and no forced opening, so a learner cannot win by
    memorizing one line of play.
    """

    def act(self, board: Board, rng: np.random.Generator, first: Mark = "X") -> int:
        """Return a uniformly random optimal cell."""
        return _pick(optimal_moves(board, first), rng)

    def __repr__(self) -> str:
        return "MinimaxOpponent()"


#: A habit: among equally good moves prefer the centre, then the corners, then the edges.
CENTRE_CORNERS_EDGES: tuple[int, ...] = (4, 0, 2, 6, 8, 1, 3, 5, 7)


class NoisyMinimaxOpponent:
    """The skill knob: with probability ``random_move_prob`` a random legal move, else minimax.

    ``random_move_prob=0`` is perfect play and ``1`` is uniformly random play. Every call
    draws exactly one uniform number before choosing, whatever the outcome. With a
    ``preference`` (a permutation of the cells), the optimal move is the first optimal cell
    in that order instead of a random one: a player with habits, whose games are much
    easier to imitate (the scripted teacher uses one).
    """

    def __init__(self, random_move_prob: float, preference: tuple[int, ...] | None = None) -> None:
        p = float(random_move_prob)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"random_move_prob must be in [0, 1], got {random_move_prob!r}")
        if preference is not None and sorted(preference) != list(range(9)):
            raise ValueError(f"preference must be a permutation of 0..8, got {preference!r}")
        self.random_move_prob = p
        self.preference = None if preference is None else tuple(preference)

    def act(self, board: Board, rng: np.random.Generator, first: Mark = "X") -> int:
        """Return a random legal cell with probability p, else an optimal cell."""
        if rng.random() < self.random_move_prob:
            return _pick(legal_moves(board), rng)
        moves = optimal_moves(board, first)
        if self.preference is not None and moves:
            return min(moves, key=self.preference.index)
        return _pick(moves, rng)

    def __repr__(self) -> str:
        habit = "" if self.preference is None else f", preference={self.preference}"
        return f"NoisyMinimaxOpponent(random_move_prob={self.random_move_prob}{habit})"


def make_opponent(random_move_prob: float) -> Opponent:
    """The opponent of a given skill: minimax at 0, random at 1, noisy minimax in between."""
    p = float(random_move_prob)
    if p != p or not 0.0 <= p <= 1.0:
        raise ValueError(f"random_move_prob must be in [0, 1], got {random_move_prob!r}")
    if p == 0.0:
        return MinimaxOpponent()
    if p == 1.0:
        return RandomOpponent()
    return NoisyMinimaxOpponent(p)
