"""A tic-tac-toe board as a picture: an RGB ``uint8`` array, drawn with numpy alone.

:func:`draw_board` is what ``render_mode="rgb_array"`` returns (so that
``gymnasium.wrappers.RecordVideo`` can film a game) and what the episode viewer shows. It
is deterministic: the same board gives the same bytes, on any machine.
"""

from __future__ import annotations

import numpy as np

from textgym.envs.tictactoe.rules import EMPTY

#: Colours (RGB): background, grid, X, O, and the last move's cell.
BACKGROUND = (250, 250, 247)
GRID = (60, 60, 60)
X_COLOUR = (31, 119, 180)
O_COLOUR = (214, 39, 40)
LAST_MOVE = (255, 236, 170)


def draw_board(board: str, size: int = 192, last_move: int | None = None) -> np.ndarray:
    """The 9-character ``board`` (``X``, ``O``, ``.``, cells 0-8 row by row) drawn as a
    ``size`` x ``size`` x 3 ``uint8`` array; ``last_move`` (a cell) is shaded."""
    if not isinstance(board, str) or len(board) != 9 or set(board) - {"X", "O", EMPTY}:
        raise ValueError(f"board must be 9 characters of X, O and '.', got {board!r}")
    if not isinstance(size, int) or size < 48:
        raise ValueError(f"size must be a whole number of pixels >= 48, got {size!r}")
    if last_move is not None and not 0 <= last_move < 9:
        raise ValueError(f"last_move must be a cell 0-8 or None, got {last_move!r}")
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    cell = size / 3
    line = max(2, size // 64)
    # coordinates of each pixel centre inside its cell, from 0 to 1
    coords = (np.arange(size) + 0.5) / cell
    index, inside = np.minimum(coords.astype(int), 2), coords % 1.0
    rows, cols = index[:, None], index[None, :]
    ys, xs = inside[:, None], inside[None, :]
    pen = line / cell  # stroke half-width, in cell units
    for k, mark in enumerate(board):
        here = (rows == k // 3) & (cols == k % 3)
        if k == last_move:
            image[here] = LAST_MOVE
        if mark == "X":
            body = (np.abs(xs - 0.5) < 0.32) & (np.abs(ys - 0.5) < 0.32)
            strokes = (np.abs(xs - ys) < pen * 1.4) | (np.abs(xs + ys - 1.0) < pen * 1.4)
            image[here & body & strokes] = X_COLOUR
        elif mark == "O":
            radius = np.hypot(xs - 0.5, ys - 0.5)
            image[here & (np.abs(radius - 0.3) < pen)] = O_COLOUR
    for k in (1, 2):  # the grid: two lines each way
        at = round(k * cell)
        image[max(at - line // 2, 0) : at + (line + 1) // 2, :] = GRID
        image[:, max(at - line // 2, 0) : at + (line + 1) // 2] = GRID
    return image


__all__ = ["draw_board"]
