"""Tic-tac-toe: pure rules, an exact solver, opponents, and the text environment."""

from textgym.envs.tictactoe.env import TextTicTacToeEnv
from textgym.envs.tictactoe.opponents import (
    MinimaxOpponent,
    NoisyMinimaxOpponent,
    Opponent,
    RandomOpponent,
    make_opponent,
)

__all__ = [
    "MinimaxOpponent",
    "NoisyMinimaxOpponent",
    "Opponent",
    "RandomOpponent",
    "TextTicTacToeEnv",
    "make_opponent",
]
