"""Hostile actions: every registered env answers them, and check_text_env catches an env
that does not."""

from __future__ import annotations

import json
import math
import re

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings

import textgym
from textgym.parsing import parse_answer, tag_contents
from textgym.utils import TextEnvCheckError, check_text_env
from textgym.utils.hostile import hostile_actions, hostile_text

from .test_env_checker import GuessEnv

ENV_IDS = textgym.registered_env_ids()


def _answer(env: gym.Env, action: str) -> None:
    obs, reward, terminated, truncated, _ = env.step(action)
    assert isinstance(obs, str) and obs in env.observation_space
    assert math.isfinite(float(reward))
    assert isinstance(terminated, bool) and isinstance(truncated, bool)


@pytest.fixture(scope="module", params=ENV_IDS)
def env(request):
    env = gym.make(request.param)
    yield env
    env.close()


def _tag_and_tools(env: gym.Env) -> tuple[str | None, tuple[str, ...]]:
    names = tuple(s["name"] for s in getattr(env.unwrapped, "schemas", []) or [])
    return getattr(env.unwrapped, "answer_tag", None), names or ("calculate",)


def test_generated_hostile_text_is_answered_by_every_env(env) -> None:
    tag, names = _tag_and_tools(env)

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(first=hostile_text(tag, names), second=hostile_text(tag, names))
    def two_hostile_turns(first: str, second: str) -> None:
        env.reset(seed=len(first) % 7)
        _answer(env, first)
        env.reset(seed=3)
        env.step("1")
        if env.unwrapped._episode_active:
            _answer(env, second)

    two_hostile_turns()


def test_the_fixed_hostile_list_reaches_the_parsers() -> None:
    """The list holds what the issue names: deep nesting within the length limit, huge
    numbers, duplicate keys, bad escapes, lone surrogates, many calls, junk around tags."""
    actions = hostile_actions("move", ("query",))
    env = gym.make("TextSQL-v0")
    answers = []
    for action in actions:
        env.reset(seed=0)
        answers.append(env.step(action)[0])
    joined = "\n".join(answers)
    for expected in (
        "nested too deeply",
        "digit",  # an integer beyond Python's digit limit
        "out of range",
        "duplicate key 'name'",
        "Invalid \\escape",
        "unpaired surrogate",
        "several tool calls",
        "too long",
        "arguments must be a JSON object",
    ):
        assert expected in joined, expected


class FragileEnv(GuessEnv):
    """Trusts that a tool call is JSON: hostile text raises."""

    def step(self, action: str):
        if "<tool_call>" in action:
            json.loads(action.split("<tool_call>")[1].split("</tool_call>")[0])
        return super().step(action)


def test_the_hostile_phase_catches_an_env_that_raises() -> None:
    with pytest.raises(TextEnvCheckError, match=r"hostile action .* raised RecursionError"):
        check_text_env(FragileEnv(), run_gymnasium_check=False, cross_process=False)
    check_text_env(FragileEnv(), run_gymnasium_check=False, cross_process=False, hostile=False)


def test_tag_scan_is_the_lazy_regex_in_linear_time() -> None:
    pattern = re.compile(r"<move>(.*?)</move>", re.DOTALL)
    pieces = ["<move>", "</move>", "<mo", "ve>", "</", ">", "1", "\n", "<move></move>"]
    import random

    rng = random.Random(0)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert tag_contents(text, "move") == pattern.findall(text), text
    # 400,000 unclosed opening tags: the regex takes hours here, the scan a moment
    assert parse_answer("<move>" * 400_000).answer is None
    assert parse_answer("<move>" * 400_000 + "<move>5</move>").answer is None  # holds a tag
    assert parse_answer("</move>" * 400_000 + "<move>5</move>").answer == "5"
