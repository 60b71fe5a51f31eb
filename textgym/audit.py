"""Board audit: a policy's move on every position of tic-tac-toe it could ever face.

Win/draw/loss tables measure a player on the games it happens to reach. The audit asks
how much of the game it knows: every reachable position where the game is not over, with
the player to move holding X or O and either mark having moved first (9,040 positions),
is set up with the env's ``board`` reset option, shown to the policy exactly as the env
shows it, and the answer is stepped through the env's own wrappers. A move is *optimal*
when it keeps the position's game-theoretic value (:mod:`textgym.envs.tictactoe.solver`).

A perfect player scores 100 % optimal; a student that imitated a teacher's games but
plays well only on the lines it saw scores far less, whatever its win rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import gymnasium as gym

import textgym  # noqa: F401  (registers the envs)
from textgym.envs.tictactoe import rules, solver
from textgym.policies.base import Policy
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
    env_id: str = "TextTicTacToe-LLM-v0",
    *,
    system_prompt: str | None = None,
    positions: Sequence[tuple[str, rules.Mark]] | None = None,
    batch_size: int = 512,
    keep_mistakes: int = 20,
) -> BoardAudit:
    """Ask ``policy`` for a move on each position and score the answers.

    Args:
        policy: answers batches of conversations (``[system?, user(observation)]``).
        env_id: a tic-tac-toe env id; its wrappers parse the answers (format, legality).
        system_prompt: replaces the env's system prompt, as in
            :func:`textgym.rollout.rollout`; None keeps it.
        positions: (board, mark to move) pairs; default :func:`reachable_positions`.
        batch_size: positions asked per policy call.
        keep_mistakes: how many non-optimal answers to keep in ``mistakes``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if env_id not in gym.registry:
        raise ValueError(f"unknown env {env_id!r}; see `textgym envs`")
    todo = list(reachable_positions() if positions is None else positions)
    envs = [
        ChatHistory(gym.make(env_id), system_prompt=system_prompt)
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
    after = info["board"]
    played = [i for i in range(9) if board[i] == rules.EMPTY and after[i] == mark]
    if info.get("illegal_action") or len(played) != 1:
        _remember(audit, board, mark, text, keep)
        return
    audit.legal += 1
    ply.legal += 1
    first = mark if board.count("X") == board.count("O") else rules.other(mark)
    if played[0] in solver.optimal_moves(board, first):
        audit.optimal += 1
        ply.optimal += 1
    else:
        _remember(audit, board, mark, text, keep)


def _remember(audit: BoardAudit, board: str, mark: str, text: str, keep: int) -> None:
    if len(audit.mistakes) < keep:
        audit.mistakes.append((board, mark, text))


__all__ = ["BoardAudit", "PlyCounts", "audit_policy", "reachable_positions"]
