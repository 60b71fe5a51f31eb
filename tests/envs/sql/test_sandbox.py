"""QueryProcess: SQLite in a child process that a timeout kills and a restart replaces."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from textgym.envs.sql.sandbox import QueryProcess, QueryTimeout, SandboxConfig

HOG = "SELECT length(trim(printf('%.*c', 60000, 'a'), printf('%.*c', 60000, 'b') || 'a'))"


def _database() -> bytes:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t(x INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(5)])
    conn.commit()
    data = conn.serialize()
    conn.close()
    return data


@pytest.fixture
def queries():
    process = QueryProcess(SandboxConfig(query_seconds=5.0))
    process.load(_database())
    yield process
    process.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone too
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_a_query_answers_rows_and_a_header(queries) -> None:
    assert queries.query("SELECT sum(x) AS s FROM t", timeout=5) == {
        "header": ["s"],
        "rows": [["10"]],
        "more": False,
    }


def test_a_single_step_hog_is_killed_at_the_timeout_and_the_next_query_restarts(
    queries,
) -> None:
    queries.query("SELECT 1", timeout=5)
    first = queries._proc.pid
    with pytest.raises(QueryTimeout):
        queries.query(HOG, timeout=0.3)
    assert not _alive(first)  # killed and reaped, not abandoned
    assert queries.query("SELECT count(*) FROM t", timeout=5)["rows"] == [["5"]]
    assert queries._proc.pid != first


def test_writes_are_refused_in_the_child(queries) -> None:
    with pytest.raises(ValueError, match="not authorized"):
        queries.query("DELETE FROM t", timeout=5)
    assert queries.query("SELECT count(*) FROM t", timeout=5)["rows"] == [["5"]]


def test_close_from_another_thread_ends_a_running_query_at_once(queries) -> None:
    queries.query("SELECT 1", timeout=5)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            queries.query(HOG, timeout=60)
        except (ValueError, QueryTimeout) as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.2)
    start = time.monotonic()
    queries.close()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - start < 5  # not the hog's own 5+ s
    assert len(errors) == 1 and "ended the database process" in str(errors[0])


def test_the_memory_limit_is_an_error_reply_not_a_dead_machine() -> None:
    queries = QueryProcess(SandboxConfig(memory_mib=200, query_seconds=10.0))
    queries.load(_database())
    many = (
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 2000) "
        "SELECT length(group_concat(randomblob(900000))) FROM r"
    )
    with pytest.raises(ValueError, match="out of memory"):  # never 1.8 GB, never a hang
        queries.query(many, timeout=30)
    assert queries.query("SELECT 1", timeout=5)["rows"] == [["1"]]
    queries.close()


_ORPHAN = """
import sqlite3, sys, os
from textgym.envs.sql.sandbox import QueryProcess, SandboxConfig
conn = sqlite3.connect(":memory:")
conn.execute("CREATE TABLE t(x)")
q = QueryProcess(SandboxConfig())
q.load(conn.serialize())
q.query("SELECT 1", timeout=10)
print(q._proc.pid, flush=True)
os._exit(0)  # no cleanup: as if killed
"""


def test_the_child_ends_when_its_parent_dies_without_cleaning_up() -> None:
    done = subprocess.run([sys.executable, "-c", _ORPHAN], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[0])
    for _ in range(50):
        if not _alive(pid):
            break
        time.sleep(0.1)
    assert not _alive(pid)
