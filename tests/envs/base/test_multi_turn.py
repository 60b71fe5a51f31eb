"""MultiTurnEnv: the turn loop a subclass gets from two methods (the docstring's example)."""

from __future__ import annotations

import numpy as np
import pytest

from textgym.core import EpisodeOverError, OptionRange
from textgym.envs.base import MultiTurnEnv, Reply
from textgym.utils.env_checker import TextEnvCheckError, check_text_env


class GuessTheNumber(MultiTurnEnv):
    """Guess a number from 1 to ``high``; the answers seen are kept for the tests."""

    system_prompt = "Guess my number inside <answer>...</answer>."

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seen: list[str | None] = []

    def curriculum_options(self) -> dict[str, OptionRange]:
        return {"high": OptionRange(2, 100, integer=True, doc="the largest number")}

    def start(self, rng: np.random.Generator) -> str:
        self.high = int(self.episode_options.get("high", 100))
        self.secret = int(rng.integers(1, self.high + 1))
        self.seen = []
        return f"I picked a number from 1 to {self.high}."

    def respond(self, answer: str | None) -> Reply:
        self.seen.append(answer)
        if answer is None or not (answer.isascii() and answer.isdigit() and len(answer) < 4):
            return Reply("Answer with a whole number.")
        if int(answer) == self.secret:
            return Reply("Correct!", reward=1.0, done=True, info={"guess": int(answer)})
        return Reply("Higher." if int(answer) < self.secret else "Lower.")

    def episode_metrics(self) -> dict[str, float]:
        solved = bool(self.seen) and self.seen[-1] == str(self.secret)
        return {"guesses": len(self.seen), "solved": float(solved)}


class Unbounded(GuessTheNumber):
    """The same game reading any run of digits with ``int()`` (the old example's bug)."""

    def respond(self, answer: str | None) -> Reply:
        if answer is not None and answer.isdigit():
            int(answer)
        return super().respond(answer)


def _solve(env: GuessTheNumber) -> list[tuple[str, float, bool, bool, dict]]:
    """Binary search through the env; every step's result."""
    low, high, steps = 1, env.high, []
    while True:
        guess = (low + high) // 2
        obs, reward, terminated, truncated, info = env.step(f"<answer>{guess}</answer>")
        steps.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            return steps
        low, high = (guess + 1, high) if obs == "Higher." else (low, guess - 1)


def test_the_loop_parses_answers_counts_turns_and_reports_metrics() -> None:
    env = GuessTheNumber(max_turns=20)
    obs, info = env.reset(seed=3)
    assert obs == "I picked a number from 1 to 100." and info == {"turn": 0}
    steps = _solve(env)
    obs, reward, terminated, truncated, info = steps[-1]
    assert (obs, reward, terminated, truncated) == ("Correct!", 1.0, True, False)
    assert info["turn"] == len(steps) and info["guess"] == env.secret
    assert info["format_ok"] is True and info["reward_components"] == {"outcome": 1.0}
    assert info["episode_metrics"] == {"guesses": float(len(steps)), "solved": 1.0}
    assert all("episode_metrics" not in s[4] for s in steps[:-1])
    with pytest.raises(EpisodeOverError):
        env.step("<answer>1</answer>")


def test_the_answer_is_the_last_tagged_one_after_thinking_or_none() -> None:
    env = GuessTheNumber()
    env.reset(seed=0)
    env.step("<think>maybe <answer>7</answer></think> I say <answer> 12 </answer>")
    env.step("no tags at all")
    env.step("<answer>unclosed")
    _, _, _, _, info = env.step("<answer>4</answer><answer>5</answer>")
    assert env.seen == ["12", None, None, "5"]
    assert info["format_ok"] is True


def test_a_wrong_format_is_answered_not_raised_and_flagged() -> None:
    env = GuessTheNumber()
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("fifty")
    assert (obs, reward, terminated, truncated) == (
        "Answer with a whole number.",
        0.0,
        False,
        False,
    )
    assert info["format_ok"] is False


def test_the_turn_limit_truncates_and_a_reply_can_truncate() -> None:
    env = GuessTheNumber(max_turns=2)
    env.reset(seed=1)
    assert env.step("<answer>x</answer>")[3] is False
    _, _, terminated, truncated, info = env.step("<answer>x</answer>")
    assert (terminated, truncated) == (False, True) and info["episode_metrics"]["solved"] == 0.0

    class Quits(GuessTheNumber):
        def respond(self, answer):
            return Reply("The server went away.", truncated=True)

    quits = Quits(max_turns=10)
    quits.reset(seed=1)
    assert quits.step("<answer>1</answer>")[2:4] == (False, True)


def test_reset_seeds_the_episode_and_checks_its_options() -> None:
    env = GuessTheNumber()
    secrets = [(env.reset(seed=s), env.secret)[1] for s in (5, 6, 5)]
    assert secrets[0] == secrets[2]
    env.reset(seed=5, options={"high": 2})
    assert env.secret in (1, 2) and env.high == 2
    with pytest.raises(ValueError, match="high"):
        env.reset(seed=5, options={"high": 1000})
    with pytest.raises(ValueError, match="speed"):
        env.reset(seed=5, options={"speed": 1})


def test_arguments_are_checked_and_render_shows_the_latest_observation() -> None:
    for bad in ({"max_turns": 0}, {"answer_tag": "two words"}, {"render_mode": "human"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            GuessTheNumber(**bad)
    env = GuessTheNumber(render_mode="ansi", answer_tag=None)
    env.reset(seed=2)
    assert env.render() == "I picked a number from 1 to 100."
    env.step("  50 ")  # no tag: the whole text, stripped
    assert env.seen == ["50"] and env.render() in ("Higher.", "Lower.", "Correct!")
    assert GuessTheNumber().render() is None


def test_a_subclass_passes_the_conformance_suite_which_catches_an_unbounded_parse() -> None:
    """The docstring's example once read any run of digits with int(): an answer of
    100,000 digits, or a superscript digit ("²".isdigit() is true), raised ValueError
    inside step. The conformance suite's hostile answers find that; the bounded ASCII
    version passes."""
    check_text_env(GuessTheNumber(), cross_process=False)
    with pytest.raises(TextEnvCheckError, match="raised ValueError"):
        check_text_env(Unbounded(), cross_process=False)
