"""SingleTurnEnv: one prompt, one answer scored in [0, 1] (the docstring's example)."""

from __future__ import annotations

import numpy as np
import pytest

from textgym.envs.base import SingleTurnEnv, Task
from textgym.utils.env_checker import check_text_env


class TextUpper(SingleTurnEnv):
    """Answer with the text in upper case."""

    system_prompt = "Answer with the text in upper case inside <answer>...</answer>."

    def make_task(self, rng: np.random.Generator) -> Task:
        word = "".join(rng.choice(list("abcdef"), size=6))
        return Task(prompt=f"Text: {word}", answer=word.upper())

    def score(self, answer: str, task: Task) -> float:
        return float(answer == task.answer)


class OutOfRange(TextUpper):
    def score(self, answer: str, task: Task) -> float:
        return 2.0


def test_one_answer_is_scored_and_ends_the_episode() -> None:
    env = TextUpper()
    obs, _ = env.reset(seed=4)
    word = obs.removeprefix("Text: ")
    obs, reward, terminated, truncated, info = env.step(f"<answer>{word.upper()}</answer>")
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert obs == "Your answer scored 1.00."
    assert info["answer"] == info["expected"] == word.upper() and info["format_ok"]


def test_a_wrong_or_malformed_answer_scores_zero() -> None:
    env = TextUpper()
    env.reset(seed=4)
    assert env.step("<answer>nope</answer>")[1] == 0.0
    env.reset(seed=4)
    _, reward, terminated, _, info = env.step("no tags")
    assert (reward, terminated, info["format_ok"], info["answer"]) == (0.0, True, False, "")


def test_the_same_seed_gives_the_same_task() -> None:
    env = TextUpper()
    first = [env.reset(seed=s)[0] for s in range(5)]
    assert first == [env.reset(seed=s)[0] for s in range(5)]
    assert len(set(first)) > 1


def test_a_score_outside_0_1_is_a_clear_error() -> None:
    env = OutOfRange()
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match=r"OutOfRange.score returned 2.0, not in \[0, 1\]"):
        env.step("<answer>x</answer>")


def test_the_expected_answer_is_hidden_while_the_episode_runs() -> None:
    env = TextUpper()
    env.reset(seed=1)
    assert env.hidden_strings() == [env._task.answer]
    env.step("<answer>x</answer>")
    assert env.hidden_strings() == []


def test_a_subclass_passes_the_conformance_suite() -> None:
    check_text_env(TextUpper(), cross_process=False)
