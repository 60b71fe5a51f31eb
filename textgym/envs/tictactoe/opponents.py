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


class NoisyMinimaxOpponent:
    """The skill knob: with probability ``random_move_prob`` a random legal move, else minimax.

    ``random_move_prob=0`` is perfect play and ``1`` is uniformly random play. Every call
    draws exactly one uniform number before choosing, whatever the outcome.
    """

    def __init__(self, random_move_prob: float) -> None:
        p = float(random_move_prob)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"random_move_prob must be in [0, 1], got {random_move_prob!r}")
        self.random_move_prob = p

    def act(self, board: Board, rng: np.random.Generator, first: Mark = "X") -> int:
        """Return a random legal cell with probability p, else a random optimal cell."""
        if rng.random() < self.random_move_prob:
            return _pick(legal_moves(board), rng)
        return _pick(optimal_moves(board, first), rng)

    def __repr__(self) -> str:
        return f"NoisyMinimaxOpponent(random_move_prob={self.random_move_prob})"


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
