"""SQLite queries in a child process that can be killed.

SQLite checks for interruption only between the steps of its virtual machine, and one
call of some functions is a single step that can run for minutes (``trim(X, Y)`` over
long strings is quadratic). A thread cannot stop such a call, and closing the connection
under it crashes the process. So :class:`QueryProcess` keeps the database in a child
process (plain ``python -I -S`` running this file: the standard library only, no
textgym import, about 40 ms to start and load): a query that outlives its timeout is ended by
killing the child, and the next query starts a fresh one from the database bytes the
parent keeps. The parent never waits for SQLite longer than the timeout, and nothing of
a killed query survives it.

Inside the child the connection is read-only and bounded (see :class:`SandboxConfig`):
an authorizer that allows only reads and functions, ``PRAGMA query_only``, SQLite's
per-connection limits, a page cache size, an address-space limit for the whole child,
and a progress handler that interrupts a statement after ``query_seconds`` (the graceful
stop; killing the child is the last resort). Results come back as text, cut to
``max_rows`` rows of ``max_cell`` characters a cell.

The protocol is one JSON object a line each way over the child's stdin and stdout.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

#: SQLite's action codes a query may use: reads, functions and recursive CTEs.
_ALLOWED = (
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
)


@dataclass(frozen=True)
class SandboxConfig:
    """The bounds of a query process."""

    query_seconds: float = 1.0
    """A statement running longer is interrupted by SQLite (the graceful stop)."""
    limits: dict[int, int] = field(default_factory=dict)
    """SQLite per-connection limits (``sqlite3.SQLITE_LIMIT_*`` -> value)."""
    cache_kib: int = 16_384
    """KiB of page cache the connection may hold."""
    memory_mib: int = 1024
    """Address space of the whole child process (``RLIMIT_AS``): SQLite answers "out of
    memory" past it."""
    max_rows: int = 50
    """Rows a result returns; ``more`` says whether there were more."""
    max_cell: int = 200
    """Characters a cell returns; a longer value is cut with a note."""


class QueryTimeout(Exception):
    """A query outlived its timeout; its process was killed."""


class _ChildGone(Exception):
    """The child closed its pipe (it died, or was killed from another thread)."""


class QueryProcess:
    """One database in a child process: :meth:`load` it, then :meth:`query` it.

    The child starts at the first query and again after it was killed or died; the
    parent keeps the database bytes, so a restart answers as if nothing happened. A
    query that outlives ``timeout`` raises :class:`QueryTimeout` after the child is
    killed and reaped: the call returns within ``timeout`` plus the time to kill, and
    the next call finds a fresh child. :meth:`close` may be called from any thread, even
    while a query runs (that query then fails at once).
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._data: bytes | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._loaded = False  # the running child holds self._data
        self._lock = threading.Lock()
        self._buffer = b""

    def load(self, data: bytes) -> None:
        """Make ``data`` (``sqlite3.Connection.serialize()`` bytes) the database; it is sent
        to the child at the next query."""
        self._data = bytes(data)
        self._loaded = False

    @property
    def data(self) -> bytes | None:
        """The database bytes last loaded."""
        return self._data

    def query(self, sql: str, timeout: float) -> dict[str, Any]:
        """Run ``sql``: ``{"header": [...], "rows": [[str, ...], ...], "more": bool}``.

        Raises:
            ValueError: SQLite refused or failed the query (the message says why), or
                the child died while running it.
            QueryTimeout: the query outlived ``timeout`` seconds (the child is killed).
        """
        if self._data is None:
            raise RuntimeError("no database loaded")
        with self._lock:
            deadline = time.monotonic() + timeout
            try:
                proc = self._running()
                if not self._loaded:
                    db = base64.b64encode(self._data).decode()
                    self._request(proc, {"op": "load", "db": db}, deadline)
                    self._loaded = True
                reply = self._request(proc, {"op": "query", "sql": sql}, deadline)
            except QueryTimeout:
                self._kill()
                raise
            except _ChildGone:
                self._kill()
                raise ValueError("the query ended the database process") from None
        if "error" in reply:
            raise ValueError(reply["error"])
        return reply

    def close(self) -> None:
        """Kill the child (if any); a later query starts a new one. Safe from another
        thread while a query runs: the child is killed at once, and the query's own
        thread, which then reads the end of the pipe, closes the pipe (closing it here
        could hand its file descriptor to an unrelated file before the reader is done)."""
        if self._lock.acquire(blocking=False):
            try:
                self._kill()
            finally:
                self._lock.release()
            return
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def __del__(self) -> None:
        self._kill()

    # ------------------------------------------------------------------ the pipe

    def _running(self) -> subprocess.Popen[bytes]:
        """The live child, started (and configured) if there is none."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._kill()
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self._proc, self._buffer, self._loaded = proc, b"", False
        config = asdict(self.config)
        config["limits"] = [[k, v] for k, v in self.config.limits.items()]
        self._send(proc, {"op": "config", **config})
        return proc

    def _send(self, proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(message).encode() + b"\n")
            proc.stdin.flush()
        except (OSError, ValueError):  # a dead child, or a pipe closed by close()
            raise _ChildGone from None

    def _request(
        self, proc: subprocess.Popen[bytes], message: dict[str, Any], deadline: float
    ) -> dict[str, Any]:
        self._send(proc, message)
        return json.loads(self._read_line(proc, deadline))

    def _read_line(self, proc: subprocess.Popen[bytes], deadline: float) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QueryTimeout
            try:
                ready, _, _ = select.select([fd], [], [], left)
            except (OSError, ValueError):  # closed from another thread
                raise _ChildGone from None
            if not ready:
                raise QueryTimeout
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                raise _ChildGone from None
            if not chunk:
                raise _ChildGone
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _kill(self) -> None:
        proc, self._proc = getattr(self, "_proc", None), None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


