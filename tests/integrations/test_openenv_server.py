"""``textgym serve`` holds its limits under hostile clients, on loopback.

Runs with the OpenEnv tests in their own venv (``bash scripts/isolated_tests.sh openenv``).
Each test starts a real server process and attacks it as a careless or hostile client
would: idle and surplus connections, bad frames, huge bodies, half-sent requests, a stop
signal while a tool runs, hostile SQL from several clients at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

if os.environ.get("TEXTGYM_ISOLATED") != "openenv":
    pytest.importorskip(
        "openenv", reason="runs in its own venv: bash scripts/isolated_tests.sh openenv"
    )

import requests
from hypothesis import HealthCheck, given, settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.envs.sql.test_hostile_sql import hostile_sql
from tests.integrations.test_openenv import ENV, _free_port, _start, _stop, _wait_healthy
from textgym.integrations.openenv_server import ServerLimits

pytestmark = pytest.mark.server


def _ws(port: int, **kwargs):
    return connect(f"ws://127.0.0.1:{port}/ws", **kwargs)


def _ask(ws, message) -> dict:
    ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))
    return json.loads(ws.recv(timeout=30))


def test_limits_are_checked(capsys) -> None:
    from textgym.cli import main

    for bad in ({"max_sessions": 0}, {"max_body_bytes": True}, {"header_timeout": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ServerLimits(**bad)
    with pytest.raises(ValueError, match="session_timeout"):
        ServerLimits(session_timeout=-1)
    assert ServerLimits(session_timeout=None).session_timeout is None
    for option in ("--max-sessions", "--max-body-bytes", "--header-timeout"):
        assert main(["serve", "--env", ENV, option, "0"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "must be" in err, err


def test_the_session_limit_counts_connections_and_idle_ones_are_closed() -> None:
    """--max-sessions 1: a connection that never resets still holds the slot; a second
    is refused and closed; the idle one is closed by the server (not only its env), and
    then a new one gets in. It used to be that the env closed but the WebSocket stayed,
    a later reset revived it, and three sessions were held with a limit of one."""
    proc, port = _start(ENV, "--max-sessions", "1", "--session-timeout", "1")
    try:
        with _ws(port) as first:
            with _ws(port) as second:
                refused = json.loads(second.recv(timeout=30))
                assert refused["data"]["code"] == "CAPACITY_REACHED"
                with pytest.raises(ConnectionClosed):
                    second.recv(timeout=30)
            assert (
                requests.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["sessions"] == 1
            )
            closing = json.loads(first.recv(timeout=30))  # nothing sent: idle
            assert "without a message" in closing["data"]["message"]
            with pytest.raises(ConnectionClosed):
                first.send(json.dumps({"type": "reset", "data": {"seed": 1}}))
                first.recv(timeout=30)
        with _ws(port) as third:
            assert _ask(third, {"type": "reset", "data": {"seed": 1}})["type"] == "observation"
    finally:
        assert _stop(proc) == 0


def test_every_bad_message_is_an_error_and_the_session_lives_on() -> None:
    """Messages that used to close the session (a binary frame, a 5,000-digit seed) or
    to apply a step and then report an error (a lone surrogate) are each one error reply;
    the episode is untouched and the session plays on."""
    proc, port = _start(ENV)
    try:
        with _ws(port) as ws:
            assert _ask(ws, {"type": "reset", "data": {"seed": 3}})["type"] == "observation"
            bad = [
                b"\x00\x01binary",
                '{"type": "reset", "data": {"seed": ' + "9" * 5000 + "}}",
                '{"type": "reset", "data": {"seed": 18446744073709551616}}',
                '{"type": "step", "data": {"text": "<move>5\\ud800</move>"}}',
                "[" * 100_000 + "]" * 100_000,
                '{"type": "step", "data": [1]}',
                '["reset"]',
                '{"type": 5}',
                "",
            ]
            for message in bad:
                reply = _ask(ws, message)
                assert reply["type"] == "error", message[:40]
            state = _ask(ws, {"type": "state"})
            assert state["data"]["step_count"] == 0  # the surrogate step was not played
            reply = _ask(ws, {"type": "step", "data": {"text": "<move>5</move>"}})
            assert reply["type"] == "observation"
            assert _ask(ws, {"type": "state"})["data"]["step_count"] == 1
    finally:
        assert _stop(proc) == 0


def test_a_message_over_the_cap_closes_with_1009_and_the_server_lives_on() -> None:
    proc, port = _start(ENV, "--max-message-bytes", "4096")
    try:
        with _ws(port) as ws:
            ws.send(json.dumps({"type": "step", "data": {"text": "x" * 10_000}}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        with _ws(port) as ws:
            assert _ask(ws, {"type": "reset", "data": {"seed": 0}})["type"] == "observation"
    finally:
        assert _stop(proc) == 0


def test_http_is_bounded_and_answers_errors_not_tracebacks() -> None:
    proc, port = _start(ENV, "--max-body-bytes", "10000")
    url = f"http://127.0.0.1:{port}"
    try:
        big = requests.post(f"{url}/reset", data=b"{" + b" " * 20_000 + b"}", timeout=30)
        assert big.status_code == 413

        def chunks():
            for _ in range(30):
                yield b" " * 1000

        chunked = requests.post(f"{url}/reset", data=chunks(), timeout=30)  # no length
        assert chunked.status_code == 413
        step = requests.post(f"{url}/step", json={"action": {"text": "<move>5</move>"}}, timeout=30)
        assert step.status_code == 400 and "/ws" in step.json()["detail"]
        bad_option = requests.post(f"{url}/reset", json={"seed": 1, "options": "fast"}, timeout=30)
        assert bad_option.status_code == 400 and "options" in bad_option.json()["detail"]
        assert requests.post(f"{url}/reset", data=b"{", timeout=30).status_code == 400
        good = requests.post(f"{url}/reset", json={"seed": 1}, timeout=30)
        assert good.status_code == 200 and good.json()["observation"]["text"]
        assert requests.get(f"{url}/health", timeout=30).json()["sessions"] == 0
    finally:
        assert _stop(proc) == 0
    assert "Traceback" not in proc.stderr.read()


def test_half_sent_requests_neither_starve_health_nor_stay_open() -> None:
    """1,200 connections that send half a request head: /health still answers while they
    are open, and the server closes each after --header-timeout (a trickle of bytes does
    not hold one open)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 3000 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (3000, hard))
    elif soft < 3000:
        pytest.skip(f"this machine allows {hard} open files")
    proc, port = _start(ENV, "--header-timeout", "2")
    sockets = []
    try:
        for _ in range(1200):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # no blank line: half sent
            sockets.append(s)
        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=30)
        assert health.json()["status"] == "healthy"
        trickle = sockets[0]
        for _ in range(4):  # a byte a second, past the 2 s timeout
            time.sleep(1)
            try:
                trickle.sendall(b"X")
            except OSError:
                break
        for s in sockets:
            s.settimeout(30)
            with contextlib.suppress(ConnectionResetError):
                assert s.recv(1) == b""  # closed by the server, nothing answered
    finally:
        for s in sockets:
            s.close()
        assert _stop(proc) == 0


