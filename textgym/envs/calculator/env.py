"""``TextCalculator-v0``: multi-step arithmetic word problems, a calculator tool, exact answers."""

from __future__ import annotations

import ast
import operator
from typing import Any

import numpy as np

from textgym.core import OptionRange, ReferencePlayer
from textgym.envs.base.single_turn import Task
from textgym.envs.base.tools import ToolEnv
from textgym.envs.calculator.reference import CalculatorPlayer

_OPS: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression with + - * / // % and parentheses.

    Returns the value as text (integers without a decimal point).
    """
    if len(expression) > 200:
        raise ValueError("expression too long (200 characters at most)")

    def ev(node: ast.AST) -> float | int:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = ev(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = ev(node.left), ev(node.right)
            if abs(left) > 1e15 or abs(right) > 1e15:
                raise ValueError("numbers too large")
            return _OPS[type(node.op)](left, right)
        raise ValueError("only numbers, + - * / // % and parentheses are allowed")

    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"cannot parse {expression!r}") from None
    value = ev(tree.body)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


_ITEMS = ("apples", "books", "pencils", "bottles", "tickets", "stamps", "coins", "marbles")
_PLACES = ("shop", "library", "school", "warehouse", "market", "club")


def make_problem(rng: np.random.Generator, steps: int = 3) -> tuple[str, int]:
    """A word problem with an integer answer: ``x * y`` (1 step), ``- z`` (2), shared by
    ``k`` (3). The draws are the same for every ``steps``, so a seed gives one problem
    whose first steps are those of its harder versions."""
    if steps not in (1, 2, 3):
        raise ValueError(f"steps must be 1, 2 or 3, got {steps!r}")
    item = str(rng.choice(_ITEMS))
    place = str(rng.choice(_PLACES))
    k = int(rng.integers(3, 10))
    x = int(rng.integers(12, 60))
    y = int(rng.integers(11, 40))
    share = int(rng.integers(max(1, (x * y) // (2 * k)), (x * y) // k))
    z = x * y - share * k
    boxes = f"A {place} has {x} boxes with {y} {item} in each."
    if steps == 1:
        return f"{boxes} How many {item} does it have?", x * y
    if steps == 2:
        return f"{boxes} It gives away {z} {item}. How many {item} are left?", x * y - z
    text = (
        f"{boxes} It gives away {z} {item}, then "
        f"splits the rest equally among {k} groups. How many {item} does each group get?"
    )
    return text, share


class CalculatorTask:
    """The task side of ``TextCalculator-v0`` and ``TextMCPCalculator-v0``: the same
    problems for the same seeds, the same scoring (mix it in before the env base class)."""

    def task_prompt(self) -> str:
        """The task."""
        return "Solve the arithmetic word problem. The answer is a whole number."

    episode_options: dict[str, Any]

    def curriculum_options(self) -> dict[str, OptionRange]:
        """``steps``: calculations the problem needs (1: a product; 2: then a difference;
        3, the default: then a quotient)."""
        return {"steps": OptionRange(1, 3, integer=True, doc="calculations the problem needs")}

    def reference_player(self) -> ReferencePlayer:
        """Calls the calculator once per step, each on the previous result, then answers
        the last result; its mistake is a wrong final answer."""
        return CalculatorPlayer()

    def make_task(self, rng: np.random.Generator) -> Task:
        """A problem whose answer is not visible in its text."""
        steps = int(self.episode_options.get("steps", 3))
        while True:
            text, answer = make_problem(rng, steps)
            if str(answer) not in text:
                return Task(prompt=text, answer=str(answer))

    def score(self, answer: str, task: Task) -> float:
        """1.0 for the exact number (commas and spaces ignored), else 0.0."""
        return float(answer.replace(",", "").replace(" ", "") == task.answer)


class TextCalculatorEnv(CalculatorTask, ToolEnv):
    """Multi-step arithmetic word problems; a ``calculate`` tool; reward 1 for the exact answer.

    ## Description
    Each problem needs a multiplication, a subtraction and a division of numbers too big
    for easy mental arithmetic; the answer is a whole number. Problems whose answer
    appears in the problem text are never drawn. The ``calculate`` tool evaluates an
    expression with ``+ - * / // %`` and parentheses.

    ## Action Space
    ``Text`` (up to 8192 characters; any ``str`` is accepted): one tool call,
    ``<tool_call>{"name": "calculate", "arguments": {"expression": "24*19"}}</tool_call>``,
    or the final ``<answer>...</answer>`` (each after an optional ``<think>`` block).

    ## Observation Space
    ``Text`` (up to 4096 characters): the problem at reset, then each tool call's result
    (``Result of calculate: 456``) or the error it made. ``system_prompt`` holds the
    tool's JSON schema and the two answer formats.

    ## Rewards
    On the final answer: 1.0 for the exact number (commas and spaces ignored), else 0.0;
    0.0 for every tool call.

    ## Episode End
    Terminated by a final answer; truncated after ``max_turns`` answers without one.

    ## Arguments
    * ``max_turns``: answers allowed, tool calls included (8).
    * ``tool_timeout``: seconds a tool call may run before it is stopped (5.0).
    * ``render_mode``: None or ``"ansi"``.

    ## Reset Options
    ``steps`` (1-3, the curriculum) stops the problem after the product (1) or the
    difference (2); the same seed draws the same numbers at every ``steps``.

    ## Info
    ``turn``, ``format_ok``, ``reward_components``, ``tool`` (the tool called),
    ``tool_error`` (the call's error, or None); at the
    end ``expected`` and ``episode_metrics``: ``correct``, ``answered``, ``tool_calls`` and
    ``tool_errors``.

    ## Version History
    * v0: initial version.
    """

    def __init__(
        self, max_turns: int = 8, tool_timeout: float = 5.0, render_mode: str | None = None
    ) -> None:
        super().__init__(max_turns=max_turns, tool_timeout=tool_timeout, render_mode=render_mode)

    def tools(self) -> list:
        """The calculator."""
        return [calculate]
