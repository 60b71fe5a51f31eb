"""Single-turn text envs: one prompt, one answer, scored by a verifier.

Subclass :class:`SingleTurnEnv` and implement two methods::

    class TextUpper(SingleTurnEnv):
        system_prompt = "Answer with the text in upper case inside <answer>...</answer>."

        def make_task(self, rng):
            word = "".join(rng.choice(list("abcdef"), size=6))
            return Task(prompt=f"Text: {word}", answer=word.upper())

        def score(self, answer, task):
            return float(answer == task.answer)

``reset(seed=...)`` draws the task from the env's seeded generator, so the same seed gives
the same task; ``step(text)`` extracts the answer (the last complete ``<answer>...</answer>``
when ``answer_tag`` is set, else the whole text, stripped), scores it, and ends the episode.
The reward is the score, always in ``[0, 1]``; ``info`` holds the answer, whether the
format was right, and (after the step) the expected answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textgym.core import TextEnv, text_space
from textgym.parsing import parse_answer


@dataclass(frozen=True)
class Task:
    """One generated task: what the player sees and what the verifier checks against."""

    prompt: str
    """The observation text."""
    answer: str
    """The expected answer (hidden until the episode ends)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Anything else the verifier needs."""


class SingleTurnEnv(TextEnv):
    """Base class: one observation, one answer, a score in [0, 1], then the episode ends.

    Args:
        answer_tag: the tag the answer must be wrapped in (None: the whole text is the
            answer).
        max_prompt_length: the observation space's length limit.
        render_mode: None or ``"ansi"`` (``render()`` returns the latest observation).
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(
        self,
        answer_tag: str | None = "answer",
        max_prompt_length: int = 2048,
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        if answer_tag is not None and (not answer_tag or not answer_tag.isidentifier()):
            raise ValueError(f"answer_tag must be a simple name or None, got {answer_tag!r}")
        self.answer_tag = answer_tag
        self.observation_space = text_space(max_prompt_length)
        self.action_space = text_space(8192)
        self.render_mode = render_mode
        self._last_text = ""
        self._task: Task | None = None
        self._episode_active = False

    # --------------------------------------------------------------- for subclasses

    def make_task(self, rng: np.random.Generator) -> Task:
        """Generate a task from ``rng`` (the env's seeded generator). Override."""
        raise NotImplementedError

    def score(self, answer: str, task: Task) -> float:
        """Score ``answer`` against ``task`` in [0, 1]. Override."""
        raise NotImplementedError

    # --------------------------------------------------------------- gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Draw a new task; the observation is its prompt."""
        super().reset(seed=seed)
        if options:
            raise ValueError(f"{type(self).__name__} takes no reset options, got {options!r}")
        self._task = self.make_task(self.np_random)
        self._episode_active = True
        self._last_text = self._task.prompt
        return self._task.prompt, {"format_ok": None}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Score the answer and end the episode."""
        text = self._check_action(action)
        task = self._task
        assert task is not None
        if self.answer_tag is None:
            answer, format_ok = text.strip(), True
        else:
            parsed = parse_answer(text, tag=self.answer_tag, think_tag="think")
            answer, format_ok = (parsed.answer or "").strip(), parsed.ok
        reward = float(self.score(answer, task)) if format_ok else 0.0
        if not 0.0 <= reward <= 1.0:
            raise RuntimeError(f"{type(self).__name__}.score returned {reward}, not in [0, 1]")
        self._episode_active = False
        info = {
            "answer": answer,
            "format_ok": format_ok,
            "expected": task.answer,
            "reward_components": {"outcome": reward},
        }
        self._last_text = f"Your answer scored {reward:.2f}."
        return self._last_text, reward, True, False, info

    def render(self) -> str | None:
        """The latest observation (``"ansi"``), or None."""
        return self._last_text if self.render_mode == "ansi" else None

    def hidden_strings(self) -> list[str]:
        """The expected answer must not appear in the prompt."""
        return [self._task.answer] if self._task is not None and self._episode_active else []