_SQL_SERVER = """
import sys
from textgym.integrations.openenv_server import ServerLimits, serve
serve("TextSQL-v0", port=int(sys.argv[1]), make_kwargs={"tool_timeout": float(sys.argv[2])},
      limits=ServerLimits(shutdown_timeout=1))
"""


def _sql_server(tool_timeout: float) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SQL_SERVER, str(port), str(tool_timeout)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_healthy(proc, port)
    return proc, port


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_stop_signal_while_a_tool_runs_exits_within_the_shutdown_timeout() -> None:
    """A query that runs for its whole 60 s tool timeout does not hold the server: SIGINT
    and SIGTERM end it after --shutdown-timeout (1 s here), and the query's process goes
    with it."""
    from tests.envs.sql.test_hostile_sql import KNOWN_HOGS, _tool_call

    for sig in (signal.SIGINT, signal.SIGTERM):
        proc, port = _sql_server(tool_timeout=60)
        try:
            with _ws(port) as ws:
                assert _ask(ws, {"type": "reset", "data": {"seed": 0}})["type"] == "observation"
                ws.send(json.dumps({"type": "step", "data": {"text": _tool_call(KNOWN_HOGS[0])}}))
                deadline = time.monotonic() + 30
                while not (query_processes := _children(proc.pid)):
                    assert time.monotonic() < deadline, "the query process never started"
                    time.sleep(0.1)
                time.sleep(0.5)
                proc.send_signal(sig)
                assert proc.wait(timeout=15) == 0  # long before the query's 60 s
        finally:
            proc.kill()
        deadline = time.monotonic() + 15
        while any(os.path.exists(f"/proc/{p}") for p in query_processes):
            assert time.monotonic() < deadline, "the query process outlived the server"
            time.sleep(0.1)


