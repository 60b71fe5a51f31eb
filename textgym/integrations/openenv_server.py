"""``textgym serve``: any env behind a server that speaks OpenEnv's protocol and holds its
limits (``pip install 'textgym[openenv]'``).

The protocol is OpenEnv's (its clients, :class:`~openenv.core.GenericEnvClient` and
:class:`~textgym.integrations.openenv.TextgymClient`, work unchanged): a WebSocket
session at ``/ws`` exchanging ``reset``/``step``/``state``/``close`` messages, plus
``/health``, ``/schema``, ``/metadata`` and a stateless HTTP ``/reset``. The server is
textgym's own, because a server open to model output and to any client must hold limits
that OpenEnv's generic one does not:

- **A session is a connection.** ``max_sessions`` counts open WebSocket connections
  (an env is made for each); a connection beyond it is answered with a capacity error and
  closed. ``session_timeout`` closes the connection itself after that many seconds
  without a message (an error message says why first), and its env with it.
- **Every bad message is an error reply, and the session stays usable**: text that is
  not JSON or is too deeply nested, numbers too long to parse (a 5,000-digit seed), a
  binary frame, an unknown type, a step without text, an answer that is not valid
  Unicode (a lone surrogate: refused before the step, so nothing is applied), a seed
  outside ``0 <= seed < 2**64``, unknown reset fields, a step before reset or after the
  end. The one message that closes a session is one larger than ``max_message_bytes``
  (the WebSocket protocol's "message too big", close code 1009).
- **HTTP is bounded**: a request body over ``max_body_bytes`` is answered 413 unread; a
  connection that has not sent a whole request head within ``header_timeout`` seconds is
  closed (half-sent requests cannot pile up and starve ``/health``). HTTP has no
  episodes: ``/reset`` plays a reset on a fresh env (counted as a session while it runs);
  ``/step`` and ``/state`` answer 400 saying to use ``/ws``.
- **Stopping is bounded**: SIGINT or SIGTERM stop the server within
  ``shutdown_timeout`` seconds even while tools run. Each session's env lives in its own
  daemon thread, so a step still running at the deadline is abandoned, not waited for
  (a TextSQL-v0 query process exits with its parent).
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from openenv.core.env_server.serialization import serialize_observation
from openenv.core.env_server.types import WSErrorCode
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from textgym.integrations.openenv import (
    TextAction,
    TextgymEnvironment,
    TextObservation,
    TextState,
)


@dataclass(frozen=True)
class ServerLimits:
    """What one ``textgym serve`` process allows; every bound is checked here."""

    max_sessions: int = 64
    """WebSocket connections open at once (each holds one env)."""
    session_timeout: float | None = None
    """Seconds without a message after which a connection is closed; None: never."""
    max_body_bytes: int = 1 << 20
    """Largest HTTP request body (larger: 413, unread)."""
    max_message_bytes: int = 1 << 20
    """Largest WebSocket message (larger: the connection closes with code 1009)."""
    header_timeout: float = 10.0
    """Seconds a connection has to send a whole HTTP request head."""
    shutdown_timeout: float = 5.0
    """Seconds SIGINT/SIGTERM wait for sessions before the process ends anyway."""

    def __post_init__(self) -> None:
        for name in ("max_sessions", "max_body_bytes", "max_message_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        for name in ("session_timeout", "header_timeout", "shutdown_timeout"):
            value = getattr(self, name)
            if value is None and name == "session_timeout":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value!r}")


class _Worker:
    """One daemon thread running one session's env calls in order (envs are not
    thread-safe, and some tools must stay on the thread that made them). Daemon: a call
    still running when the server stops does not hold the process."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the thread and wait for its result."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((fn, args, kwargs, loop, future))
        return await future

    def submit(self, fn: Callable[[], Any]) -> None:
        """Queue ``fn`` without waiting (a session's last call: closing its env)."""
        self._calls.put((fn, (), {}, None, None))

    def stop(self) -> None:
        """End the thread once the queued calls are done."""
        self._calls.put(None)

    def _run(self) -> None:
        while (item := self._calls.get()) is not None:
            fn, args, kwargs, loop, future = item
            try:
                result, error = fn(*args, **kwargs), None
            except Exception as exc:  # handed to the waiting coroutine
                result, error = None, exc
            if loop is not None:
                try:
                    loop.call_soon_threadsafe(_settle, future, result, error)
                except RuntimeError:  # the loop has closed: the server is gone
                    return


