"""Who plays the other seat while a two-player game trains: the model itself, or frozen
snapshots of it.

``RLConfig.opponent`` names it:

- ``"self"``: the model being trained plays both seats. One call of the model per round
  answers both seats' prompts (:class:`~textgym.rollout.Rounds`), and both seats train:
  the opponent's decisions of each episode become an episode of their own
  (:func:`seat_episodes`), scored from its seat. The baseline of an advantage is the mean
  of the same seat's rollouts in the group (same seed, so the same seat): one mean over
  both seats of a zero-sum game would be the same constant for every group, and would
  carry no signal.
- ``"snapshot:K"``: a frozen copy of the model, taken every ``K`` steps (step 0 is the
  start); the last ``opponent_pool`` copies make a pool, and each step draws its opponent
  from it with the step's seed. Only the agent's seat trains. Copies are saved under
  ``out_dir/opponents/step-S`` and read back from there (the same weights a resumed run
  reads), so a resumed run meets the same opponents.

The opponent reads what the agent reads: the view's system prompt and its own seat's
latest observation (the two-player envs' observations hold the whole state a seat may
know), which is why self-play needs ``history="last"``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textgym.envs import check_takes_opponent, probe_env
from textgym.models.saving import save_model
from textgym.rollout import Episode, Turn
from textgym.wrappers.chat import stack_system_prompt


@dataclass(frozen=True)
class OpponentSpec:
    """A parsed ``RLConfig.opponent``: ``kind`` is ``self`` or ``snapshot``; ``every`` is
    the snapshot interval in steps (0 for ``self``)."""

    kind: str
    every: int = 0

    @property
    def trains_both_seats(self) -> bool:
        """Whether the opponent's decisions are trained too (self-play)."""
        return self.kind == "self"


def parse_opponent(text: str) -> OpponentSpec:
    """``self`` or ``snapshot:K`` (K >= 1 steps between snapshots); a ValueError else."""
    if text == "self":
        return OpponentSpec("self")
    kind, _, every = text.partition(":")
    if kind == "snapshot":
        try:
            steps = int(every)
        except ValueError:
            steps = None
        if steps is None or steps < 1:
            raise ValueError(
                f"opponent {text!r}: the snapshot interval must be a whole number of steps "
                ">= 1, as in snapshot:10"
            )
        return OpponentSpec("snapshot", steps)
    raise ValueError(f"unknown opponent {text!r}; choose self or snapshot:K (K steps)")


def check_opponent_env(env_id: str, history: str) -> None:
    """Refuse an env whose other seat cannot be a policy, or a view the opponent cannot
    share (it reads only its latest observation)."""
    check_takes_opponent(env_id)
    if history != "last":
        raise ValueError(
            "a model opponent reads only its seat's latest observation; train with "
            "history 'last' so that both seats see the game the same way"
        )
    with probe_env(env_id) as env:
        if not getattr(env.unwrapped, "markov_observations", False):
            raise ValueError(f"{env_id}'s observations do not show the whole game to a seat")


@dataclass(frozen=True)
class SeatScoring:
    """How the env's wrappers score an answer, applied to the opponent's answers: the
    format reward of a fully compliant episode, and the penalty of an answer that named
    no legal move (the opponent's falls back to a random legal move instead of a retry)."""

    format_reward: float = 0.0
    penalty: float = 0.0


def seat_scoring(env_id: str) -> SeatScoring:
    """The format reward and invalid-move penalty of ``env_id``'s wrappers (0 without)."""
    with probe_env(env_id) as env:
        values = []
        for name in ("format_reward", "penalty"):
            try:
                values.append(float(env.get_wrapper_attr(name)))
            except AttributeError:
                values.append(0.0)
    return SeatScoring(*values)


def opponent_system_prompt(env_id: str, system_prompt: str | None) -> str:
    """The system message the agent reads (its view's), which the opponent reads too."""
    with probe_env(env_id) as env:
        return stack_system_prompt(env, system_prompt)


