"""Replay where the policy lost: start some groups from positions of its recent lost games.

A small policy's worst mistakes can sit on lines it meets once in hundreds of games: the
pipeline's student put 92 % of its probability on a losing move in a position that a
256-game batch reaches about once, so sampling the right move there, in a group where
the others lose, almost never happened. Starting a share of each batch's groups from the
last positions of games it lost (the env's ``board`` and ``agent_mark`` reset options)
meets those positions every step, and the group-relative advantage does the rest: the
rollouts that find a better move there score better than their group.

Only envs whose ``info`` names the position as reset options take part (the tic-tac-toe
envs: ``board`` and ``agent_mark``); for any other env there is nothing to replay and
training goes on as without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textgym.rollout import Episode

#: The ``info`` keys that, passed back to ``reset(options=...)``, set up the same position.
POSITION_KEYS: tuple[str, ...] = ("board", "agent_mark")


def lost_positions(episodes: Sequence[Episode], last: int = 2) -> list[dict[str, Any]]:
    """Reset options for the last ``last`` positions the policy faced in each lost game.

    The position before a turn is the one the previous turn's ``info`` left (so a game's
    opening position, which no turn's ``info`` records, is never among them). Games that
    were not lost, and envs without :data:`POSITION_KEYS` in their ``info``, give none.
    """
    if last < 1:
        raise ValueError(f"last must be >= 1, got {last}")
    out: list[dict[str, Any]] = []
    for episode in episodes:
        if episode.final_info.get("result") != "loss":
            continue
        turns = episode.turns
        for k in range(max(1, len(turns) - last), len(turns)):
            info = turns[k - 1].info
            if all(key in info for key in POSITION_KEYS):
                out.append({key: info[key] for key in POSITION_KEYS})
    return out


__all__ = ["POSITION_KEYS", "lost_positions"]
