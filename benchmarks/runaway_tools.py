"""Runaway tools, bounded: textgym's tool envs next to the unbounded baseline, one run.

(1) A Python tool that never returns (``while True``) called with a 0.2 s timeout: CPU
    seconds the process burns in the 2 s after the call was answered. Baseline: the call
    abandoned on a thread that keeps running (what ``ToolEnv`` did before, and what a
    ``concurrent.futures`` timeout does). textgym raises ``ToolTimeout`` inside the thread.
(2) Hostile SQL on ``TextSQL-v0`` (textgym's limits, a 2 s tool timeout) and on the same
    database in this process with only a 1 s progress-handler deadline (baseline): for
    each query, the seconds it took, the seconds the next ``SELECT 1`` waited, and the
    growth of the peak memory of the process that ran it (textgym's query process, the
    baseline's own).

Usage:
    python benchmarks/runaway_tools.py
"""

from __future__ import annotations

import json
import resource
import sqlite3
import threading
import time

import gymnasium as gym
import numpy as np

import textgym  # noqa: F401
from textgym.envs.base import Task, ToolEnv
from textgym.envs.sql.env import build_database

_STOP = threading.Event()


def spin(n: int) -> str:
    """Count until the benchmark ends."""
    while not _STOP.is_set():
        n += 1
    return str(n)


class Spinner(ToolEnv):
    """One runaway tool."""

    def tools(self):
        return [spin]

    def make_task(self, rng: np.random.Generator) -> Task:
        return Task(prompt="Spin.", answer="0")

    def score(self, answer: str, task: Task) -> float:
        return 0.0


def cpu_after(call) -> float:
    """CPU seconds this process burns in the 2 s after ``call()`` returns."""
    call()
    start = time.process_time()
    time.sleep(2.0)
    return time.process_time() - start


def python_tool() -> None:
    env = Spinner(tool_timeout=0.2)
    env.reset(seed=0)
    payload = '<tool_call>{"name": "spin", "arguments": {"n": 0}}</tool_call>'
    stopped = cpu_after(lambda: env.step(payload))

    def abandon() -> None:
        thread = threading.Thread(target=spin, args=(0,), daemon=True)
        thread.start()
        thread.join(0.2)

    abandoned = cpu_after(abandon)
    _STOP.set()
    print("(1) runaway Python tool, CPU seconds in the 2 s after the timeout")
    print(f"    textgym (stopped): {stopped:.2f}   baseline (abandoned): {abandoned:.2f}")


QUERIES = {
    "huge value": "SELECT length(replace(hex(zeroblob(20000000)), '0', 'aaaa'))",
    "doubling string": (
        "WITH RECURSIVE r(i, s) AS (SELECT 1, 'x' UNION ALL SELECT i + 1, s || s FROM r "
        "WHERE i < 28) SELECT length(s) FROM r ORDER BY i DESC LIMIT 1"
    ),
    "endless count": "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
    "SELECT count(DISTINCT i) FROM r",
    "five-way join": "SELECT count(DISTINCT a.name || b.name || c.name || d.name) "
    "FROM employees a, employees b, employees c, employees d",
    # one SQLite step: the progress handler never runs during it
    "quadratic trim": "SELECT length(trim(printf('%.*c', 60000, 'a'), "
    "printf('%.*c', 60000, 'b') || 'a'))",
}


def peak_kib(pid: int | None = None) -> int:
    """Peak resident memory of this process, or of process ``pid`` (0 if it is gone)."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with open(f"/proc/{pid}/status") as status:
            line = next(x for x in status if x.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0
    return int(line.split()[1])


def query_pid(env: gym.Env) -> int | None:
    proc = env.unwrapped._queries._proc
    return None if proc is None else proc.pid


def baseline_connection() -> tuple[sqlite3.Connection, list[float]]:
    conn = build_database(np.random.default_rng(0))
    deadline = [0.0]
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline[0]), 10_000)
    return conn, deadline


def baseline_query(conn: sqlite3.Connection, deadline: list[float], sql: str) -> str:
    deadline[0] = time.monotonic() + 1.0
    try:
        return str(conn.execute(sql).fetchall())[:60]
    except sqlite3.Error as exc:
        return f"error: {exc}"


def sql() -> None:
    env = gym.make("TextSQL-v0", tool_timeout=2.0)
    env.reset(seed=0)
    env.step('<tool_call>{"name": "query", "arguments": {"sql": "SELECT 1"}}</tool_call>')

    def textgym_query(text: str) -> str:
        call = {"name": "query", "arguments": {"sql": text}}
        env.reset(seed=0)  # a fresh episode each time: max_turns never ends one
        return env.step(f"<tool_call>{json.dumps(call)}</tool_call>")[0].splitlines()[-1][:60]

    conn, deadline = baseline_connection()
    rows = []
    for name, text in QUERIES.items():
        for side, run in (
            ("textgym", textgym_query),
            ("baseline", lambda q: baseline_query(conn, deadline, q)),
        ):
            pid = query_pid(env) if side == "textgym" else None
            before = peak_kib(pid)
            start = time.perf_counter()
            answer = run(text)
            took = time.perf_counter() - start
            # a killed query process took its memory with it: its peak is not readable
            grown = max(0, peak_kib(pid) - before) if pid == query_pid(env) or not pid else 0
            start = time.perf_counter()
            run("SELECT 1")
            after = time.perf_counter() - start
            rows.append((name, side, took, after, grown / 1024, answer))
    print("(2) hostile SQL: seconds, next query's seconds, peak memory growth (MiB), answer")
    for name, side, took, after, mib, answer in rows:
        print(f"    {name:16s} {side:9s} {took:6.2f} {after:6.3f} {mib:8.1f}  {answer}")


if __name__ == "__main__":
    python_tool()
    sql()
