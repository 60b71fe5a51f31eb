"""``TextSQL-v0``: each episode gets its own SQLite database and a question about it.

The database is generated from the episode seed (departments and employees with salaries
and hiring years); the model explores it with a read-only ``query`` tool and answers. The
connection is per-episode state injected into the tool as a hidden argument (see
:class:`~textgym.envs.base.tools.ToolEnv`). Writes of any kind are refused by an SQLite
authorizer (only reads and functions are allowed, so ``INSERT``, ``UPDATE``, ``DROP``,
``CREATE``, ``ATTACH`` and every ``PRAGMA`` fail with "not authorized") and the
connection is also ``query_only``; long queries are interrupted, and no string or blob a
query builds may exceed :data:`MAX_VALUE_BYTES` (SQLite's length limit). SQLite's other
per-connection limits bound statement length, expression depth and compound selects, and
the page cache is :data:`CACHE_KIB`; results are cut to :data:`MAX_ROWS` rows of
:data:`MAX_CELL` characters a cell, with a note.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import numpy as np

from textgym.core import ReferencePlayer
from textgym.envs.base.single_turn import Task
from textgym.envs.base.tools import ToolEnv

_DEPARTMENTS = ("sales", "research", "support", "finance", "legal", "design")
_CITIES = ("Lyon", "Oslo", "Porto", "Graz", "Turku", "Ghent")
_NAMES = (
    "Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea",
    "Max", "Nia", "Oto", "Pia", "Raf", "Sol", "Tom", "Uma", "Vic", "Wen", "Yan", "Zoe",
)  # fmt: skip
_ALLOWED = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,  # recursive CTEs read too; the time limit bounds them
}
SCHEMA = (
    "departments(name TEXT PRIMARY KEY, city TEXT); "
    "employees(id INTEGER PRIMARY KEY, name TEXT, department TEXT, salary INTEGER, "
    "hired INTEGER)"
)


def _authorizer(action: int, *args: Any) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


#: The longest string or blob a query may build (SQLite's own length limit): a query that
#: tries to build more fails at once with "string or blob too big" instead of taking the
#: machine's memory and time.
MAX_VALUE_BYTES = 1_000_000


#: KiB of page cache a connection may hold; sorts and temporary b-trees beyond it spill to
#: temporary files (SQLite's memory bound per connection; the heap limit is process-wide).
CACHE_KIB = 16_384
_LIMITS = {
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 100,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 50,
    sqlite3.SQLITE_LIMIT_COLUMN: 200,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 20,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1_000,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_WORKER_THREADS: 0,
}

#: Rows a query result shows; a longer result ends with a note that it was cut.
MAX_ROWS = 50
#: Characters a result cell shows; a longer value is cut with a note.
MAX_CELL = 200


def _cell(value: Any) -> str:
    text = str(value)
    if len(text) > MAX_CELL:
        return f"{text[:MAX_CELL]}...[cut: {len(text) - MAX_CELL} more characters]"
    return text


def _lock(conn: sqlite3.Connection, deadline: list[float]) -> None:
    """Make ``conn`` read-only with bounded values; statements running past
    ``deadline[0]`` are interrupted."""
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    for limit, value in _LIMITS.items():
        conn.setlimit(limit, value)
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute("PRAGMA query_only = ON")
    conn.set_authorizer(_authorizer)

    def progress() -> int:
        return int(time.monotonic() > deadline[0])

    conn.set_progress_handler(progress, 10_000)


def build_database(rng: np.random.Generator) -> sqlite3.Connection:
    """A fresh in-memory database with 4-6 departments and 12-24 employees."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    n_dep = int(rng.integers(4, 7))
    deps = [str(d) for d in rng.permutation(_DEPARTMENTS)[:n_dep]]
    cities = [str(c) for c in rng.permutation(_CITIES)[:n_dep]]
    conn.execute("CREATE TABLE departments(name TEXT PRIMARY KEY, city TEXT)")
    conn.execute(
        "CREATE TABLE employees(id INTEGER PRIMARY KEY, name TEXT, department TEXT, "
        "salary INTEGER, hired INTEGER)"
    )
    conn.executemany("INSERT INTO departments VALUES (?, ?)", list(zip(deps, cities, strict=True)))
    n_emp = int(rng.integers(12, 25))
    names = [str(n) for n in rng.permutation(_NAMES)[:n_emp]]
    rows = [
        (
            i + 1,
            names[i],
            deps[int(rng.integers(n_dep))],
            int(rng.integers(30, 120)) * 1000,
            int(rng.integers(2010, 2025)),
        )
        for i in range(n_emp)
    ]
    conn.executemany("INSERT INTO employees VALUES (?, ?, ?, ?, ?)", rows)
    conn.commit()
    return conn


def _question(conn: sqlite3.Connection, rng: np.random.Generator) -> tuple[str, str]:
    deps = [r[0] for r in conn.execute("SELECT name FROM departments ORDER BY name")]
    dep = deps[int(rng.integers(len(deps)))]
    kind = int(rng.integers(4))
    if kind == 0:
        limit = int(rng.integers(40, 100)) * 1000
        q = f"How many employees earn more than {limit} (salary)?"
        sql, args = "SELECT COUNT(*) FROM employees WHERE salary > ?", (limit,)
    elif kind == 1:
        q = f"What is the total salary of the {dep} department?"
        sql, args = "SELECT COALESCE(SUM(salary), 0) FROM employees WHERE department = ?", (dep,)
    elif kind == 2:
        q = "In which city is the department with the highest average salary?"
        sql, args = (
            "SELECT d.city FROM employees e JOIN departments d ON e.department = d.name "
            "GROUP BY d.name ORDER BY AVG(e.salary) DESC, d.name LIMIT 1",
            (),
        )
    else:
        q = f"Who is the earliest hire in the {dep} department (the first by id on ties)?"
        sql, args = (
            "SELECT name FROM employees WHERE department = ? ORDER BY hired, id LIMIT 1",
            (dep,),
        )
    row = conn.execute(sql, args).fetchone()
    return q, "none" if row is None else str(row[0])


