"""TextReverse-v0 and the single-turn base class it is built on."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import textgym  # noqa: F401
from textgym.envs.base import SingleTurnEnv, Task
from textgym.envs.reverse.env import TextReverseEnv


def expected(env) -> str:
    return env.unwrapped._task.answer


@given(seed=st.integers(0, 2**32 - 1), answer=st.text(max_size=40))
def test_rewards_in_range_and_the_answer_stays_hidden(seed: int, answer: str) -> None:
    env = gym.make("TextReverse-v0")
    obs, _ = env.reset(seed=seed)
    target = expected(env)
    word = obs.removeprefix("String: ")
    assert target == word[::-1] and target not in obs
    _, reward, terminated, truncated, info = env.step(f"<answer>{answer}</answer>")
    assert 0.0 <= reward <= 1.0 and terminated and not truncated
    assert (reward == 1.0) == (answer.strip() == target)
    assert info["expected"] == target


@given(seed=st.integers(0, 2**32 - 1))
def test_same_seed_same_task(seed: int) -> None:
    a, b = gym.make("TextReverse-v0"), gym.make("TextReverse-v0")
    assert a.reset(seed=seed)[0] == b.reset(seed=seed)[0]


def test_exact_near_and_malformed_answers() -> None:
    env = gym.make("TextReverse-v0")
    env.reset(seed=1)
    target = expected(env)
    assert env.step(f"<think>reverse it</think><answer> {target} </answer>")[1] == 1.0
    env.reset(seed=1)
    near = env.step(f"<answer>{target[:-1]}</answer>")[1]
    assert 0.8 < near < 1.0
    env.reset(seed=1)
    _, reward, _, _, info = env.step(target)  # right text, no tag
    assert reward == 0.0 and info["format_ok"] is False
    untagged = gym.make("TextReverse-v0", answer_tag=None)
    untagged.reset(seed=1)
    assert untagged.step(f"  {target}\n")[1] == 1.0


@pytest.mark.parametrize(
    "kwargs", [{"min_length": 1}, {"min_length": 9, "max_length": 8}, {"answer_tag": "a b"}]
)
def test_bad_arguments_raise_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TextReverseEnv(**kwargs)


def test_a_subclass_needs_only_a_task_and_a_score() -> None:
    class Upper(SingleTurnEnv):
        system_prompt = "Upper-case it inside <answer></answer>."

        def make_task(self, rng: np.random.Generator) -> Task:
            word = "".join(rng.choice(list("abcdef"), size=6))
            return Task(prompt=f"Text: {word}", answer=word.upper())

        def score(self, answer: str, task: Task) -> float:
            return float(answer == task.answer)

    env = Upper()
    obs, _ = env.reset(seed=3)
    assert env.step(f"<answer>{obs[6:].upper()}</answer>")[1] == 1.0

    class Broken(Upper):
        def score(self, answer: str, task: Task) -> float:
            return 2.0

    broken = Broken()
    broken.reset(seed=0)
    with pytest.raises(RuntimeError, match="not in"):
        broken.step("<answer>x</answer>")
