"""Replay where the policy lost: start some groups from states of its recent lost episodes.

A small policy's worst mistakes can sit on lines it meets once in hundreds of episodes: the
tic-tac-toe pipeline's student put 92 % of its probability on a losing move in a position
that a 256-game batch reaches about once, so sampling the right move there, in a group
where the others lose, almost never happened. Starting a share of each batch's groups from
the last states of episodes it lost meets those states every step, and the
group-relative advantage does the rest: the rollouts that find a better move there score
better than their group.

**The protocol.** An env that can restart from a saved state reports, in the ``info`` of
every step where the episode goes on, ``info["restart_options"]``: reset options that,
passed back to ``reset(options=...)``, set up the same state with the player to move (the
tic-tac-toe envs: ``board`` and ``agent_mark``). An episode counts as lost when its
summed ``outcome`` reward component is below a threshold. Envs that report no restart
options have nothing to replay, and training goes on as without replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textgym.rollout import Episode


def outcome(episode: Episode) -> float:
    """The episode's summed ``outcome`` reward component (its total reward when the env
    names no components)."""
    if not any("outcome" in t.reward_components for t in episode.turns):
        return episode.total_reward
    return sum(t.reward_components.get("outcome", 0.0) for t in episode.turns)


def lost_positions(
    episodes: Sequence[Episode], last: int = 2, below: float = 0.5
) -> list[dict[str, Any]]:
    """Restart options of the last ``last`` states the policy faced in each lost episode.

    An episode is lost when its :func:`outcome` is below ``below``. The state before a turn
    is the one the previous turn's ``info`` left (so an episode's opening state, which no
    turn's ``info`` records, is never among them).
    """
    if last < 1:
        raise ValueError(f"last must be >= 1, got {last}")
    out: list[dict[str, Any]] = []
    for episode in episodes:
        if outcome(episode) >= below:
            continue
        turns = episode.turns
        for k in range(max(1, len(turns) - last), len(turns)):
            restart = turns[k - 1].info.get("restart_options")
            if restart:
                out.append(dict(restart))
    return out


__all__ = ["lost_positions", "outcome"]
