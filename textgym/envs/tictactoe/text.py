"""What a tic-tac-toe player reads: the rules, the action strings, and the three
observation styles (the drawn board, the compact line, the letters line), each a pure
function of what the player may see, memoized."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Literal

from textgym.envs.tictactoe import rules
from textgym.envs.tictactoe.rules import Board, Mark

#: Exact action strings for cells 0..8 (people and models number cells 1..9).
CELL_ACTIONS: tuple[str, ...] = tuple(str(i + 1) for i in range(9))
ACTION_TO_CELL: dict[str, int] = {a: i for i, a in enumerate(CELL_ACTIONS)}

RULES_PROMPT = (
    "You are playing tic-tac-toe on a 3x3 board against an opponent. "
    "Players take turns placing their mark (X or O) in a free cell; the first to get three "
    "marks in a row, column or diagonal wins, and a full board without a line is a draw. "
    "Cells are numbered 1 to 9, left to right and top to bottom; a free cell shows its "
    "number. Each turn you see the board and the legal moves."
)
SYSTEM_PROMPT = (
    RULES_PROMPT + " Answer with the number of the free cell you want to play, and nothing else."
)


@cache
def legal_action_strings(board: Board) -> tuple[str, ...]:
    return tuple(CELL_ACTIONS[c] for c in rules.legal_moves(board))


GAME_OVER = {
    "win": "Game over: you win.",
    "draw": "Game over: draw.",
    "loss": "Game over: you lose.",
}


@lru_cache(maxsize=1 << 16)
def full_text(
    board: Board,
    mark: Mark,
    opponent_move: int | None,
    first_turn: bool,
    invalid_reason: str | None,
    result: str,
) -> str:
    """The text the player sees: a pure function of the visible state, hence memoized."""
    lines = [f"You play {mark}; the opponent plays {rules.other(mark)}."]
    if opponent_move is not None:
        lines.append(f"The opponent played {opponent_move + 1}.")
    elif first_turn:
        lines.append("You move first.")
    lines += ["", rules.render(board), ""]
    if invalid_reason is not None:
        lines.append(f"Illegal move: {invalid_reason}. Game over: you lose.")
    elif result == "none":
        lines.append("Legal moves: " + ", ".join(legal_action_strings(board)))
        lines.append(f"Your move ({mark}):")
    else:
        lines.append(GAME_OVER[result])
    return "\n".join(lines)


@lru_cache(maxsize=1 << 16)
def compact_text(board: Board, mark: Mark, invalid_reason: str | None, result: str) -> str:
    """One line: the player's mark, the rows (free cells numbered) and the legal moves."""
    cells = "".join(c if c != rules.EMPTY else str(i + 1) for i, c in enumerate(board))
    return one_line(
        mark, cells, invalid_reason, result, f" legal {''.join(legal_action_strings(board))}"
    )


def one_line(
    mark: Mark, cells: str, invalid_reason: str | None, result: str, ongoing: str = ""
) -> str:
    """``mark r1/r2/r3`` then ``ongoing`` while the game runs, else how it ended."""
    head = f"{mark} {cells[0:3]}/{cells[3:6]}/{cells[6:9]}"
    if invalid_reason is not None:
        return f"{head} illegal: {invalid_reason}. loss"
    if result == "none":
        return head + ongoing
    return f"{head} {result}"


COMPACT_PROMPT = (
    " Each turn you see one line: your mark, the three rows from top to bottom separated by"
    " '/', free cells shown as their number, then the legal moves, e.g. 'X 1O3/4X6/78O legal"
    " 134678'."
)

#: The letters of cells 1-9 holding the player's own marks; the opponent's are upper case.
OWN_LETTERS = "abcdefghi"
OPPONENT_LETTERS = OWN_LETTERS.upper()


@lru_cache(maxsize=1 << 16)
def letters_text(board: Board, mark: Mark, invalid_reason: str | None, result: str) -> str:
    """One line: the player's mark, then one character per cell naming cell and owner."""
    other = rules.other(mark)
    cells = "".join(
        OWN_LETTERS[i] if c == mark else OPPONENT_LETTERS[i] if c == other else str(i + 1)
        for i, c in enumerate(board)
    )
    return one_line(mark, cells, invalid_reason, result)


LETTERS_PROMPT = (
    " Each turn you see one line: your mark, then the three rows from top to bottom separated"
    " by '/', one character per cell: a free cell is its number, a cell you hold is the"
    " letter a-i of its number (cell 1 is a, cell 9 is i), a cell the opponent holds is"
    " that letter in upper case, so the numbers left are the legal moves; e.g."
    " 'X 1B3/4e6/78I': you hold 5, the opponent 2 and 9."
)

ObservationStyle = Literal["full", "compact", "letters"]
