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

from textgym.envs.base.multi_turn import MultiTurnEnv, Reply


@dataclass(frozen=True)
class Task:
    """One generated task: what the player sees and what the verifier checks against."""

    prompt: str
    """The observation text."""
    answer: str
    """The expected answer (hidden until the episode ends)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Anything else the verifier needs."""


class SingleTurnEnv(MultiTurnEnv):
    """Base class: one observation, one answer, a score in [0, 1], then the episode ends.

    (A :class:`~textgym.envs.base.multi_turn.MultiTurnEnv` whose first answer is final.)

    Args:
        answer_tag: the tag the answer must be wrapped in (None: the whole text is the
            answer).
        max_prompt_length: the observation space's length limit.
        render_mode: None or ``"ansi"`` (``render()`` returns the latest observation).
    """

    def __init__(
        self,
        answer_tag: str | None = "answer",
        max_prompt_length: int = 2048,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(
            max_turns=1,
            answer_tag=answer_tag,
            max_observation_length=max_prompt_length,
            render_mode=render_mode,
        )
        self._task: Task | None = None

    # --------------------------------------------------------------- for subclasses

    def make_task(self, rng: np.random.Generator) -> Task:
        """Generate a task from ``rng`` (the env's seeded generator). Override."""
        raise NotImplementedError

    def score(self, answer: str, task: Task) -> float:
        """Score ``answer`` against ``task`` in [0, 1]. Override."""
        raise NotImplementedError

    # --------------------------------------------------------------- the single turn

    def start(self, rng: np.random.Generator) -> str:
        """Draw a new task; the observation is its prompt."""
        self._task = self.make_task(rng)
        return self._task.prompt

    def respond(self, answer: str | None) -> Reply:
        """Score the answer (0 when the format was wrong) and end the episode."""
        task = self._task
        assert task is not None
        reward = 0.0 if answer is None else float(self.score(answer, task))
        if not 0.0 <= reward <= 1.0:
            raise RuntimeError(f"{type(self).__name__}.score returned {reward}, not in [0, 1]")
        info = {"answer": answer or "", "expected": task.answer}
        return Reply(f"Your answer scored {reward:.2f}.", reward=reward, done=True, info=info)

    def hidden_strings(self) -> list[str]:
        """The expected answer must not appear in the prompt."""
        return [self._task.answer] if self._task is not None and self._episode_active else []
