"""MCP envs: the tools of MCP servers become the env's tools.

An :class:`MCPEnv` starts each server it names as a subprocess, speaks the Model Context
Protocol to it over stdio with the official ``mcp`` SDK (``pip install 'textgym[mcp]'``),
lists its tools and shows their JSON schemas to the model, which calls them exactly like
:class:`~textgym.envs.base.tools.ToolEnv` tools::

    <tool_call>{"name": "calculate", "arguments": {"expression": "37 * 24"}}</tool_call>

Subclass it and name the servers; the task side is the same as a ``ToolEnv``::

    class Weather(MCPEnv):
        def servers(self):
            return [MCPServerSpec(sys.executable, ("-m", "my_weather_server"))]

        def make_task(self, rng):
            return Task(prompt="How warm is it in Oslo?", answer="-3")

        def score(self, answer, task):
            return float(answer == task.answer)

Lifecycle: the servers start when the env is made (their tool lists build the system
prompt) and stay up across episodes; ``close()`` stops them. Arguments are checked against
each tool's ``inputSchema`` before anything is sent. A tool that reports an error
(``isError``) is answered as an observation, like any tool error. A server that crashes,
or does not answer within ``tool_timeout`` seconds, ends the episode at once with
``truncated=True`` and ``info["server_error"]`` (its last stderr lines included); the
server is stopped in the background and the next ``reset`` starts a fresh one. Copies and
pickles of the env carry no connection: they start their own servers when they need them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textgym.envs.base.multi_turn import Reply
from textgym.envs.base.tools import ToolEnv

_STDERR_TAIL = 600
_FATAL_CODES = (-32000, -32001)  # JSON-RPC codes the SDK uses: connection closed, timeout


def _require_mcp() -> Any:
    try:
        import mcp
    except ImportError:
        raise ImportError("MCP envs need the mcp SDK: pip install 'textgym[mcp]'") from None
    return mcp


@dataclass(frozen=True)
class MCPServerSpec:
    """How to start one MCP server that speaks over stdio."""

    command: str
    """The executable (``sys.executable`` for a Python server)."""
    args: tuple[str, ...] = ()
    """Its arguments."""
    env: dict[str, str] | None = field(default=None, hash=False)
    """Extra environment variables (the SDK passes a minimal, safe environment)."""
    cwd: str | None = None
    """Working directory."""

    def __str__(self) -> str:
        return " ".join((self.command, *self.args))


class MCPServerError(RuntimeError):
    """An MCP server crashed, hung or could not be started."""


class MCPConnection:
    """One running MCP server, driven from synchronous code.

    A private event loop on a daemon thread owns the SDK's async client; the public methods
    block with timeouts, so a dead or silent server raises :class:`MCPServerError` instead
    of hanging the caller. The server's stderr goes to a temporary file whose tail is
    quoted in errors.

    Args:
        spec: how to start the server.
        startup_timeout: seconds to start it and list its tools.
    """

    def __init__(self, spec: MCPServerSpec, startup_timeout: float = 30.0) -> None:
        mcp = _require_mcp()
        self.spec = spec
        # closed by the finalizer, with the connection
        self._errlog = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=_run_loop, args=(self._loop,), name=f"mcp:{spec.command}", daemon=True
        )
        self._thread.start()
        self._stop = asyncio.Event()  # binds to the private loop when first awaited
        self._session: Any = None
        self._ready: concurrent.futures.Future[list[Any]] = concurrent.futures.Future()
        params = mcp.StdioServerParameters(
            command=spec.command, args=list(spec.args), env=spec.env, cwd=spec.cwd
        )
        self._serving = asyncio.run_coroutine_threadsafe(self._serve(mcp, params), self._loop)
        self._finalizer = weakref.finalize(
            self, _shutdown, self._loop, self._thread, self._serving, self._stop, self._errlog
        )
        try:
            self.tools: list[Any] = self._ready.result(timeout=startup_timeout)
        except concurrent.futures.TimeoutError:
            tail = self._stderr_tail()  # read before close() drops the log
            self.close()
            raise MCPServerError(
                f"MCP server `{spec}` did not start within {startup_timeout:g} s{tail}"
            ) from None
        except BaseException as exc:
            tail = self._stderr_tail()
            self.close()
            raise MCPServerError(
                f"could not start MCP server `{spec}`: {_describe(exc)}{tail}"
            ) from None

    async def _serve(self, mcp: Any, params: Any) -> None:
        try:
            async with (
                mcp.stdio_client(params, errlog=self._errlog) as (read, write),
                mcp.ClientSession(read, write) as session,
            ):
                await session.initialize()
                listed = await session.list_tools()
                self._session = session
                self._ready.set_result(list(listed.tools))
                await self._stop.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise
        finally:
            self._session = None

    @property
    def alive(self) -> bool:
        """Whether the server is connected and has not failed."""
        return self._session is not None and not self._serving.done()

    def call(self, name: str, arguments: dict[str, Any], timeout: float) -> tuple[str, bool]:
        """Call a tool; returns its text content and whether it reported an error.

        Raises:
            MCPServerError: the server is gone, or gave no answer within ``timeout`` s.
        """
        session = self._session
        if session is None or self._serving.done():
            raise MCPServerError(f"MCP server `{self.spec}` is not running{self._stderr_tail()}")
        future = asyncio.run_coroutine_threadsafe(
            session.call_tool(name, arguments, read_timeout_seconds=timeout), self._loop
        )
        try:
            result = future.result(timeout=timeout + 1.0)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise MCPServerError(
                f"MCP server `{self.spec}` gave no answer to {name} within {timeout:g} s"
            ) from None
        except Exception as exc:
            code = getattr(exc, "code", None)
            if isinstance(code, int) and code not in _FATAL_CODES and self.alive:
                # The server answered with a protocol error: it is alive, the call was bad.
                return str(exc), True
            raise MCPServerError(
                f"MCP server `{self.spec}` failed during {name}: {_describe(exc)}"
                f"{self._stderr_tail()}"
            ) from None
        texts = [getattr(block, "text", None) for block in result.content]
        text = "\n".join(t for t in texts if t is not None)
        if not text and getattr(result, "structured_content", None) is not None:
            text = str(result.structured_content)
        return text, bool(getattr(result, "is_error", False))

    def close(self, wait: bool = True) -> None:
        """Stop the server (bounded by the SDK's shutdown: stdin closed, then SIGTERM,
        then SIGKILL). ``wait=False`` returns at once and lets the shutdown finish in the
        background."""
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self._loop.call_soon_threadsafe(self._stop.set)
        if wait:
            self._finalizer()
        else:
            self._serving.add_done_callback(lambda _: self._finalizer())

    def _stderr_tail(self) -> str:
        try:
            self._errlog.flush()
            self._errlog.seek(0)
            text = self._errlog.read()[-_STDERR_TAIL:].strip()
        except (OSError, ValueError):
            return ""
        return f"\nserver stderr (last lines):\n{text}" if text else ""


def _describe(exc: BaseException) -> str:
    while getattr(exc, "exceptions", None):  # an exception group: its first member
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    return f"{type(exc).__name__}: {exc}"


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()


def _shutdown(
    loop: asyncio.AbstractEventLoop,
    thread: threading.Thread,
    serving: concurrent.futures.Future,
    stop: asyncio.Event,
    errlog: Any,
) -> None:
    """Ask the client to stop, wait (bounded) for it, stop the loop thread, drop the log."""
    with contextlib.suppress(RuntimeError):  # the loop is already closed
        loop.call_soon_threadsafe(stop.set)
    if thread is not threading.current_thread():
        with contextlib.suppress(Exception):
            serving.result(timeout=15.0)
    with contextlib.suppress(RuntimeError):  # the loop is already closed
        loop.call_soon_threadsafe(loop.stop)
    if thread is not threading.current_thread():
        thread.join(timeout=5.0)
    errlog.close()


def _display_schema(schema: Any) -> Any:
    """The schema without ``title`` keys (noise for the model)."""
    if isinstance(schema, dict):
        return {k: _display_schema(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_display_schema(v) for v in schema]
    return schema


class MCPEnv(ToolEnv):
    """Base class: a tool task whose tools are served by MCP servers over stdio.

    Args:
        max_turns: model turns (tool calls and answers) before truncation.
        tool_timeout: seconds a call may take before the server counts as hung.
        startup_timeout: seconds a server may take to start and list its tools.
        max_result_length: tool results are cut to this many characters.
        render_mode: None or ``"ansi"``.
    """

    def __init__(
        self,
        max_turns: int = 8,
        tool_timeout: float = 10.0,
        startup_timeout: float = 30.0,
        max_result_length: int = 2000,
        render_mode: str | None = None,
    ) -> None:
        if not startup_timeout > 0:
            raise ValueError(f"startup_timeout must be > 0 seconds, got {startup_timeout!r}")
        self.startup_timeout = float(startup_timeout)
        self._specs = list(self.servers())
        if not self._specs:
            raise ValueError(f"{type(self).__name__}.servers() named no server")
        self._connections: list[MCPConnection] | None = None
        super().__init__(
            max_turns=max_turns,
            tool_timeout=tool_timeout,
            max_result_length=max_result_length,
            render_mode=render_mode,
        )

    # --------------------------------------------------------------- for subclasses

    def servers(self) -> list[MCPServerSpec]:
        """The MCP servers whose tools the model may call. Override."""
        raise NotImplementedError

    # --------------------------------------------------------------- tools from servers

    def tool_schemas(self) -> list[dict[str, Any]]:
        """Start the servers and turn their tool lists into schemas."""
        self._connect()
        return self._schemas

    def _connect(self) -> None:
        connections: list[MCPConnection] = []
        try:
            for spec in self._specs:
                connections.append(MCPConnection(spec, self.startup_timeout))
        except BaseException:
            for conn in connections:
                conn.close(wait=False)
            raise
        schemas, owner, input_schemas = [], {}, {}
        for index, conn in enumerate(connections):
            for tool in conn.tools:
                if tool.name in owner:
                    for c in connections:
                        c.close(wait=False)
                    raise ValueError(f"two MCP servers offer a tool named {tool.name!r}")
                owner[tool.name] = index
                input_schema = getattr(tool, "input_schema", None)
                if input_schema is None:
                    input_schema = getattr(tool, "inputSchema", None) or {"type": "object"}
                input_schemas[tool.name] = input_schema
                schemas.append(
                    {
                        "name": tool.name,
                        "description": inspect.cleandoc(tool.description or ""),
                        "parameters": _display_schema(input_schema),
                    }
                )
        previous = getattr(self, "_schemas", None)
        if previous is not None and previous != schemas:
            for conn in connections:
                conn.close(wait=False)
            raise MCPServerError("the restarted MCP servers offer different tools than before")
        self._connections, self._schemas = connections, schemas
        self._owner, self._input_schemas = owner, input_schemas
        self._validators: dict[str, Any] = {}

    def _disconnect(self, wait: bool) -> None:
        for conn in self._connections or ():
            conn.close(wait=wait)
        self._connections = None

    def check_arguments(self, name: str, args: dict[str, Any]) -> str | None:
        """Unknown argument names, then the tool's ``inputSchema`` (first violation)."""
        schema = self._input_schemas[name]
        if name not in self._validators:
            self._validators[name] = _jsonschema().Draft202012Validator(schema)
        validator = self._validators[name]
        props = schema.get("properties")
        if isinstance(props, dict):
            unexpected = sorted(set(args) - set(props))
            if unexpected:
                return f"{name}: unexpected {unexpected} arguments"
        errors = sorted(validator.iter_errors(args), key=lambda e: list(e.path))
        if errors:
            error = errors[0]
            where = f"argument {error.path[0]!r}: " if error.path else ""
            return f"{name}: {where}{error.message}"
        return None

    def run_tool(self, name: str, args: dict[str, Any]) -> Reply:
        """Send the call to the tool's server; a crash or a hang ends the episode."""
        if self._connections is None:  # a copy or an unpickled env
            self._connect()
        conn = self._connections[self._owner[name]]
        try:
            text, is_error = conn.call(name, args, self.tool_timeout)
        except MCPServerError as exc:
            self._disconnect(wait=False)
            return Reply(
                "Error: the tool server stopped working; the episode is over.",
                truncated=True,
                info={"tool_error": str(exc), "server_error": str(exc)},
            )
        if is_error:
            text = text.removeprefix(f"Error executing tool {name}: ")  # the SDK's prefix
            return self._error(f"{name} failed: {text}")
        return self._result(name, text)

    # --------------------------------------------------------------- lifecycle

    def start(self, rng: np.random.Generator) -> str:
        """Restart servers that died, then draw the task."""
        if self._connections is None or not all(c.alive for c in self._connections):
            self._disconnect(wait=False)
            self._connect()
        return super().start(rng)

    def close(self) -> None:
        """Stop the servers."""
        self._disconnect(wait=True)
        super().close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_connections"] = None
        state["_validators"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _jsonschema() -> Any:
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - the mcp SDK depends on it
        raise ImportError("MCP envs need jsonschema: pip install 'textgym[mcp]'") from None
    return jsonschema
