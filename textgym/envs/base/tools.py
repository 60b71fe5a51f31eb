"""Tool-using text envs: plain Python functions become tools the model calls in text.

A tool is a function with type hints and a docstring; :func:`tool_schema` turns it into a
JSON schema (name, description from the docstring's first paragraph, parameters from the
hints). The model calls a tool with one tag holding JSON::

    <tool_call>{"name": "calculate", "arguments": {"expression": "37 * 24"}}</tool_call>

and ends the episode with ``<answer>...</answer>``. Subclass :class:`ToolEnv`::

    class Lookup(ToolEnv):
        def tools(self):
            return [self.capital]

        def capital(self, country: str) -> str:
            \"\"\"The capital of a country.\"\"\"
            return {"France": "Paris"}.get(country, "unknown")

        def make_task(self, rng):
            return Task(prompt="What is the capital of France?", answer="Paris")

        def score(self, answer, task):
            return float(answer == task.answer)

Every problem with a call is answered as the next observation, never raised: malformed
JSON, an unknown tool, missing, unexpected or wrongly typed arguments, a tool that raises
(its error text is shown), a tool that runs past ``tool_timeout`` seconds (the call is
abandoned: Python cannot kill a thread, so the function should not hold resources).
**Stateful tools**: parameters listed in ``hidden_args`` (e.g. a database connection) are
left out of the schema and filled from :meth:`ToolEnv.tool_state` at call time.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any

import numpy as np

from textgym.envs.base.multi_turn import MultiTurnEnv, Reply
from textgym.envs.base.single_turn import Task
from textgym.parsing import parse_answer, strip_think

_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
}
_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)


def _json_type(hint: Any) -> str:
    origin = typing.get_origin(hint) or hint
    if origin in (typing.Union, types.UnionType):
        raise TypeError("optional/union tool parameters are not supported; use a default")
    if origin not in _JSON_TYPES:
        raise TypeError(f"unsupported tool parameter type {hint!r}")
    return _JSON_TYPES[origin]


def tool_schema(fn: Callable[..., Any], hidden_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON schema of a tool from its signature, type hints and docstring."""
    doc = inspect.getdoc(fn)
    if not doc:
        raise ValueError(f"tool {fn.__name__!r} needs a docstring (it becomes its description)")
    hints = typing.get_type_hints(fn)
    properties: dict[str, Any] = {}
    required = []
    for name, param in inspect.signature(fn).parameters.items():
        if name in hidden_args or name == "self":
            continue
        if name not in hints:
            raise ValueError(f"tool {fn.__name__!r}: parameter {name!r} needs a type hint")
        properties[name] = {"type": _json_type(hints[name])}
        if param.default is inspect.Parameter.empty:
            required.append(name)
    return {
        "name": fn.__name__,
        "description": doc.split("\n\n")[0].replace("\n", " "),
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


def _type_ok(value: Any, json_type: str) -> bool:
    if json_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if json_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(
        value, {"string": str, "boolean": bool, "array": list, "object": dict}[json_type]
    )


class ToolEnv(MultiTurnEnv):
    """Base class: a task solved by calling tools, then answering.

    Args:
        max_turns: model turns (tool calls and answers) before truncation.
        tool_timeout: seconds a tool may run before the call is abandoned.
        max_result_length: tool results are cut to this many characters.
        render_mode: None or ``"ansi"``.
    """

    rate_metrics = ("correct", "answered")

    hidden_args: tuple[str, ...] = ()
    """Tool parameters filled by the env (from :meth:`tool_state`), hidden from the model."""

    def __init__(
        self,
        max_turns: int = 8,
        tool_timeout: float = 5.0,
        max_result_length: int = 2000,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(max_turns=max_turns, answer_tag=None, render_mode=render_mode)
        if not tool_timeout > 0:
            raise ValueError(f"tool_timeout must be > 0 seconds, got {tool_timeout!r}")
        self.tool_timeout = float(tool_timeout)
        self.max_result_length = max_result_length
        self.schemas = self.tool_schemas()
        self.rules_prompt = self.task_prompt()
        self.system_prompt = (
            f"{self.rules_prompt}\n\nTools (JSON schemas):\n"
            + "\n".join(json.dumps(s) for s in self.schemas)
            + '\n\nCall a tool with <tool_call>{"name": ..., "arguments": {...}}</tool_call>'
            " (one call per turn; the result comes back as the next message). Give the final"
            " answer inside <answer>...</answer>."
        )
        self._task: Task | None = None
        self._tool_calls = 0
        self._tool_errors = 0
        self._reward = 0.0

    # --------------------------------------------------------------- for subclasses

    def tools(self) -> list[Callable[..., Any]]:
        """The tool functions (bound methods are fine). Override."""
        raise NotImplementedError

    def tool_schemas(self) -> list[dict[str, Any]]:
        """The JSON schemas the model sees (from :meth:`tools`; envs whose tools live
        elsewhere, such as :class:`~textgym.envs.base.mcp.MCPEnv`, override this together
        with :meth:`check_arguments` and :meth:`run_tool`)."""
        self._tools = {fn.__name__: fn for fn in self.tools()}
        return [tool_schema(fn, self.hidden_args) for fn in self._tools.values()]

    def check_arguments(self, name: str, args: dict[str, Any]) -> str | None:
        """What is wrong with the arguments of a call to the known tool ``name`` (None: ok)."""
        schema = next(s for s in self.schemas if s["name"] == name)["parameters"]
        props = schema["properties"]
        unexpected = sorted(set(args) - set(props))
        missing = [a for a in schema["required"] if a not in args]
        if unexpected or missing:
            parts = [f"unexpected {unexpected}"] * bool(unexpected)
            parts += [f"missing {missing}"] * bool(missing)
            return f"{name}: {', '.join(parts)} arguments"
        for arg, value in args.items():
            if not _type_ok(value, props[arg]["type"]):
                return f"{name}: argument {arg!r} must be a {props[arg]['type']}"
        return None

    def run_tool(self, name: str, args: dict[str, Any]) -> Reply:
        """Run a checked call within ``tool_timeout``; the result or the error is the reply."""
        state = self.tool_state()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        future = pool.submit(self._tools[name], **args, **state)
        try:
            result = future.result(timeout=self.tool_timeout)
        except concurrent.futures.TimeoutError:
            return self._error(f"{name} timed out after {self.tool_timeout:g} s")
        except Exception as exc:  # the tool's own failure is the model's feedback
            return self._error(f"{name} failed: {type(exc).__name__}: {exc}")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return self._result(name, str(result))

    def task_prompt(self) -> str:
        """What the task is about, without the tool instructions (override)."""
        return "Solve the task. You may use the tools."

    def make_task(self, rng: np.random.Generator) -> Task:
        """Generate a task from ``rng``. Override."""
        raise NotImplementedError

    def score(self, answer: str, task: Task) -> float:
        """Score the final answer in [0, 1]. Override."""
        raise NotImplementedError

    def tool_state(self) -> dict[str, Any]:
        """Values of ``hidden_args`` for the current episode (override in stateful envs)."""
        return {}

    # --------------------------------------------------------------- the turn loop

    def start(self, rng: np.random.Generator) -> str:
        """Draw the task; the first observation is its prompt."""
        self._tool_calls = self._tool_errors = 0
        self._reward = 0.0
        self._task = self.make_task(rng)
        return self._task.prompt

    def episode_metrics(self) -> dict[str, float]:
        """``correct`` (the final answer scored 1), ``answered`` (a final answer was given),
        ``tool_calls`` and ``tool_errors`` (calls answered with an error)."""
        return {
            "correct": float(self._reward == 1.0),
            "answered": float(self._answered),
            "tool_calls": float(self._tool_calls),
            "tool_errors": float(self._tool_errors),
        }

    def respond(self, answer: str | None) -> Reply:
        """Run a tool call, or score a final answer."""
        reply = self._respond(answer)
        self._answered = reply.done and "expected" in reply.info
        if reply.done:
            self._reward = reply.reward
        else:
            self._tool_calls += 1
            self._tool_errors += reply.info.get("tool_error") is not None
        return reply

    _answered = False

    def _respond(self, answer: str | None) -> Reply:
        assert answer is not None and self._task is not None  # answer_tag is None
        _, body = strip_think(answer)
        final = parse_answer(answer, tag="answer", think_tag="think")
        calls = _CALL.findall(body)
        if final.ok and not calls:
            reward = float(self.score(final.answer.strip(), self._task))
            if not 0.0 <= reward <= 1.0:
                raise RuntimeError(f"{type(self).__name__}.score returned {reward}")
            return Reply(
                f"Final answer received; reward {reward:.2f}.",
                reward=reward,
                done=True,
                info={"expected": self._task.answer, "tool_error": None},
            )
        if len(calls) != 1:
            problem = "several tool calls" if calls else "no tool call and no <answer>"
            return self._error(f"{problem}; make one tool call or give the final answer")
        return self._call(calls[0])

    def _error(self, message: str) -> Reply:
        return Reply(f"Error: {message.rstrip('.')}.", info={"tool_error": message})

    def _call(self, payload: str) -> Reply:
        try:
            call = json.loads(payload)
        except json.JSONDecodeError as exc:
            return self._error(f"the tool call is not valid JSON ({exc.msg})")
        except RecursionError:
            return self._error("the tool call is nested too deeply to read")
        except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
            return self._error(f"the tool call cannot be read ({str(exc)[:80]})")
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return self._error('a tool call is {"name": ..., "arguments": {...}}')
        name, args = call["name"], call.get("arguments", {})
        names = [schema["name"] for schema in self.schemas]
        if name not in names:
            return self._error(f"unknown tool {name!r}; tools: {', '.join(names)}")
        if not isinstance(args, dict):
            return self._error("arguments must be a JSON object")
        problem = self.check_arguments(name, args)
        if problem is not None:
            return self._error(problem)
        return self.run_tool(name, args)

    def _result(self, name: str, text: str) -> Reply:
        text = text[: self.max_result_length]
        return Reply(f"Result of {name}: {text}", info={"tool_error": None, "tool": name})

    def hidden_strings(self) -> list[str]:
        """The expected answer, while the episode runs."""
        return [self._task.answer] if self._task is not None and self._episode_active else []