# ---------------------------------------------------------------------- the child


def _cell(value: Any, max_cell: int) -> str:
    text = str(value)
    if len(text) > max_cell:
        return f"{text[:max_cell]}...[cut: {len(text) - max_cell} more characters]"
    return text


def _authorizer(action: int, *args: Any) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


class _Child:
    """The child's side: one read-only connection, answering one JSON line per line."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.conn: sqlite3.Connection | None = None
        self.deadline = 0.0

    def load(self, data: bytes) -> None:
        if self.conn is not None:
            self.conn.close()
        conn = sqlite3.connect(":memory:")
        conn.deserialize(data)
        for limit, value in self.config["limits"]:
            conn.setlimit(limit, value)
        conn.execute(f"PRAGMA cache_size = -{int(self.config['cache_kib'])}")
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(_authorizer)
        conn.set_progress_handler(lambda: int(time.monotonic() > self.deadline), 10_000)
        self.conn = conn

    def query(self, sql: str) -> dict[str, Any]:
        if self.conn is None:
            return {"error": "no database loaded"}
        self.deadline = time.monotonic() + float(self.config["query_seconds"])
        max_rows, max_cell = int(self.config["max_rows"]), int(self.config["max_cell"])
        try:
            cursor = self.conn.execute(sql)
            header = [_cell(c[0], max_cell) for c in cursor.description or []]
            rows = cursor.fetchmany(max_rows + 1)
            cursor.close()
        except MemoryError:  # the process's address-space limit
            return {"error": "out of memory"}
        except (sqlite3.Error, OverflowError, UnicodeError) as exc:
            return {"error": str(exc) or type(exc).__name__}
        cells = [[_cell(v, max_cell) for v in row] for row in rows[:max_rows]]
        return {"header": header, "rows": cells, "more": len(rows) > max_rows}


def _watch_parent(parent: int) -> None:
    """End the child when its parent is gone (a killed parent cannot kill it)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _serve() -> None:
    parent = os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    child: _Child | None = None
    for raw in sys.stdin.buffer:
        message = json.loads(raw)
        op = message.pop("op")
        if op == "config":
            memory = int(message["memory_mib"]) << 20
            if resource is not None:  # not on Windows: SQLite's own limits still hold
                _, hard = resource.getrlimit(resource.RLIMIT_AS)
                soft = memory if hard == resource.RLIM_INFINITY else min(memory, hard)
                resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
            child = _Child(message)
            continue
        assert child is not None
        try:
            if op == "load":
                child.load(base64.b64decode(message["db"]))
                reply: dict[str, Any] = {"ok": True}
            else:
                reply = child.query(message["sql"])
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        sys.stdout.buffer.write(json.dumps(reply).encode() + b"\n")
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    _serve()