def _settle(future: asyncio.Future, result: Any, error: Exception | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _Slots:
    """Counts sessions (WebSocket connections, HTTP resets in progress)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.active = limit, 0

    def take(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def give(self) -> None:
        self.active -= 1


class _BadMessage(ValueError):
    def __init__(self, message: str, code: WSErrorCode = WSErrorCode.VALIDATION_ERROR) -> None:
        super().__init__(message)
        self.code = code


def _dumps(payload: Mapping[str, Any]) -> str:
    # ASCII escapes: a reply stays valid UTF-8 whatever text the env produced.
    return json.dumps(payload, ensure_ascii=True, allow_nan=False)


def _error(message: str, code: WSErrorCode, **extra: Any) -> str:
    return _dumps({"type": "error", "data": {"message": message, "code": code.value, **extra}})


def _parse(raw: str) -> dict[str, Any]:
    """A client's message as a dict with a type; _BadMessage otherwise."""
    try:
        message = json.loads(raw)
    except ValueError as exc:  # bad JSON, and numbers too long to parse
        raise _BadMessage(f"invalid JSON: {exc}", WSErrorCode.INVALID_JSON) from None
    except RecursionError:
        raise _BadMessage("invalid JSON: nested too deeply", WSErrorCode.INVALID_JSON) from None
    if not isinstance(message, dict) or not isinstance(message.get("type", ""), str):
        raise _BadMessage("a message is a JSON object with a type", WSErrorCode.INVALID_JSON)
    data = message.get("data", {})
    if not isinstance(data, dict):
        raise _BadMessage(f"data must be an object, got {type(data).__name__}")
    return {"type": message.get("type", ""), "data": data}


def _action(data: Mapping[str, Any]) -> TextAction:
    try:
        action = TextAction.model_validate(data)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _BadMessage(f"a step's data is {{'text': ANSWER}}: {errors}") from None
    try:
        action.text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _BadMessage(
            f"the answer is not valid Unicode (a lone surrogate at {exc.start}); not played"
        ) from None
    return action


def _observation(observation: TextObservation) -> str:
    return _dumps({"type": "observation", "data": serialize_observation(observation)})


class _Session:
    """One WebSocket connection: its env, its thread, its message loop."""

    def __init__(self, websocket: WebSocket, make_env: Callable[[], TextgymEnvironment]) -> None:
        self.websocket, self.make_env = websocket, make_env
        self.worker = _Worker(f"textgym-session-{id(self):x}")
        self.env: TextgymEnvironment | None = None

    async def run(self, timeout: float | None) -> None:
        try:
            self.env = await self.worker.call(self.make_env)
        except Exception as exc:
            await self.websocket.send_text(
                _error(f"the env could not be made: {exc}", WSErrorCode.FACTORY_ERROR)
            )
            return
        while True:
            try:
                event = await asyncio.wait_for(self.websocket.receive(), timeout)
            except TimeoutError:
                await self.websocket.send_text(
                    _error(
                        f"session closed after {timeout:g} s without a message",
                        WSErrorCode.SESSION_ERROR,
                    )
                )
                await self.websocket.close(code=1000, reason="idle timeout")
                return
            if event["type"] == "websocket.disconnect":
                return
            if event.get("text") is None:
                await self.websocket.send_text(
                    _error(
                        "binary frames are not messages: send JSON text", WSErrorCode.INVALID_JSON
                    )
                )
                continue
            reply = await self.answer(event["text"])
            if reply is None:  # a close message: no reply, as OpenEnv's server does
                await self.websocket.close(code=1000)
                return
            await self.websocket.send_text(reply)

    async def answer(self, raw: str) -> str | None:
        """The reply to one message; None for a close message (the session ends)."""
        env = self.env
        assert env is not None
        try:
            message = _parse(raw)
            kind, data = message["type"], message["data"]
            if kind == "reset":
                return _observation(await self.worker.call(env.reset, **data))
            if kind == "step":
                return _observation(await self.worker.call(env.step, _action(data)))
            if kind == "state":
                return _dumps({"type": "state", "data": env.state.model_dump(mode="json")})
            if kind == "close":
                return None
            raise _BadMessage(f"unknown message type {kind!r}", WSErrorCode.UNKNOWN_TYPE)
        except _BadMessage as exc:
            return _error(str(exc), exc.code)
        except (ValueError, TypeError, RuntimeError) as exc:  # the env refused the call
            return _error(str(exc), WSErrorCode.EXECUTION_ERROR)

    def close(self) -> None:
        """Close the env on its own thread (after any call still running) and end it."""
        if self.env is not None:
            self.worker.submit(self.env.close)
        self.worker.stop()


class _BodyLimit:
    """ASGI middleware: an HTTP body larger than ``max_bytes`` is answered 413, unread."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._too_large(send)
            return
        received, started = 0, False

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _TooLarge
            return message

        async def watched(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await self._too_large(send)

    async def _too_large(self, send: Any) -> None:
        body = _dumps({"detail": f"request body over {self.max_bytes} bytes"}).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def make_app(
    env_id: str,
    *,
    max_sessions: int = 64,
    session_timeout: float | None = None,
    system_prompt: str | None = None,
    make_kwargs: Mapping[str, Any] | None = None,
    limits: ServerLimits | None = None,
) -> FastAPI:
    """The app serving ``env_id``, one env per WebSocket session (see the module).

    Args:
        env_id: the env to serve; checked here by making one (a bad id fails now, not
            in the first session).
        max_sessions: connections open at once (``limits`` overrides it when given).
        session_timeout: seconds without a message after which a connection is closed;
            None: only when its client goes (``limits`` overrides it when given).
        system_prompt: replaces the env's system prompt in reset observations.
        make_kwargs: keyword arguments for ``gymnasium.make``.
        limits: every bound at once.
    """
    if limits is None:
        limits = ServerLimits(max_sessions=max_sessions, session_timeout=session_timeout)
    kwargs = dict(make_kwargs or {})
    try:
        probe = TextgymEnvironment(env_id, kwargs, system_prompt)
    except gym.error.Error as exc:
        raise ValueError(
            f"cannot serve {env_id!r}: {exc} (textgym envs lists the registered envs)"
        ) from None
    metadata = probe.get_metadata().model_dump(mode="json")
    probe.close()
    slots = _Slots(limits.max_sessions)

    def make_env() -> TextgymEnvironment:
        return TextgymEnvironment(env_id, kwargs, system_prompt)

    app = FastAPI(title=f"textgym: {env_id}", version=str(metadata.get("version", "")))
    app.state.limits = limits
    app.state.slots = slots

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "healthy", "sessions": slots.active, "max_sessions": slots.limit}

    @app.get("/metadata")
    async def get_metadata() -> dict[str, Any]:
        return metadata

    @app.get("/schema")
    async def schema() -> dict[str, Any]:
        observation = TextObservation.model_json_schema()
        return {
            "action": TextAction.model_json_schema(),
            "observation": observation,
            "reset_observation": observation,
            "state": TextState.model_json_schema(),
        }

    @app.post("/reset")
    async def http_reset(request: Request) -> Response:
        try:
            data = json.loads(await request.body() or b"{}")
        except (ValueError, RecursionError) as exc:  # bad JSON, numbers too long to parse
            return JSONResponse({"detail": f"the body is not JSON: {exc}"}, status_code=400)
        if not isinstance(data, dict):
            return JSONResponse({"detail": "the body is a JSON object"}, status_code=400)
        if not slots.take():
            return JSONResponse({"detail": f"all {slots.limit} sessions busy"}, status_code=503)
        worker = _Worker("textgym-http-reset")
        env: TextgymEnvironment | None = None
        try:
            env = await worker.call(make_env)
            observation = await worker.call(env.reset, **data)
            return Response(
                _dumps(serialize_observation(observation)), media_type="application/json"
            )
        except (ValueError, TypeError, RuntimeError) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        finally:
            if env is not None:
                worker.submit(env.close)
            worker.stop()
            slots.give()

    no_http_episode = (
        "HTTP requests have no episode (each would get a fresh env): play over the "
        "WebSocket at /ws (openenv's GenericEnvClient, textgym's TextgymClient)"
    )

    @app.post("/step")
    async def http_step() -> JSONResponse:
        return JSONResponse({"detail": no_http_episode}, status_code=400)

    @app.get("/state")
    async def http_state() -> JSONResponse:
        return JSONResponse({"detail": no_http_episode}, status_code=400)

    @app.websocket("/ws")
    async def websocket_session(websocket: WebSocket) -> None:
        await websocket.accept()
        if not slots.take():
            await websocket.send_text(
                _error(
                    f"capacity reached: all {slots.limit} sessions are open",
                    WSErrorCode.CAPACITY_REACHED,
                    active_sessions=slots.active,
                    max_sessions=slots.limit,
                )
            )
            await websocket.close(code=1013)
            return
        session = _Session(websocket, make_env)
        try:
            await session.run(limits.session_timeout)
        except (WebSocketDisconnect, RuntimeError):  # the client went while we answered
            pass
        finally:
            session.close()
            slots.give()

    app.add_middleware(_BodyLimit, max_bytes=limits.max_body_bytes)
    return app


def _header_timeout_protocol(seconds: float) -> type:
    """uvicorn's h11 protocol, closing a connection that has not sent a whole request
    head within ``seconds`` of connecting or of its previous response (uvicorn's own
    keep-alive timer restarts at every byte, so a trickle of bytes would hold it)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_timer()

        def _arm_header_timer(self) -> None:
            self.loop.call_later(seconds, self._header_timeout)

        def _header_timeout(self) -> None:
            transport = self.transport
            if transport.is_closing() or transport.get_protocol() is not self:
                return  # closed, or upgraded to a WebSocket
            if self.conn.their_state is h11.IDLE:
                transport.close()

    return HeaderTimeoutH11Protocol


def serve(
    env_id: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    max_sessions: int = 64,
    session_timeout: float | None = None,
    system_prompt: str | None = None,
    log_level: str = "warning",
    limits: ServerLimits | None = None,
    make_kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Serve ``env_id`` until interrupted: SIGINT or SIGTERM stop the server within
    ``limits.shutdown_timeout`` seconds, then return (arguments as in :func:`make_app`;
    ``log_level`` is uvicorn's)."""
    import signal

    import uvicorn

    if limits is None:
        limits = ServerLimits(max_sessions=max_sessions, session_timeout=session_timeout)
    app = make_app(env_id, system_prompt=system_prompt, make_kwargs=make_kwargs, limits=limits)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=_header_timeout_protocol(limits.header_timeout),
        ws_max_size=limits.max_message_bytes,
        timeout_graceful_shutdown=max(1, round(limits.shutdown_timeout)),
        lifespan="off",
    )
    # uvicorn shuts down gracefully on either signal, then re-raises it; SIGTERM then
    # ends like Ctrl-C (uvicorn.run returns) instead of killing the process.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = ["ServerLimits", "make_app", "serve"]
