"""``BoardObservation``: the classical-RL view of tic-tac-toe (numeric board, Discrete(9))."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from textgym.envs.tictactoe.text import CELL_ACTIONS


def encode_board(board: str, mark: str) -> np.ndarray:
    """The board from the player's side: 0 empty, 1 own mark, 2 opponent's mark (int8, (9,))."""
    return np.fromiter(
        (0 if c == "." else (1 if c == mark else 2) for c in board), dtype=np.int8, count=9
    )


class BoardObservation(gym.Wrapper[np.ndarray, np.int64, str, str]):
    """Expose a tic-tac-toe text env to classical RL: array observations, ``Discrete(9)`` moves.

    Observations are ``Box(0, 2, (9,), int8)`` from the player's side (0 empty, 1 own mark,
    2 opponent's), actions are cells 0..8, and ``info["action_mask"]`` marks the free cells;
    :meth:`action_masks` returns the same mask as booleans (the sb3-contrib convention, so
    ``MaskablePPO("MlpPolicy", env)`` trains on it as it is).
    The game, the opponents and their seeding are exactly those of the wrapped env; an
    occupied cell is an invalid move as in the text env (a loss, or a penalty when
    :class:`InvalidMovePenalty` is inside). Stock tabular or deep RL code runs on it.
    """

    def __init__(self, env: gym.Env[str, str]) -> None:
        super().__init__(env)
        self.observation_space = spaces.Box(0, 2, shape=(9,), dtype=np.int8)
        self.action_space = spaces.Discrete(9)
        self._mask = np.zeros(9, dtype=bool)

    def action_masks(self) -> np.ndarray:
        """The cells the player may take now (bool, (9,)); all False once the game is over."""
        return self._mask.copy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset and return the encoded board."""
        _, info = self.env.reset(seed=seed, options=options)
        if "board" not in info or "agent_mark" not in info:
            raise ValueError(
                f"BoardObservation needs info['board'] and info['agent_mark'], {self.env} "
                "does not report them (wrap a TextTicTacToe env)"
            )
        obs, info = self._encode(info)
        self._mask = info["action_mask"].astype(bool)
        return obs, info

    def step(self, action: int | np.integer) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Play cell ``action`` (0..8)."""
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise TypeError(f"action must be an int cell 0..8, got {type(action).__name__}")
        if not 0 <= int(action) < 9:
            raise ValueError(f"action must be a cell 0..8, got {action!r}")
        _, reward, terminated, truncated, info = self.env.step(CELL_ACTIONS[int(action)])
        obs, info = self._encode(info)
        self._mask = info["action_mask"].astype(bool) & (not (terminated or truncated))
        return obs, reward, terminated, truncated, info

    @staticmethod
    def _encode(info: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        mask = np.zeros(9, dtype=np.int8)
        for a in info.get("legal_actions", ()):
            mask[int(a) - 1] = 1
        return encode_board(info["board"], info["agent_mark"]), {**info, "action_mask": mask}