def seat_episodes(episodes: list[Episode], scoring: SeatScoring) -> list[Episode]:
    """The opponent's side of each episode as an episode of its own (none for an episode
    where the opponent never answered).

    Its reward: the episode's ``opponent_outcome`` (the env's outcome reward for the other
    seat), plus ``format_reward`` times the share of its answers inside the answer tag,
    plus ``penalty`` for each answer that named no legal move; all on its last turn. An
    answer that named no legal move is scored as a forfeit, as the game's AEC view rules
    (:mod:`textgym.integrations.pettingzoo`): the outcome is at most
    ``opponent_forfeit_outcome``. The game itself went on with a random legal move, so
    the agent's episode is what it was; but a seat must never learn that an unreadable
    answer, which the agent's own seat pays for with retries and a forfeit, is a free
    random move.
    """
    out = []
    for e in episodes:
        if not e.opponent_turns:
            continue
        decisions = [t.info for t in e.opponent_turns]
        formats = [d.get("format_ok") for d in decisions]
        outcome = float(e.final_info.get("opponent_outcome", 0.0))
        if any(d.get("fallback") for d in decisions) and "opponent_forfeit_outcome" in e.final_info:
            outcome = min(outcome, float(e.final_info["opponent_forfeit_outcome"]))
        parts = {
            "outcome": outcome,
            "format": scoring.format_reward * float(np.mean([bool(f) for f in formats]))
            if any(f is not None for f in formats)
            else 0.0,
            "invalid": scoring.penalty * sum(bool(d.get("fallback")) for d in decisions),
        }
        turns = [Turn(t.messages, t.completion, 0.0, {}, dict(t.info)) for t in e.opponent_turns]
        turns[-1].reward, turns[-1].reward_components = sum(parts.values()), parts
        out.append(Episode(e.index, e.seed, e.options, turns, e.terminated, e.truncated))
    return out


def both_seats(
    episodes: list[Episode], group_size: int, scoring: SeatScoring
) -> tuple[list[Episode], list[Any]]:
    """The episodes of both seats and their groups: the agent's by seed group, the other
    seat's (:func:`seat_episodes`) in groups of their own, so each advantage is relative to
    the same seat's rollouts."""
    other = seat_episodes(episodes, scoring)
    groups: list[Any] = [e.index // group_size for e in episodes]
    groups += [("other seat", e.index // group_size) for e in other]
    return episodes + other, groups


class SnapshotPool:
    """Frozen copies of the model, the last ``size`` of them, on disk under
    ``out_dir/opponents`` and loaded from there."""

    def __init__(self, out_dir: str | Path, size: int, device: str, dtype: str) -> None:
        self.folder = Path(out_dir) / "opponents"
        self.size = size
        self.device, self.dtype = device, dtype
        self.steps: list[int] = []
        self._models: dict[int, Any] = {}

    def path(self, step: int) -> Path:
        """The folder of the snapshot taken at ``step``."""
        return self.folder / f"step-{step}"

    def take(self, step: int, model: Any, tokenizer: Any, write: bool = True) -> None:
        """Save the model as the snapshot of ``step`` (``write=False``: another process
        does); the oldest leaves the pool when it is full (its folder stays until
        :meth:`prune`: a checkpoint may still name it)."""
        if write:
            save_model(self.path(step), model, tokenizer)
        self.steps = [s for s in self.steps if s != step] + [step]
        self.steps = self.steps[-self.size :]
        self._models = {s: m for s, m in self._models.items() if s in self.steps}
        self._models.pop(step, None)

    def restore(self, steps: list[int]) -> None:
        """The pool of a checkpoint (its snapshots' steps); a missing folder is an error."""
        missing = [s for s in steps if not self.path(s).is_dir()]
        if missing:
            raise ValueError(
                f"the checkpoint's opponent snapshots {missing} are not in {self.folder}; "
                "restart the run without resume"
            )
        self.steps, self._models = list(steps), {}

    def model(self, step: int) -> Any:
        """The frozen model of the snapshot of ``step`` (loaded once)."""
        if step not in self._models:
            from textgym.models.loading import load_model  # needs torch; RLConfig does not

            model, _ = load_model(self.path(step), self.device, self.dtype)
            model.eval().requires_grad_(False)
            self._models[step] = model
        return self._models[step]

    def draw(self, seed: int, step: int) -> int:
        """The snapshot (its step) that plays the opponent in ``step``."""
        pick = np.random.default_rng([seed, step, 3])
        return self.steps[int(pick.integers(len(self.steps)))]

    def prune(self) -> None:
        """Delete the folders of snapshots that left the pool (after a checkpoint)."""
        if not self.folder.is_dir():
            return
        keep = {self.path(s).name for s in self.steps}
        for path in self.folder.iterdir():
            if path.is_dir() and path.name.startswith("step-") and path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)


__all__ = [
    "OpponentSpec",
    "SeatScoring",
    "SnapshotPool",
    "both_seats",
    "check_opponent_env",
    "opponent_system_prompt",
    "parse_opponent",
    "seat_episodes",
    "seat_scoring",
]
