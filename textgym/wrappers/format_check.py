"""``FormatCheck``: extract the answer from free model text and reward the required format."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym

from textgym.parsing import ParsedAnswer, check_tag_name, parse_answer
from textgym.wrappers.common import refuse_double_wrap, with_component


class FormatCheck(gym.Wrapper[str, str, str, str]):
    """Parse ``<think>…</think><move>…</move>`` answers and reward the format.

    The answer rule (last complete answer tag after the last think block; text outside
    the tags ignored unless ``strict``) is documented in :mod:`textgym.parsing`. A
    well-formed answer is passed on as the bare action (``"<move> 5 </move>"`` -> ``"5"``);
    a missing or malformed one is passed on as the empty string, which no env accepts as a
    legal action, and the next observation starts with the format error.

    **Format reward.** Over an episode, the format rewards add up to ``format_reward`` times
    the fraction of well-formed answers so far (so a fully compliant game earns exactly
    ``format_reward``, 0.2 by default). Each step carries the change of that running total,
    which can be negative after a malformed answer. Granting ``format_reward`` per answer
    instead would pay a model for long games, and for invalid moves in good format.

    ``info`` gains ``format_ok`` (None at reset), ``format_error``, ``parsed_action`` and
    ``reward_components["format"]``. The wrapper's ``system_prompt`` is the env's
    ``rules_prompt`` followed by the answer-format instructions.

    Args:
        env: a text env.
        tag: the answer tag name (default ``"move"``).
        think_tag: the optional reasoning tag name, or None to disallow reasoning blocks.
        format_reward: total format reward of a fully compliant episode (default 0.2).
        strict: require nothing but whitespace outside the think block and answer tag.
        example: the answer shown in the instructions' example (``<move>5</move>``).
    """

    def __init__(
        self,
        env: gym.Env[str, str],
        tag: str = "move",
        think_tag: str | None = "think",
        format_reward: float = 0.2,
        strict: bool = False,
        example: str = "5",
    ) -> None:
        check_tag_name(tag)
        if think_tag is not None:
            check_tag_name(think_tag)
            if think_tag == tag:
                raise ValueError(f"think_tag must differ from tag, both are {tag!r}")
        if isinstance(format_reward, bool) or not isinstance(format_reward, (int, float)):
            raise ValueError(f"format_reward must be a finite number, got {format_reward!r}")
        if not math.isfinite(format_reward):
            raise ValueError(f"format_reward must be a finite number, got {format_reward!r}")
        refuse_double_wrap(env, FormatCheck)
        super().__init__(env)
        self.tag = tag
        self.think_tag = think_tag
        self.format_reward = float(format_reward)
        self.strict = bool(strict)
        self.example = str(example)
        self.answers = 0
        self.well_formed = 0
        self._granted = 0.0

    @property
    def system_prompt(self) -> str:
        """The env's rules followed by this wrapper's answer-format instructions."""
        try:
            rules = self.env.get_wrapper_attr("rules_prompt")
        except AttributeError:
            rules = ""
        if not rules:
            try:
                rules = self.env.get_wrapper_attr("system_prompt")
            except AttributeError:
                rules = ""
        think = (
            f"You may think first inside <{self.think_tag}>...</{self.think_tag}>. "
            if self.think_tag
            else ""
        )
        return (
            f"{rules}\n\n{think}Give your final answer inside <{self.tag}>...</{self.tag}>, "
            f"for example <{self.tag}>{self.example}</{self.tag}>."
        ).strip()

    def format_action(self, action: str) -> str:
        """``action`` written in this wrapper's format (how a scripted player answers)."""
        return f"<{self.tag}>{action}</{self.tag}>"

    def parse(self, text: str) -> ParsedAnswer:
        """Parse one answer with this wrapper's settings."""
        return parse_answer(text, self.tag, self.think_tag, self.strict)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Reset the env and the format statistics of the episode."""
        obs, info = self.env.reset(seed=seed, options=options)
        self.answers = self.well_formed = 0
        self._granted = 0.0
        info = with_component(info, "format", 0.0)
        info.update(format_ok=None, format_error=None, parsed_action=None)
        return obs, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Parse the answer, step the env with it, and add the format reward."""
        if not isinstance(action, str):
            return self.env.step(action)  # the env raises its clear TypeError
        parsed = self.parse(action)
        obs, reward, terminated, truncated, info = self.env.step(parsed.answer or "")
        self.answers += 1
        self.well_formed += parsed.ok
        total = self.format_reward * self.well_formed / self.answers
        delta, self._granted = total - self._granted, total
        if not parsed.ok:
            obs = f"Format error: {parsed.error}.\n\n{obs}"
        info = with_component(info, "format", delta)
        info.update(format_ok=parsed.ok, format_error=parsed.error, parsed_action=parsed.answer)
        return obs, float(reward) + delta, terminated, truncated, info
