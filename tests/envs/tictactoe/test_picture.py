"""The board as a picture: ``draw_board``, ``render_mode="rgb_array"`` and RecordVideo."""

from __future__ import annotations

import hashlib

import gymnasium as gym
import numpy as np
import pytest

import textgym  # noqa: F401
from textgym.envs.tictactoe.picture import (
    BACKGROUND,
    GRID,
    LAST_MOVE,
    O_COLOUR,
    X_COLOUR,
    draw_board,
)


def _pixel(image: np.ndarray, cell: int, dx: float, dy: float) -> tuple[int, ...]:
    """The colour at (dx, dy) inside ``cell`` (0-1 from its top left corner)."""
    size = image.shape[0] / 3
    y = int((cell // 3 + dy) * size)
    x = int((cell % 3 + dx) * size)
    return tuple(int(v) for v in image[y, x])


def test_marks_grid_and_last_move_are_where_the_board_says() -> None:
    image = draw_board("XO......X", last_move=8)
    assert image.shape == (192, 192, 3) and image.dtype == np.uint8
    assert _pixel(image, 0, 0.5, 0.5) == X_COLOUR  # the crossing of the X
    assert _pixel(image, 1, 0.5, 0.5) == BACKGROUND  # the hole of the O
    assert _pixel(image, 1, 0.5, 0.2) == O_COLOUR  # its ring
    assert _pixel(image, 4, 0.5, 0.5) == BACKGROUND  # an empty cell
    assert _pixel(image, 8, 0.5, 0.5) == X_COLOUR
    assert _pixel(image, 8, 0.1, 0.5) == LAST_MOVE  # the last move's cell is shaded
    assert tuple(int(v) for v in image[64, 10]) == GRID


def test_the_same_board_gives_the_same_bytes() -> None:
    def digest(board: str) -> str:
        return hashlib.sha256(draw_board(board, last_move=4).tobytes()).hexdigest()

    assert digest("X...O....") == digest("X...O....")
    assert digest("X...O....") != digest("O...X....")


@pytest.mark.parametrize(
    ("args", "needle"),
    [(("XX",), "9 characters"), (("XXXXXXXXZ",), "9 characters"), ((".........", 8), ">= 48")],
)
def test_bad_boards_are_refused(args, needle) -> None:
    with pytest.raises(ValueError, match=needle):
        draw_board(*args)
    with pytest.raises(ValueError, match="last_move"):
        draw_board(".........", last_move=9)


@pytest.mark.parametrize("env_id", ["TextTicTacToe-v0", "TextTicTacToe-LLM-Letters-v0"])
def test_rgb_array_renders_the_env_board(env_id) -> None:
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=3)
    game = env.unwrapped.game
    assert np.array_equal(env.render(), draw_board(game.board, last_move=game.last_move))
    env.close()


def test_record_video_films_an_episode(tmp_path) -> None:
    """One frame per render: the reset and each step, at the env's 1 frame a second."""
    pytest.importorskip("moviepy")
    from gymnasium.wrappers import RecordVideo
    from moviepy import VideoFileClip

    env = RecordVideo(
        gym.make("TextTicTacToe-v0", render_mode="rgb_array"),
        str(tmp_path / "videos"),
        episode_trigger=lambda episode: True,
        name_prefix="game",
        disable_logger=True,
    )
    _, info = env.reset(seed=0)
    steps = 0
    while True:
        _, _, terminated, truncated, info = env.step(info["legal_actions"][0])
        steps += 1
        if terminated or truncated:
            break
    env.close()
    (video,) = (tmp_path / "videos").glob("game-episode-0.mp4")
    clip = VideoFileClip(str(video))
    try:
        assert clip.size == [192, 192] and clip.n_frames == steps + 1
        first = clip.get_frame(0)
        assert first.shape == (192, 192, 3)
    finally:
        clip.close()
