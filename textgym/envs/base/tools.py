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
stopped: see :meth:`ToolEnv.run_tool`), a call longer than ``max_call_length``. Results
longer than ``max_result_length`` are cut with a note saying how much was cut.
**Stateful tools**: parameters listed in ``hidden_args`` (e.g. a database connection) are
left out of the schema and filled from :meth:`ToolEnv.tool_state` at call time.
"""

from __future__ import annotations

import ctypes
import inspect
import json
import math
import threading
import types
import typing
from collections.abc import Callable
from typing import Any

import numpy as np

from textgym.envs.base.multi_turn import MultiTurnEnv, Reply
from textgym.envs.base.single_turn import Task
from textgym.parsing import parse_answer, strip_think, tag_contents

_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
}


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


class ToolTimeout(Exception):
    """Raised inside a tool's thread when the call runs past ``tool_timeout``."""


_STOP_GRACE = 1.0  # seconds a timed-out tool is given to unwind after it is stopped


def _raise_in_thread(thread: threading.Thread, exc_type: type[BaseException]) -> None:
    """Raise ``exc_type`` in ``thread`` at its next Python bytecode (CPython's async
    exceptions; a thread inside one long C call sees it when the call returns)."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(exc_type)
        )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object that names each key once (``json.loads`` would keep the last)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key[:40]!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]}... is out of range")
    return value


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

    max_call_length: int = 20_000
    """A ``<tool_call>`` body longer than this many characters is refused unread."""

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
        """Run a checked call within ``tool_timeout``; the result or the error is the reply.

        A call that runs past the timeout is stopped: :meth:`interrupt_tool` is called (a
        stateful env stops its own work there, such as an SQL query) and the tool's thread
        gets :class:`ToolTimeout` raised inside it, which ends Python code at its next
        bytecode. Only a single long call into C outlives that; tools bound their inputs.
        """
        state = self.tool_state()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["result"] = self._tools[name](**args, **state)
            except ToolTimeout:
                pass
            except BaseException as exc:  # the tool's own failure is the model's feedback
                outcome["error"] = exc

        thread = threading.Thread(target=work, name=f"tool:{name}", daemon=True)
        thread.start()
        thread.join(self.tool_timeout)
        if thread.is_alive():
            self.interrupt_tool()
            _raise_in_thread(thread, ToolTimeout)
            thread.join(_STOP_GRACE)
            return self._error(f"{name} timed out after {self.tool_timeout:g} s")
        if "error" in outcome:
            exc = outcome["error"]
            return self._error(f"{name} failed: {type(exc).__name__}: {str(exc)[:500]}")
        return self._result(name, str(outcome.get("result")))

    def interrupt_tool(self) -> None:
        """Stop the work of a tool call that ran past ``tool_timeout`` (override in envs
        whose tools run outside Python bytecode, e.g. ``sqlite3.Connection.interrupt``)."""

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
        self._derived = False
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
        calls = tag_contents(body, "tool_call")
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
            reply = self._error(f"{problem}; make one tool call or give the final answer")
            reply.info["format_ok"] = False  # neither of the two answer formats
            return reply
        return self._call(calls[0])

    def _error(self, message: str) -> Reply:
        return Reply(f"Error: {message.rstrip('.')}.", info={"tool_error": message})

    def _call(self, payload: str) -> Reply:
        if len(payload) > self.max_call_length:
            return self._error(
                f"the tool call is too long ({len(payload)} characters; "
                f"at most {self.max_call_length})"
            )
        try:
            call = json.loads(
                payload,
                object_pairs_hook=_unique_keys,
                parse_constant=_refuse_constant,
                parse_float=_finite_float,
            )
        except json.JSONDecodeError as exc:
            return self._error(f"the tool call is not valid JSON ({exc.msg})")
        except RecursionError:
            return self._error("the tool call is nested too deeply to read")
        except ValueError as exc:  # our hooks, or an integer beyond Python's digit limit
            return self._error(f"the tool call cannot be read ({str(exc)[:80]})")
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return self._error('a tool call is {"name": ..., "arguments": {...}}')
        try:
            payload.encode("utf-8")
            json.dumps(call, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return self._error("the tool call holds an unpaired surrogate (not valid text)")
        except (RecursionError, ValueError):
            return self._error("the tool call is nested too deeply to read")
        name, args = call["name"], call.get("arguments", {})
        names = [schema["name"] for schema in self.schemas]
        if name not in names:
            return self._error(f"unknown tool {name[:60]!r}; tools: {', '.join(names)}")
        if not isinstance(args, dict):
            return self._error("arguments must be a JSON object")
        problem = self.check_arguments(name, args)
        if problem is not None:
            return self._error(problem)
        return self.run_tool(name, args)

    def _result(self, name: str, text: str) -> Reply:
        if len(text) > self.max_result_length:
            cut = len(text) - self.max_result_length
            text = f"{text[: self.max_result_length]}\n...[cut: {cut} more characters]"
        if self._task is not None and self._task.answer and self._task.answer in text:
            self._derived = True  # the player's own call computed it: not a leak
        return Reply(f"Result of {name}: {text}", info={"tool_error": None, "tool": name})

    _derived = False

    def hidden_strings(self) -> list[str]:
        """The expected answer, while the episode runs and until a result of the player's
        own tool call shows it (computing it is what the tools are for)."""
        hidden = self._task is not None and self._episode_active and not self._derived
        return [self._task.answer] if hidden else []
