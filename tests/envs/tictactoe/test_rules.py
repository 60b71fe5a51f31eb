"""The rules agree with an independent brute-force implementation written here."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textgym.envs.tictactoe import rules


def brute_winner(cells: list[list[str]]) -> str | None:
    """Independent reference: enumerate every row, column and diagonal explicitly."""
    candidates = [row[:] for row in cells]
    candidates += [[cells[r][c] for r in range(3)] for c in range(3)]
    candidates.append([cells[i][i] for i in range(3)])
    candidates.append([cells[i][2 - i] for i in range(3)])
    for line in candidates:
        if line[0] in ("X", "O") and line.count(line[0]) == 3:
            return line[0]
    if all(c in ("X", "O") for row in cells for c in row):
        return "draw"
    return None


def to_grid(board: str) -> list[list[str]]:
    return [list(board[r * 3 : r * 3 + 3]) for r in range(3)]


boards = st.text(alphabet="XO.", min_size=9, max_size=9)


def brute_line_owners(cells: list[list[str]]) -> set[str]:
    """Every mark that owns a complete line (both can, on unreachable boards)."""
    owners = set()
    for mark in ("X", "O"):
        flipped = [[c if c == mark else "." for c in row] for row in cells]
        if brute_winner(flipped) == mark:
            owners.add(mark)
    return owners


@given(boards)
def test_winner_matches_brute_force(board: str) -> None:
    owners = brute_line_owners(to_grid(board))
    got = rules.winner(board)
    if owners:
        assert got in owners
    else:
        assert got == brute_winner(to_grid(board))


@given(st.lists(st.integers(0, 8), max_size=12), st.sampled_from(["X", "O"]))
def test_random_games_match_brute_force(choices: list[int], first: str) -> None:
    board = rules.EMPTY_BOARD
    grid = to_grid(board)
    mark = first
    for choice in choices:
        free = [i for i in range(9) if grid[i // 3][i % 3] == "."]
        over = brute_winner(grid) is not None
        assert rules.legal_moves(board) == (() if over else tuple(free))
        assert rules.is_over(board) == over
        if over:
            with pytest.raises(ValueError):
                rules.apply_move(board, free[0] if free else 0, mark)  # type: ignore[arg-type]
            break
        assert rules.to_move(board, first) == mark  # type: ignore[arg-type]
        cell = free[choice % len(free)]
        board = rules.apply_move(board, cell, mark)  # type: ignore[arg-type]
        grid[cell // 3][cell % 3] = mark
        assert board == "".join("".join(r) for r in grid)
        assert rules.winner(board) == brute_winner(grid)
        mark = "O" if mark == "X" else "X"


def test_apply_move_rejects_taken_and_out_of_range_cells() -> None:
    board = rules.apply_move(rules.EMPTY_BOARD, 4, "X")
    with pytest.raises(ValueError, match="cell 5 is taken"):
        rules.apply_move(board, 4, "O")
    with pytest.raises(ValueError, match=r"0\.\.8"):
        rules.apply_move(board, 9, "O")


def test_render_numbers_free_cells() -> None:
    board = "X...O...."
    text = rules.render(board)
    assert text.splitlines() == [
        " X | 2 | 3",
        "---+---+---",
        " 4 | O | 6",
        "---+---+---",
        " 7 | 8 | 9",
    ]
    assert "2" not in rules.render(board, numbered=False)


@given(boards)
def test_swap_marks_is_an_involution_that_swaps_winners(board: str) -> None:
    swapped = rules.swap_marks(board)
    assert rules.swap_marks(swapped) == board
    w = rules.winner(board)
    if w in (None, "draw") and rules.winner(swapped) in (None, "draw"):
        assert rules.winner(swapped) == w
