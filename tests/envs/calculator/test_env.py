"""TextCalculator-v0 and the tool-env base class: schemas, validation, timeouts, errors."""

from __future__ import annotations

import json
import re
import threading
import time

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import textgym  # noqa: F401
from textgym.envs.base import Task, ToolEnv, tool_schema
from textgym.envs.calculator.env import calculate


def call(name: str, **arguments) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def scripted_solver(env) -> tuple[float, int]:
    """Read the numbers, let the calculator do the arithmetic, answer."""
    obs, _ = env.reset()
    x, y, z, k = (int(n) for n in re.findall(r"\d+", obs))
    obs, *_ = env.step(call("calculate", expression=f"({x} * {y} - {z}) / {k}"))
    result = obs.rsplit(" ", 1)[-1]
    _, reward, terminated, _, info = env.step(f"<think>done</think><answer>{result}</answer>")
    assert terminated
    return reward, info["turn"]


def test_a_scripted_tool_user_solves_every_problem() -> None:
    env = gym.make("TextCalculator-v0")
    for seed in range(50):
        env.reset(seed=seed)
        assert scripted_solver(env) == (1.0, 2)


@given(seed=st.integers(0, 2**32 - 1), text=st.text(max_size=60))
def test_any_text_is_an_observation_never_an_exception(seed: int, text: str) -> None:
    env = gym.make("TextCalculator-v0", max_turns=3)
    obs, _ = env.reset(seed=seed)
    answer = env.unwrapped._task.answer
    assert answer not in obs
    for action in (text, f"<tool_call>{text}</tool_call>", f"<answer>{text}</answer>"):
        obs, reward, terminated, truncated, _ = env.step(action)
        assert 0.0 <= reward <= 1.0
        if terminated or truncated:
            break


def test_validation_errors_are_answered() -> None:
    cases = {
        "<tool_call>{not json</tool_call>": "not valid JSON",
        call("calc", expression="1"): "unknown tool 'calc'",
        call("calculate"): "missing ['expression']",
        call("calculate", expression="1", base=2): "unexpected ['base']",
        call("calculate", expression=5): "must be a string",
        call("calculate", expression="1/0"): "ZeroDivisionError",
        call("calculate", expression="2**1000"): "only numbers",
        call("calculate", expression="1") * 2: "several tool calls",
        "just chatting": "no tool call and no <answer>",
    }
    env = gym.make("TextCalculator-v0", max_turns=len(cases) + 1)
    env.reset(seed=0)
    for action, needle in cases.items():
        obs, reward, terminated, truncated, info = env.step(action)
        assert needle in obs and info["tool_error"], (action, obs)
        assert (reward, terminated, truncated) == (0.0, False, False)
        # a malformed call is still a call; prose or two calls is neither format
        formats = needle not in ("several tool calls", "no tool call and no <answer>")
        assert info["format_ok"] is formats, action


@given(a=st.integers(-999, 999), b=st.integers(1, 999), c=st.integers(-99, 99))
def test_calculate_agrees_with_python(a: int, b: int, c: int) -> None:
    assert calculate(f"({a} + {c}) * {b} - {a} // {b}") == str((a + c) * b - a // b)
    assert float(calculate(f"{a} / {b}")) == pytest.approx(a / b)


class Slow(ToolEnv):
    hidden_args = ("secret",)

    def tools(self):
        return [self.nap, self.boom, self.peek]

    def nap(self, seconds: float, secret: str) -> str:
        """Sleep a while."""
        time.sleep(seconds)
        self.woke.set()
        return "awake"

    def boom(self, secret: str) -> str:
        """Always fails."""
        raise RuntimeError("kaput")

    def peek(self, n: int, secret: str) -> str:
        """Show the first n characters of the hidden state."""
        return secret[:n]

    def tool_state(self):
        self.woke = threading.Event()
        return {"secret": "state-of-this-episode"}

    def make_task(self, rng: np.random.Generator) -> Task:
        return Task(prompt="Do something.", answer="42")

    def score(self, answer: str, task: Task) -> float:
        return float(answer == task.answer)


def test_timeouts_raising_tools_and_hidden_state() -> None:
    env = Slow(tool_timeout=0.2, max_turns=5)
    assert [s["name"] for s in env.schemas] == ["nap", "boom", "peek"]
    assert "secret" not in json.dumps(env.schemas)  # injected, not shown
    env.reset(seed=0)
    obs, *_ = env.step(call("nap", seconds=3))
    assert "timed out after 0.2 s" in obs
    assert not env.woke.is_set()  # the step returned while the tool was still asleep
    assert "kaput" in env.step(call("boom"))[0]
    assert env.step(call("peek", n=5))[0] == "Result of peek: state"
    assert env.step(call("nap", seconds=0.01, secret="x"))[0].startswith("Error")  # hidden arg
    assert env.step("<answer>42</answer>")[1:3] == (1.0, True)


def test_schema_from_hints_and_docstring() -> None:
    def area(width: float, height: float, unit: str = "m") -> str:
        """Area of a rectangle.

        More text that is not part of the description.
        """
        return f"{width * height} {unit}^2"

    schema = tool_schema(area)
    assert schema == {
        "name": "area",
        "description": "Area of a rectangle.",
        "parameters": {
            "type": "object",
            "properties": {
                "width": {"type": "number"},
                "height": {"type": "number"},
                "unit": {"type": "string"},
            },
            "required": ["width", "height"],
        },
    }

    def undocumented(x: int) -> int:
        return x

    with pytest.raises(ValueError, match="docstring"):
        tool_schema(undocumented)


@pytest.mark.parametrize("env_id", ["TextCalculator-v0", "TextSQL-v0"])
@pytest.mark.parametrize(
    "payload",
    ["[" * 100_000, '{"name": "x", "arguments": ' + "[" * 5000 + "]" * 5000 + "}", "9" * 5000],
    ids=["deep-unclosed", "deep-closed", "huge-integer"],
)
def test_pathological_tool_calls_are_answered_not_raised(env_id: str, payload: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=0)
    obs, _, terminated, _, info = env.step(f"<tool_call>{payload}</tool_call>")
    assert obs.startswith("Error: ") and info["tool_error"] and not terminated
    assert obs in env.observation_space
    env.close()


class Spinner(ToolEnv):
    """A tool that never returns on its own (pure Python), and one with a huge result."""

    def tools(self):
        return [self.spin, self.flood]

    def spin(self, n: int) -> str:
        """Count forever."""
        while True:
            n += 1

    def flood(self, n: int) -> str:
        """n characters of x."""
        return "x" * n

    def make_task(self, rng: np.random.Generator) -> Task:
        return Task(prompt="Do something.", answer="42")

    def score(self, answer: str, task: Task) -> float:
        return float(answer == task.answer)


def test_a_runaway_python_tool_is_stopped_not_abandoned() -> None:
    env = Spinner(tool_timeout=0.2, max_turns=5)
    env.reset(seed=0)
    obs, *_ = env.step(call("spin", n=0))
    assert "timed out after 0.2 s" in obs
    for thread in threading.enumerate():  # ToolTimeout ended its loop: no thread spins on
        if thread.name == "tool:spin":
            thread.join(10)
            assert not thread.is_alive()
    assert env.step(call("flood", n=3))[0] == "Result of flood: xxx"


def test_long_results_are_cut_with_a_note() -> None:
    env = Spinner(max_result_length=100)
    env.reset(seed=0)
    obs, *_ = env.step(call("flood", n=5000))
    assert obs.endswith("...[cut: 4900 more characters]")
    assert obs.count("x") == 100