def test_hostile_sql_from_several_clients_through_serve() -> None:
    """The known single-step hogs, from three clients at once, then resets: every reply
    comes within the tool timeout plus slack, and the server stays up and usable."""
    from tests.envs.sql.test_hostile_sql import KNOWN_HOGS, SLACK, _tool_call

    tool_timeout = 0.5
    proc, port = _sql_server(tool_timeout)
    took: list[float] = []
    errors: list[BaseException] = []

    def client(k: int) -> None:
        try:
            with _ws(port) as ws:
                for sql in KNOWN_HOGS:
                    _ask(ws, {"type": "reset", "data": {"seed": k}})
                    start = time.monotonic()
                    reply = _ask(ws, {"type": "step", "data": {"text": _tool_call(sql)}})
                    took.append(time.monotonic() - start)
                    assert "timed out" in reply["data"]["observation"]["text"], reply
                    start = time.monotonic()
                    _ask(ws, {"type": "reset", "data": {"seed": k + 1}})
                    took.append(time.monotonic() - start)
                reply = _ask(ws, {"type": "step", "data": {"text": _tool_call("SELECT 7")}})
                assert "Result of query: 7" in reply["data"]["observation"]["text"]
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert max(took) < tool_timeout + SLACK, took
        assert proc.poll() is None
    finally:
        assert _stop(proc) == 0


def test_load_many_clients_against_the_session_limit() -> None:
    """30 clients at once against --max-sessions 8: exactly 8 play, 22 are refused with
    a capacity error; once they close, 8 more play."""
    proc, port = _start(ENV, "--max-sessions", "8")
    try:
        results: list[str] = []
        lock = threading.Lock()
        hold = threading.Event()

        def client() -> None:
            with _ws(port) as ws:
                with contextlib.suppress(ConnectionClosed):  # a refused one may be closed
                    ws.send(json.dumps({"type": "reset", "data": {"seed": 1}}))
                reply = json.loads(ws.recv(timeout=30))  # the refusal came first
                with lock:
                    results.append(
                        reply["type"] if reply["type"] != "error" else reply["data"]["code"]
                    )
                if reply["type"] == "observation":
                    hold.wait(timeout=60)

        threads = [threading.Thread(target=client) for _ in range(30)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(results) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(results) == ["CAPACITY_REACHED"] * 22 + ["observation"] * 8
        hold.set()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + 30
        while requests.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["sessions"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        results.clear()
        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == ["observation"] * 8
    finally:
        assert _stop(proc) == 0


@pytest.fixture(scope="module")
def sql_port():
    proc, port = _sql_server(tool_timeout=0.5)
    yield port
    assert _stop(proc) == 0


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(sql=hostile_sql())
def test_hostile_sql_from_the_strategy_through_serve(sql_port, sql) -> None:
    """The Hypothesis strategy of tests/envs/sql (every core function, huge arguments)
    through a served TextSQL-v0: each step and reset within the bound, then usable."""
    from tests.envs.sql.test_hostile_sql import SLACK, _tool_call

    with _ws(sql_port) as ws:
        _ask(ws, {"type": "reset", "data": {"seed": 0}})
        start = time.monotonic()
        reply = _ask(ws, {"type": "step", "data": {"text": _tool_call(sql)}})
        assert time.monotonic() - start < 0.5 + SLACK, sql
        text = reply["data"]["observation"]["text"]
        assert text.startswith(("Result of query", "Error: query")), text[:200]
        start = time.monotonic()
        _ask(ws, {"type": "reset", "data": {"seed": 1}})
        assert time.monotonic() - start < SLACK
        reply = _ask(ws, {"type": "step", "data": {"text": _tool_call("SELECT 7")}})
        assert "Result of query: 7" in reply["data"]["observation"]["text"]
