"""Scripted tic-tac-toe players behind the policy protocol: random, perfect, teacher.

They read the board from the last user message (the same text a model sees), choose a cell
with a bot from :mod:`textgym.envs.tictactoe.opponents`, and answer in a template such as
``<move>{}</move>``. A conversation without a readable board gets an empty answer (an
invalid move), never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from textgym.core import Completion, Conversation
from textgym.envs.tictactoe import rules
from textgym.envs.tictactoe.opponents import (
    CENTRE_CORNERS_EDGES,
    MinimaxOpponent,
    NoisyMinimaxOpponent,
    Opponent,
    RandomOpponent,
)
from textgym.envs.tictactoe.solver import optimal_moves

_MARK = re.compile(r"You play ([XO]);")
_ROW = re.compile(r"^ (\S) \| (\S) \| (\S)$", re.MULTILINE)
_COMPACT = re.compile(r"^([XO]) ([1-9XO]{3})/([1-9XO]{3})/([1-9XO]{3})\b", re.MULTILINE)
_LETTERS = re.compile(
    r"^([XO]) ([1-9a-iA-I]{3})/([1-9a-iA-I]{3})/([1-9a-iA-I]{3})(?![/\w])", re.MULTILINE
)


def read_board(observation: str) -> tuple[str, rules.Mark] | None:
    """Recover (board, the player's mark) from a TextTicTacToe observation, or None.

    Every observation style is read: the drawn grid, the compact line and the letters line.
    """
    compact = _COMPACT.findall(observation)
    if compact:
        mark, *rows = compact[-1]
        cells = [c if c in "XO" else rules.EMPTY for c in "".join(rows)]
        return "".join(cells), mark
    letters = _LETTERS.findall(observation)
    if letters:
        mark, *rows = letters[-1]
        other = rules.other(mark)
        cells = [
            mark if c.islower() else other if c.isupper() else rules.EMPTY for c in "".join(rows)
        ]
        return "".join(cells), mark  # type: ignore[return-value]
    mark = _MARK.search(observation)
    rows = _ROW.findall(observation)
    if mark is None or len(rows) < 3:
        return None
    cells = [c if c in "XO" else rules.EMPTY for row in rows[-3:] for c in row]
    return "".join(cells), mark.group(1)  # type: ignore[return-value]


class ScriptedPolicy:
    """A bot playing through the policy protocol (no tokens, no log-probs)."""

    def __init__(self, bot: Opponent, template: str = "<move>{}</move>", seed: int = 0) -> None:
        if "{}" not in template:
            raise ValueError(f"template must contain '{{}}' for the cell, got {template!r}")
        self.bot = bot
        self.template = template
        self.rng = np.random.default_rng(seed)

    def complete(self, conversations: Sequence[Conversation]) -> list[Completion]:
        """Answer each conversation's last user message with the bot's move."""
        out = []
        for conversation in conversations:
            users = [m["content"] for m in conversation if m.get("role") == "user"]
            state = read_board(users[-1]) if users else None
            text = ""
            if state is not None:
                board, mark = state
                if rules.legal_moves(board):
                    first = mark if board.count("X") == board.count("O") else rules.other(mark)
                    try:
                        cell = self.bot.act(board, self.rng, first)
                        text = self.template.format(cell + 1)
                    except (KeyError, ValueError):
                        text = ""
            out.append(Completion(text=text, finish_reason="scripted"))
        return out


def random_policy(template: str = "<move>{}</move>", seed: int = 0) -> ScriptedPolicy:
    """Plays a uniformly random legal move."""
    return ScriptedPolicy(RandomOpponent(), template, seed)


def perfect_policy(template: str = "<move>{}</move>", seed: int = 0) -> ScriptedPolicy:
    """Plays a uniformly random optimal move (never loses)."""
    return ScriptedPolicy(MinimaxOpponent(), template, seed)


def teacher_policy(
    q: float,
    template: str = "<move>{}</move>",
    seed: int = 0,
    preference: tuple[int, ...] | None = CENTRE_CORNERS_EDGES,
) -> ScriptedPolicy:
    """The imperfect teacher: an optimal move with probability ``q``, else a random one.

    Among optimal moves it has a habit (``preference``: centre, corners, edges), as a human
    teacher would; ``preference=None`` picks uniformly. The habit makes its games much
    easier to imitate for a small student: on the same boards, a tiny model trained on
    the habitual teacher put 89 % of its probability on legal moves after 900 SFT steps,
    against 71 % with uniform tie-breaking.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"teacher quality q must be in [0, 1], got {q!r}")
    return ScriptedPolicy(NoisyMinimaxOpponent(1.0 - q, preference), template, seed)


_RANDOM = RandomOpponent()


class TicTacToeReference:
    """The reference player of the tic-tac-toe envs: the optimal move its habit prefers
    (centre, corners, edges: deterministic); its mistake is a uniformly random legal move
    (which may also be optimal). ``reference:Q`` is then the teacher ``teacher:Q``."""

    @staticmethod
    def _position(conversation: Conversation) -> tuple[str, rules.Mark, rules.Mark]:
        users = [m["content"] for m in conversation if m.get("role") == "user"]
        state = read_board(users[-1]) if users else None
        if state is None or not rules.legal_moves(state[0]):
            raise ValueError("no board with a legal move in the latest observation")
        board, mark = state
        first = mark if board.count("X") == board.count("O") else rules.other(mark)
        return board, mark, first

    def answer(self, conversation: Conversation) -> str:
        """The habitual optimal cell, as a bare cell number."""
        board, _, first = self._position(conversation)
        moves = optimal_moves(board, first)
        return str(min(moves, key=CENTRE_CORNERS_EDGES.index) + 1)

    def mistake(self, conversation: Conversation, rng: np.random.Generator) -> str:
        """A uniformly random legal cell."""
        board, _, first = self._position(conversation)
        return str(_RANDOM.act(board, rng, first) + 1)


def _quality(spec: str, argument: str | None) -> float:
    try:
        q = float(argument) if argument is not None else float("nan")
    except ValueError:
        q = float("nan")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"teacher:Q needs Q in [0, 1], got {spec!r}")
    return q


def named_players() -> dict[str, Callable[[str | None, int], ScriptedPolicy]]:
    """The tic-tac-toe names for policies: ``minimax``, ``random`` and ``teacher:Q`` (their
    answers are bare cell numbers: :func:`textgym.policies.by_name.make_policy` puts them
    in the env's answer format)."""
    return {
        "minimax": lambda arg, seed: perfect_policy("{}", seed),
        "random": lambda arg, seed: random_policy("{}", seed),
        "teacher:Q": lambda arg, seed: teacher_policy(_quality(f"teacher:{arg}", arg), "{}", seed),
    }
