"""ToolEnv: plain functions as tools, every bad call answered (never raised), timeouts."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from textgym.envs.base import Task, ToolEnv, tool_schema
from textgym.utils.env_checker import check_text_env


class Lookup(ToolEnv):
    """The docstring's example, plus a tool that fails and one that never returns."""

    def tools(self):
        return [self.capital, self.divide, self.spin]

    def capital(self, country: str) -> str:
        """The capital of a country.

        More text that is not part of the description.
        """
        return {"France": "Paris", "Peru": "Lima"}.get(country, "unknown")

    def divide(self, a: int, b: float = 1.0) -> float:
        """a divided by b."""
        return a / b

    def spin(self, seconds: float) -> str:
        """Wait (in pure Python, so a timeout can stop it)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        return "done"

    def make_task(self, rng: np.random.Generator) -> Task:
        country = ["France", "Peru"][int(rng.integers(2))]
        return Task(
            prompt=f"What is the capital of {country}?",
            answer=dict(France="Paris", Peru="Lima")[country],
        )

    def score(self, answer: str, task: Task) -> float:
        return float(answer == task.answer)


def call(name: str, **arguments) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def test_schemas_come_from_hints_and_docstrings_and_reach_the_prompt() -> None:
    env = Lookup()
    schema = tool_schema(env.divide)
    assert schema == {
        "name": "divide",
        "description": "a divided by b.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "number"}},
            "required": ["a"],
        },
    }
    assert tool_schema(env.capital)["description"] == "The capital of a country."
    assert json.dumps(schema) in env.system_prompt and "<tool_call>" in env.system_prompt


def test_a_call_then_an_answer_solves_the_task_and_counts_calls() -> None:
    env = Lookup()
    obs, _ = env.reset(seed=0)
    country = obs.removeprefix("What is the capital of ").removesuffix("?")
    obs, reward, terminated, _, info = env.step(call("capital", country=country))
    assert obs.startswith("Result of capital: ") and (reward, terminated) == (0.0, False)
    assert info["tool"] == "capital" and info["tool_error"] is None
    answer = obs.removeprefix("Result of capital: ")
    obs, reward, terminated, _, info = env.step(f"<answer>{answer}</answer>")
    assert (reward, terminated) == (1.0, True)
    assert info["episode_metrics"] == {
        "correct": 1.0,
        "answered": 1.0,
        "tool_calls": 1.0,
        "tool_errors": 0.0,
    }


@pytest.mark.parametrize(
    "action, error",
    [
        ("<tool_call>{not json</tool_call>", "not valid JSON"),
        (call("weather", city="Oslo"), "unknown tool 'weather'; tools: capital, divide, spin"),
        (call("capital"), "missing ['country']"),
        (call("capital", country="France", extra=1), "unexpected ['extra']"),
        (call("divide", a="one"), "argument 'a' must be a integer"),
        (call("divide", a=1, b=0), "divide failed: ZeroDivisionError"),
        ('<tool_call>{"name": "divide", "arguments": [1]}</tool_call>', "must be a JSON object"),
        ('<tool_call>{"name": "divide", "name": "x"}</tool_call>', "cannot be read"),
        ('<tool_call>{"name": "divide", "arguments": {"a": NaN}}</tool_call>', "cannot be read"),
        (call("capital", country="a") * 2, "several tool calls"),
        ("just text", "no tool call and no <answer>"),
        ("<tool_call>" + "x" * 30_000 + "</tool_call>", "too long"),
    ],
)
def test_every_bad_call_is_the_next_observation(action: str, error: str) -> None:
    env = Lookup()
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert obs.startswith("Error: ") and error in obs, obs
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["tool_error"]
    env.step("<answer>Paris</answer>")  # the episode goes on to its end


def test_a_tool_past_its_timeout_is_stopped_and_the_env_goes_on() -> None:
    env = Lookup(tool_timeout=0.2)
    env.reset(seed=0)
    start = time.monotonic()
    obs, *_ = env.step(call("spin", seconds=30))
    assert obs == "Error: spin timed out after 0.2 s."
    assert time.monotonic() - start < 10  # the 30 s loop was stopped, not waited for
    assert env.step(call("capital", country="Peru"))[0] == "Result of capital: Lima"


def test_long_results_are_cut_with_a_note() -> None:
    env = Lookup(max_result_length=5)
    env.reset(seed=0)
    obs, *_ = env.step(call("divide", a=1, b=3))
    assert obs == "Result of divide: 0.333\n...[cut: 13 more characters]"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="tool_timeout"):
        Lookup(tool_timeout=0)


def test_a_subclass_passes_the_conformance_suite() -> None:
    check_text_env(Lookup(tool_timeout=1.0), cross_process=False)
