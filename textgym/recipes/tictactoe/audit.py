"""Board audit: a policy's move on every position of tic-tac-toe it could ever face.

Win/draw/loss tables measure a player on the games it happens to reach. The audit asks
how much of the game it knows: every reachable position where the game is not over, with
the player to move holding X or O and either mark having moved first (9,040 positions),
is set up with the env's ``board`` reset option, shown to the policy exactly as the env
shows it, and the answer is stepped through the env's own wrappers. A move is *optimal*
when it keeps the position's game-theoretic value (:mod:`textgym.envs.tictactoe.solver`).

A perfect player scores 100 % optimal; a student that imitated a teacher's games but
plays well only on the lines it saw scores far less, whatever its win rate.

:func:`audit_perfect_lines` asks the narrower question that decides games against the
perfect opponent: it plays the policy against *every* line of perfect play (each seat,
each optimal reply) and returns the exact outcome probabilities against
:class:`~textgym.envs.tictactoe.opponents.MinimaxOpponent`, with every position where the
policy leaves the game's value. For a deterministic policy (greedy decoding) "0 mistakes"
is a proof that it never loses to perfect play, which 200 sampled games are not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import gymnasium as gym

from textgym.core import Policy
from textgym.envs import check_env_id
from textgym.envs.tictactoe import rules, solver
from textgym.view import View, as_view
from textgym.wrappers.chat import ChatHistory


@dataclass
class PlyCounts:
    """Counts over the positions with one number of marks on the board."""

    positions: int = 0
    legal: int = 0
    optimal: int = 0


@dataclass
class BoardAudit:
    """What a policy answered on every audited position."""

    positions: int = 0
    well_formed: int = 0
    """Answers in the env's required format."""
    legal: int = 0
    """Answers that were a legal move."""
    optimal: int = 0
    """Legal moves that keep the position's game-theoretic value."""
    by_ply: dict[int, PlyCounts] = field(default_factory=dict)
    """The same counts by number of marks on the board (0 to 8)."""
    mistakes: list[tuple[str, str, str]] = field(default_factory=list)
    """(board, mark to move, answer) of the first non-optimal answers, for a look."""

    def rate(self, what: str) -> float:
        """``legal``, ``optimal`` or ``well_formed`` answers in % of the positions."""
        if what not in ("legal", "optimal", "well_formed"):
            raise ValueError(f"what must be legal, optimal or well_formed, got {what!r}")
        return 100.0 * getattr(self, what) / max(self.positions, 1)


def reachable_positions() -> list[tuple[str, rules.Mark]]:
    """Every (board, mark to move) of a game not yet over, X or O having moved first."""
    out: list[tuple[str, rules.Mark]] = []
    for board, state in sorted(solver.solve().items()):
        if not state.optimal_moves:
            continue
        mover = rules.to_move(board)
        out.append((board, mover))
        out.append((rules.swap_marks(board), rules.other(mover)))
    return out


