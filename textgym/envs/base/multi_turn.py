"""Multi-turn text envs: a conversation with per-episode state, stop conditions and a turn
limit.

Subclass :class:`MultiTurnEnv` and implement two methods::

    class GuessTheNumber(MultiTurnEnv):
        system_prompt = "Guess my number from 1 to 100 inside <answer>...</answer>."

        def start(self, rng):
            self.secret = int(rng.integers(1, 101))
            return "I picked a number."

        def respond(self, answer):
            if answer is None or not (answer.isascii() and answer.isdigit() and len(answer) < 4):
                return Reply("Answer with a whole number from 1 to 100.")
            if int(answer) == self.secret:
                return Reply("Correct!", reward=1.0, done=True)
            return Reply("Higher." if int(answer) < self.secret else "Lower.")

The base class seeds ``start`` from ``reset(seed=...)``, extracts the answer (the last
complete ``<answer>...</answer>``, after an optional ``<think>`` block; ``None`` when the
format is wrong, so ``respond`` can say so), counts turns, and ends the episode with
``truncated=True`` when ``max_turns`` answers were given without ``done`` (or when a reply
says ``truncated``).

**Reset options.** What varies between episodes is declared in
:meth:`~textgym.core.TextEnv.curriculum_options` (e.g. a length range); ``reset`` accepts
those options, checks them against their range, and leaves them in
``self.episode_options`` for ``start`` to read. Any other option is refused.

**Episode metrics.** When the episode ends, ``info["episode_metrics"]`` holds numbers that
describe it, from :meth:`MultiTurnEnv.episode_metrics` (solved, guesses, tool calls, ...;
the yes/no ones listed in ``rate_metrics``). Evaluation averages them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textgym.core import TextEnv, check_reset_options, fit_text, text_space
from textgym.parsing import parse_answer


@dataclass
class Reply:
    """The env's answer to one turn."""

    observation: str
    """What the player sees next."""
    reward: float = 0.0
    """Reward of this turn."""
    done: bool = False
    """The task is over (solved or failed for good): ``terminated``."""
    truncated: bool = False
    """The episode stops for a reason outside the task (a tool server died, say):
    ``truncated``. Ignored when ``done``."""
    info: dict[str, Any] = field(default_factory=dict)
    """Extra ``info`` entries."""


class MultiTurnEnv(TextEnv):
    """Base class: a turn loop with per-episode state and a turn limit.

    Args:
        max_turns: answers before the episode is truncated.
        answer_tag: the tag answers must be wrapped in (None: the whole text, stripped).
        max_observation_length: the observation space's length limit.
        render_mode: None or ``"ansi"`` (``render()`` returns the latest observation).
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(
        self,
        max_turns: int = 10,
        answer_tag: str | None = "answer",
        max_observation_length: int = 4096,
        render_mode: str | None = None,
    ) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        if answer_tag is not None and (not answer_tag or not answer_tag.isidentifier()):
            raise ValueError(f"answer_tag must be a simple name or None, got {answer_tag!r}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.max_turns = max_turns
        self.answer_tag = answer_tag
        self.render_mode = render_mode
        self.observation_space = text_space(max_observation_length)
        self.action_space = text_space(8192)
        self.turn = 0
        self.episode_options: dict[str, Any] = {}
        self._last_text = ""
        self._episode_active = False

    # --------------------------------------------------------------- for subclasses

    def start(self, rng: np.random.Generator) -> str:
        """Set up the episode's state from ``rng``; return the first observation. Override."""
        raise NotImplementedError

    def respond(self, answer: str | None) -> Reply:
        """React to one answer (None: wrong format). Override."""
        raise NotImplementedError

    def episode_metrics(self) -> dict[str, float]:
        """Numbers describing the episode that just ended (override)."""
        return {}

    # --------------------------------------------------------------- gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Start a new episode."""
        super().reset(seed=seed)
        self.episode_options = check_reset_options(self, options, self.curriculum_options())
        self.turn = 0
        self._last_text = fit_text(self.start(self.np_random), self.observation_space)
        self._episode_active = True
        return self._last_text, {"turn": 0}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """One turn: parse the answer, let the subclass respond, apply the turn limit."""
        text = self._check_action(action)
        if self.answer_tag is None:
            answer: str | None = text.strip()
        else:
            answer = parse_answer(text, tag=self.answer_tag, think_tag="think").answer
            answer = None if answer is None else answer.strip()
        self.turn += 1
        reply = self.respond(answer)
        terminated = bool(reply.done)
        truncated = not terminated and (bool(reply.truncated) or self.turn >= self.max_turns)
        # what a tool or the env echoes may hold any text: it must still lie in the space
        self._last_text = fit_text(reply.observation, self.observation_space)
        info = {
            "turn": self.turn,
            "format_ok": answer is not None,
            "reward_components": {"outcome": float(reply.reward)},
            **reply.info,
        }
        if terminated or truncated:
            self._episode_active = False
            info["episode_metrics"] = {k: float(v) for k, v in self.episode_metrics().items()}
        return self._last_text, float(reply.reward), terminated, truncated, info

    def render(self) -> str | None:
        """The latest observation (``"ansi"``), or None."""
        return self._last_text if self.render_mode == "ansi" else None
