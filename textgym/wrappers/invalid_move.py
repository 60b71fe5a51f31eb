"""``InvalidMovePenalty``: an invalid answer costs a small penalty instead of the game."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym

from textgym.wrappers.common import refuse_double_wrap, with_component


class InvalidMovePenalty(gym.Wrapper[str, str, str, str]):
    """Turn an invalid answer into a retry with a penalty; forfeit after too many.

    An answer that is not in the env's current ``info["legal_actions"]`` is not passed to
    the env: the board is unchanged, the opponent does not move, the reward is ``penalty``,
    and the next observation repeats the previous one, preceded by the reason and the legal
    moves. A game allows ``max_invalid`` invalid answers; the next one is passed to the env,
    which ends the game as a loss (its reward then also carries the penalty). Invalid
    answers are steps, so they count toward any ``TimeLimit`` on top.

    A small model makes many invalid moves early in training; ending the game on the first
    one throws away the rest of the episode's learning signal.

    ``info`` gains ``invalid_count`` (invalid answers so far this episode), ``forfeit``
    and ``reward_components["invalid"]`` (the penalty of this step, else 0.0).

    Args:
        env: an env whose ``info`` lists ``legal_actions`` at every step.
        penalty: reward of an invalid answer; finite and <= 0 (default -0.1).
        max_invalid: invalid answers tolerated per game (default 3); one more forfeits.
    """

    def __init__(self, env: gym.Env[str, str], penalty: float = -0.1, max_invalid: int = 3) -> None:
        if isinstance(penalty, bool) or not isinstance(penalty, (int, float)):
            raise ValueError(f"penalty must be a number <= 0, got {penalty!r}")
        if not math.isfinite(penalty) or penalty > 0:
            raise ValueError(f"penalty must be a finite number <= 0, got {penalty!r}")
        if isinstance(max_invalid, bool) or not isinstance(max_invalid, int) or max_invalid < 0:
            raise ValueError(f"max_invalid must be an int >= 0, got {max_invalid!r}")
        refuse_double_wrap(env, InvalidMovePenalty)
        super().__init__(env)
        self.penalty = float(penalty)
        self.max_invalid = max_invalid
        self.invalid_count = 0
        self._last_obs = ""
        self._last_info: dict[str, Any] = {}
        self._done = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Reset the env and the invalid-answer count."""
        obs, info = self.env.reset(seed=seed, options=options)
        if "legal_actions" not in info:
            raise ValueError(
                f"InvalidMovePenalty needs info['legal_actions'] from the env, "
                f"{self.env} does not report it"
            )
        self.invalid_count = 0
        self._last_obs, self._last_info, self._done = obs, info, False
        return obs, self._annotate(info, 0.0, forfeit=False)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Pass a legal answer on; answer an invalid one with the penalty and the reason."""
        if self._done or not isinstance(action, str):
            return self.env.step(action)  # the env raises its clear error
        legal = self._last_info["legal_actions"]
        if action.strip() in legal:
            obs, reward, terminated, truncated, info = self.env.step(action)
            self._remember(obs, info, terminated or truncated)
            return obs, reward, terminated, truncated, self._annotate(info, 0.0, forfeit=False)

        self.invalid_count += 1
        if self.invalid_count > self.max_invalid:
            obs, reward, terminated, truncated, info = self.env.step(action)
            self._remember(obs, info, terminated or truncated)
            info = self._annotate(info, self.penalty, forfeit=True)
            return obs, float(reward) + self.penalty, terminated, truncated, info

        reason = self._explain(action)
        left = self.max_invalid - self.invalid_count
        obs = (
            f"Invalid answer: {reason}; legal moves: {', '.join(map(str, legal))}. "
            f"{left} more invalid answer{'s' if left != 1 else ''} and you forfeit.\n\n"
            + self._last_obs
        )
        # a fresh copy, nested dicts and lists too: infos must not share objects
        info = {
            k: dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v
            for k, v in self._last_info.items()
        }
        info["invalid_action"] = True
        info["invalid_reason"] = reason
        info["reward_components"] = {
            name: 0.0 for name in (self._last_info.get("reward_components") or {"outcome": 0.0})
        }
        return obs, self.penalty, False, False, self._annotate(info, self.penalty, forfeit=False)

    def _explain(self, action: str) -> str:
        try:
            return str(self.env.get_wrapper_attr("explain_invalid")(action))
        except AttributeError:
            return "not a legal action"

    def _remember(self, obs: str, info: dict[str, Any], done: bool) -> None:
        self._last_obs, self._last_info, self._done = obs, info, done

    def _annotate(self, info: dict[str, Any], penalty: float, forfeit: bool) -> dict[str, Any]:
        info = with_component(info, "invalid", penalty)
        info["invalid_count"] = self.invalid_count
        info["forfeit"] = forfeit
        return info