def audit_policy(
    policy: Policy,
    view: View | str = "TextTicTacToe-LLM-v0",
    *,
    positions: Sequence[tuple[str, rules.Mark]] | None = None,
    batch_size: int = 512,
    keep_mistakes: int = 20,
) -> BoardAudit:
    """Ask ``policy`` for a move on each position and score the answers.

    Args:
        policy: answers batches of conversations (``[system?, user(observation)]``).
        view: a tic-tac-toe env id, or a view of one (its system prompt is used; each
            position is a first turn, so its history does not matter); the env's
            wrappers parse the answers (format, legality).
        positions: (board, mark to move) pairs; default :func:`reachable_positions`.
        batch_size: positions asked per policy call.
        keep_mistakes: how many non-optimal answers to keep in ``mistakes``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    view = as_view(view)
    check_env_id(view.env_id)
    todo = list(reachable_positions() if positions is None else positions)
    envs = [
        ChatHistory(gym.make(view.env_id), system_prompt=view.system_prompt)
        for _ in range(min(batch_size, len(todo)))
    ]
    audit = BoardAudit()
    try:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            conversations = []
            for env, (board, mark) in zip(envs, chunk, strict=False):
                _, info = env.reset(seed=0, options={"board": board, "agent_mark": mark})
                conversations.append(info["messages"])
            answers = policy.complete(conversations)
            for env, (board, mark), answer in zip(envs, chunk, answers, strict=False):
                _, _, _, _, info = env.step(answer.text)
                _score(audit, board, mark, answer.text, info, keep_mistakes)
    finally:
        for env in envs:
            env.close()
    return audit


def _score(
    audit: BoardAudit, board: str, mark: rules.Mark, text: str, info: dict, keep: int
) -> None:
    ply = audit.by_ply.setdefault(9 - board.count(rules.EMPTY), PlyCounts())
    audit.positions += 1
    ply.positions += 1
    audit.well_formed += bool(info.get("format_ok", True))
    played = _played_cell(board, info["board"], mark)
    if info.get("invalid_action") or played is None:
        _remember(audit, board, mark, text, keep)
        return
    audit.legal += 1
    ply.legal += 1
    first = mark if board.count("X") == board.count("O") else rules.other(mark)
    if played in solver.optimal_moves(board, first):
        audit.optimal += 1
        ply.optimal += 1
    else:
        _remember(audit, board, mark, text, keep)


def _played_cell(board: str, after: str, mark: str) -> int | None:
    """The one cell ``mark`` took between ``board`` and ``after``, or None."""
    played = [i for i in range(9) if board[i] == rules.EMPTY and after[i] == mark]
    return played[0] if len(played) == 1 else None


def _remember(audit: BoardAudit, board: str, mark: str, text: str, keep: int) -> None:
    if len(audit.mistakes) < keep:
        audit.mistakes.append((board, mark, text))


class _NeedReply(Exception):
    """Raised by :class:`_ScriptedLine` when the opponent must choose a move it was not given."""

    def __init__(self, board: str, first: rules.Mark) -> None:
        super().__init__(board)
        self.board = board
        self.first = first


class _ScriptedLine:
    """An opponent replaying given cells; asked for one more, it raises :class:`_NeedReply`."""

    def __init__(self, cells: tuple[int, ...]) -> None:
        self.cells = cells
        self.played = 0

    def act(self, board: str, rng: Any, first: rules.Mark = "X") -> int:
        if self.played == len(self.cells):
            raise _NeedReply(board, first)
        self.played += 1
        return self.cells[self.played - 1]


@dataclass(frozen=True)
class _Line:
    """A game so far: the seat, the opponent's cells and the policy's answers."""

    mark: rules.Mark
    agent_first: bool
    cells: tuple[int, ...]
    answers: tuple[str, ...]
    probability: float


@dataclass
class PerfectLinesAudit:
    """A policy against every line of perfect play: exact outcomes and its mistakes."""

    positions: int = 0
    """Distinct conversations the policy answered (lines that meet the same position with
    the same conversation share one answer)."""
    win: float = 0.0
    """Probability of winning against the perfect opponent (0 for a sound policy)."""
    draw: float = 0.0
    """Probability of a draw."""
    loss: float = 0.0
    """Probability of losing (forfeits by invalid answers included)."""
    mistakes: list[tuple[str, str, str, float]] = field(default_factory=list)
    """(board, mark to move, answer, probability of reaching it) for every answer that was
    not an optimal move, most probable first."""


def audit_perfect_lines(
    policy: Policy,
    view: View | str = "TextTicTacToe-LLM-v0",
    *,
    max_turns: int = 64,
) -> PerfectLinesAudit:
    """Play ``policy`` against every line of the perfect opponent; return exact outcomes.

    The env's ``random_move_prob=0`` opponent picks uniformly among all optimal moves and
    the seat (mark, who moves first) is one of four, each with probability 1/4. This
    follows every such branch instead of sampling it: each line is replayed through the
    env's own wrappers with an opponent that plays the line's cells, so the policy sees
    exactly the conversation of a real game under ``view`` (as in
    :func:`textgym.rollout.rollout`), retries after invalid answers included. The policy
    answers each distinct conversation once, so the result is exact for a deterministic
    policy (greedy decoding) and one sample of its answers otherwise.

    Args:
        policy: answers batches of conversations.
        view: a tic-tac-toe env id (its default view: the whole conversation) or a view
            of one (its observation style and wrappers are used).
        max_turns: answers per game before a line is given up (counted as a loss).
    """
    view = as_view(view)
    check_env_id(view.env_id)
    if max_turns < 1:
        raise ValueError(f"max_turns must be >= 1, got {max_turns}")
    audit = PerfectLinesAudit()
    known: dict[tuple[tuple[str, str], ...], str] = {}  # conversation -> the policy's answer
    pending = [_Line(mark, first, (), (), 0.25) for mark in rules.MARKS for first in (True, False)]
    while pending:
        ready = _replay_to_the_policy(pending, view, audit)
        views = [view.visible(env.messages) for _, env, _ in ready]
        keys = [tuple((m["role"], m["content"]) for m in view) for view in views]
        new = {k: v for k, v in zip(keys, views, strict=True) if k not in known}
        answers = policy.complete(list(new.values()))
        if len(answers) != len(new):
            raise RuntimeError(f"policy returned {len(answers)} answers for {len(new)}")
        known.update(zip(new, (a.text for a in answers), strict=True))
        audit.positions += len(new)
        for (line, env, board), key in zip(ready, keys, strict=True):
            answer = known[key]
            first = line.mark if line.agent_first else rules.other(line.mark)
            going_on = replace(line, answers=(*line.answers, answer))
            try:
                _, _, terminated, truncated, info = env.step(answer)
            except _NeedReply as need:  # a legal move and the game goes on
                _check_move(audit, board, need.board, first, answer, line)
                pending.append(going_on)
                continue
            finally:
                env.close()
            _check_move(audit, board, info["board"], first, answer, line)
            if terminated or truncated or len(going_on.answers) >= max_turns:
                _tally(audit, info.get("result") if terminated else "loss", line.probability)
            else:  # an invalid answer the env lets the policy retry
                pending.append(going_on)
    _merge_transpositions(audit)
    return audit


def _replay_to_the_policy(
    pending: list[_Line], view: View, audit: PerfectLinesAudit
) -> list[tuple[_Line, ChatHistory, str]]:
    """Replay every pending line up to the policy's turn, branching on each opponent reply
    (into ``pending``, which ends empty); games the opponent ended are tallied."""
    ready: list[tuple[_Line, ChatHistory, str]] = []
    while pending:
        line = pending.pop()
        env = ChatHistory(
            gym.make(view.env_id, opponent=_ScriptedLine(line.cells)),
            system_prompt=view.system_prompt,
        )
        try:
            _, info = env.reset(
                seed=0, options={"agent_mark": line.mark, "agent_first": line.agent_first}
            )
            over = False
            for answer in line.answers:
                _, _, over, _, info = env.step(answer)
        except _NeedReply as need:
            env.close()
            replies = solver.optimal_moves(need.board, need.first)
            share = line.probability / len(replies)
            pending.extend(
                replace(line, cells=(*line.cells, c), probability=share) for c in replies
            )
            continue
        if over:  # the opponent's reply ended the game
            env.close()
            _tally(audit, info.get("result"), line.probability)
            continue
        ready.append((line, env, info["board"]))
    return ready


def _merge_transpositions(audit: PerfectLinesAudit) -> None:
    """One mistake entry per (board, mark, answer), its probabilities added."""
    merged: dict[tuple[str, str, str], float] = {}
    for board, mark, text, probability in audit.mistakes:
        merged[board, mark, text] = merged.get((board, mark, text), 0.0) + probability
    audit.mistakes = sorted(
        ((*key, probability) for key, probability in merged.items()),
        key=lambda m: (-m[3], m[0], m[1]),
    )


def _tally(audit: PerfectLinesAudit, result: str | None, probability: float) -> None:
    """Add a finished line to the outcome it ended with (anything but a win or draw loses)."""
    result = result if result in ("win", "draw") else "loss"
    setattr(audit, result, getattr(audit, result) + probability)


def _check_move(
    audit: PerfectLinesAudit, board: str, after: str, first: rules.Mark, text: str, line: _Line
) -> None:
    """Record the answer as a mistake unless it played one optimal move (invalid: a mistake)."""
    played = _played_cell(board, after, line.mark)
    if played is None or played not in solver.optimal_moves(board, first):
        audit.mistakes.append((board, line.mark, text, line.probability))


__all__ = [
    "BoardAudit",
    "PerfectLinesAudit",
    "PlyCounts",
    "audit_perfect_lines",
    "audit_policy",
    "reachable_positions",
]