class TextSQLEnv(ToolEnv):
    """Answer a question about this episode's SQLite database, using a read-only ``query``.

    ## Description
    Every episode gets its own in-memory SQLite database generated from its seed
    (departments and employees with salaries and hiring years) and a question with one
    right answer. The ``query(sql)`` tool receives the episode's connection as a hidden
    argument (not in its schema). The connection is read-only three ways (an authorizer
    that allows only reads, ``PRAGMA query_only``, one statement per call), a query that
    runs past ``query_seconds`` is interrupted, and results are cut to ``MAX_ROWS`` (50)
    rows of ``MAX_CELL`` (200) characters a cell, with a note.

    ## Action Space
    ``Text`` (up to 8192 characters; any ``str`` is accepted): one tool call,
    ``<tool_call>{"name": "query", "arguments": {"sql": "SELECT ..."}}</tool_call>``, or
    the final ``<answer>...</answer>``.

    ## Observation Space
    ``Text`` (up to 4096 characters): the question at reset, then each query's rows
    (``Result of query: ...``, a header line, then one line a row) or its error.
    ``system_prompt`` holds the tool's JSON schema and the two answer formats.

    ## Rewards
    On the final answer: 1.0 for the exact answer (case and surrounding space ignored),
    else 0.0; 0.0 for every query.

    ## Episode End
    Terminated by a final answer; truncated after ``max_turns`` answers without one.

    ## Arguments
    * ``max_turns``: answers allowed, queries included (8).
    * ``tool_timeout``: seconds a tool call may run (5.0).
    * ``query_seconds``: seconds a query may run before SQLite interrupts it (1.0).
    * ``render_mode``: None or ``"ansi"``.

    ## Reset Options
    None: every episode draws its own database and question.

    ## Info
    ``turn``, ``format_ok``, ``reward_components``, ``tool`` (the tool called),
    ``tool_error`` (the call's error, or None); at the end ``expected`` and
    ``episode_metrics``: ``correct``, ``answered``, ``tool_calls`` and ``tool_errors``.

    ## Version History
    * v0: initial version.
    """

    hidden_args = ("db",)

    def __init__(
        self,
        max_turns: int = 8,
        tool_timeout: float = 5.0,
        query_seconds: float = 1.0,
        render_mode: str | None = None,
    ) -> None:
        self.query_seconds = float(query_seconds)
        self._deadline = [0.0]
        super().__init__(max_turns=max_turns, tool_timeout=tool_timeout, render_mode=render_mode)
        self._db: sqlite3.Connection | None = None

    def reference_player(self) -> ReferencePlayer:
        """Runs the one query that answers the question, then answers its first cell; its
        mistake answers without looking."""
        from textgym.envs.sql.reference import SQLPlayer

        return SQLPlayer()

    def tools(self) -> list:
        """The read-only query tool."""
        return [self.query]

    def query(self, sql: str, db: sqlite3.Connection) -> str:
        """Run one read-only SQL query on the database and return the rows (50 at most)."""
        self._deadline[0] = time.monotonic() + self.query_seconds
        try:
            cursor = db.execute(sql)
            header = [c[0] for c in cursor.description or []]
            rows = cursor.fetchmany(MAX_ROWS + 1)
        except sqlite3.Error as exc:
            raise ValueError(str(exc)) from None
        lines = [" | ".join(header)] + [" | ".join(map(_cell, r)) for r in rows[:MAX_ROWS]]
        if len(rows) > MAX_ROWS:
            lines.append(f"...[cut: more than {MAX_ROWS} rows]")
        return "\n".join(lines)

    def interrupt_tool(self) -> None:
        """Interrupt the running query, so that the connection is free at once."""
        if self._db is not None:
            self._db.interrupt()

    def task_prompt(self) -> str:
        """The task."""
        return f"Answer the question about a SQLite database with tables {SCHEMA}."

    def make_task(self, rng: np.random.Generator) -> Task:
        """A fresh database and a question whose answer is not in the question."""
        if self._db is not None:
            self._db.close()
        self._db = build_database(rng)
        while True:
            question, answer = _question(self._db, rng)
            if answer.lower() not in question.lower():
                break
        _lock(self._db, self._deadline)
        return Task(prompt=question, answer=answer)

    def tool_state(self) -> dict[str, Any]:
        """This episode's connection."""
        return {"db": self._db}

    def score(self, answer: str, task: Task) -> float:
        """1.0 for the exact answer (case and spaces ignored)."""
        return float(answer.strip().lower() == task.answer.lower())

    def close(self) -> None:
        """Close the episode's database."""
        if self._db is not None:
            self._db.close()
            self._db = None
        super().close()

    # sqlite3 connections cannot be pickled or copied: carry the database bytes instead
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        db = state.pop("_db")
        if db is None:
            state["_db_bytes"] = None
        else:
            db.set_authorizer(None)  # serialize() is refused under the read-only authorizer
            try:
                state["_db_bytes"] = db.serialize()
            finally:
                db.set_authorizer(_authorizer)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        data = state.pop("_db_bytes")
        self.__dict__.update(state)
        self._db = None
        if data is not None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False)
            self._db.deserialize(data)
            _lock(self._db, self._deadline)
        self._tools = {"query": self.query}
