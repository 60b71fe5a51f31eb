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
from typing import Any

import numpy as np

from textgym.core import ReferencePlayer
from textgym.envs.base.multi_turn import Reply
from textgym.envs.base.single_turn import Task
from textgym.envs.base.tools import ToolEnv
from textgym.envs.sql.reference import SQLPlayer
from textgym.envs.sql.sandbox import QueryProcess, QueryTimeout, SandboxConfig

_DEPARTMENTS = ("sales", "research", "support", "finance", "legal", "design")
_CITIES = ("Lyon", "Oslo", "Porto", "Graz", "Turku", "Ghent")
_NAMES = (
    "Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea",
    "Max", "Nia", "Oto", "Pia", "Raf", "Sol", "Tom", "Uma", "Vic", "Wen", "Yan", "Zoe",
)  # fmt: skip
SCHEMA = (
    "departments(name TEXT PRIMARY KEY, city TEXT); "
    "employees(id INTEGER PRIMARY KEY, name TEXT, department TEXT, salary INTEGER, "
    "hired INTEGER)"
)


#: The longest string or blob a query may build (SQLite's own length limit): a query that
#: tries to build more fails at once with "string or blob too big" instead of taking the
#: machine's memory and time.
MAX_VALUE_BYTES = 1_000_000


#: KiB of page cache a connection may hold; sorts and temporary b-trees beyond it spill to
#: temporary files (the memory of the whole query process is bounded by :data:`MEMORY_MIB`).
CACHE_KIB = 16_384
#: MiB of address space the query process may use (its ``RLIMIT_AS``).
MEMORY_MIB = 1024
_LIMITS = {
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 100,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 50,
    sqlite3.SQLITE_LIMIT_COLUMN: 200,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 20,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1_000,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_WORKER_THREADS: 0,
    sqlite3.SQLITE_LIMIT_LENGTH: MAX_VALUE_BYTES,
}

#: Rows a query result shows; a longer result ends with a note that it was cut.
MAX_ROWS = 50
#: Characters a result cell shows; a longer value is cut with a note.
MAX_CELL = 200


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
    right answer. The ``query(sql)`` tool runs in a child process that holds the
    episode's database. The connection is read-only three ways (an authorizer that allows
    only reads, ``PRAGMA query_only``, one statement per call), a query that runs past
    ``query_seconds`` is interrupted, one that outlives ``tool_timeout`` (a single
    SQLite step can) is ended by killing its process, and results are cut to
    ``MAX_ROWS`` (50) rows of ``MAX_CELL`` (200) characters a cell, with a note.

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
    * ``tool_timeout``: seconds a query may run before its process is killed (5.0).
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

    def __init__(
        self,
        max_turns: int = 8,
        tool_timeout: float = 5.0,
        query_seconds: float = 1.0,
        render_mode: str | None = None,
    ) -> None:
        if not query_seconds > 0:
            raise ValueError(f"query_seconds must be > 0, got {query_seconds!r}")
        self.query_seconds = float(query_seconds)
        super().__init__(max_turns=max_turns, tool_timeout=tool_timeout, render_mode=render_mode)
        self._queries = QueryProcess(self._sandbox_config())

    def _sandbox_config(self) -> SandboxConfig:
        return SandboxConfig(
            query_seconds=self.query_seconds,
            limits=dict(_LIMITS),
            cache_kib=CACHE_KIB,
            memory_mib=MEMORY_MIB,
            max_rows=MAX_ROWS,
            max_cell=MAX_CELL,
        )

    def reference_player(self) -> ReferencePlayer:
        """Runs the one query that answers the question, then answers its first cell; its
        mistake answers without looking."""
        return SQLPlayer()

    def tools(self) -> list:
        """The read-only query tool."""
        return [self.query]

    def query(self, sql: str) -> str:
        """Run one read-only SQL query on the database and return the rows (50 at most)."""
        result = self._queries.query(sql, timeout=self.tool_timeout)
        lines = [" | ".join(result["header"])] + [" | ".join(row) for row in result["rows"]]
        if result["more"]:
            lines.append(f"...[cut: more than {MAX_ROWS} rows]")
        return "\n".join(lines)

    def run_tool(self, name: str, args: dict[str, Any]) -> Reply:
        """Run the query in this thread: its process bounds it to ``tool_timeout`` (a
        thread could not stop SQLite)."""
        try:
            return self._result(name, self.query(**args))
        except QueryTimeout:
            return self._error(f"{name} timed out after {self.tool_timeout:g} s")
        except ValueError as exc:
            return self._error(f"{name} failed: ValueError: {str(exc)[:500]}")

    def database(self) -> sqlite3.Connection:
        """A private, writable copy of this episode's database, to inspect it (the model's
        queries never see changes made to it)."""
        if self._queries.data is None:
            raise RuntimeError("no episode yet: call reset() first")
        conn = sqlite3.connect(":memory:")
        conn.deserialize(self._queries.data)
        return conn

    def task_prompt(self) -> str:
        """The task."""
        return f"Answer the question about a SQLite database with tables {SCHEMA}."

    def make_task(self, rng: np.random.Generator) -> Task:
        """A fresh database and a question whose answer is not in the question."""
        conn = build_database(rng)
        try:
            while True:
                question, answer = _question(conn, rng)
                if answer.lower() not in question.lower():
                    break
            self._queries.load(conn.serialize())
        finally:
            conn.close()
        return Task(prompt=question, answer=answer)

    def score(self, answer: str, task: Task) -> float:
        """1.0 for the exact answer (case and spaces ignored)."""
        return float(answer.strip().lower() == task.answer.lower())

    def close(self) -> None:
        """End the query process."""
        self._queries.close()
        super().close()

    # a child process cannot be pickled or copied: a copy gets its own, from the bytes
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_queries"] = self._queries.data
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        data = state.pop("_queries")
        self.__dict__.update(state)
        self._queries = QueryProcess(self._sandbox_config())
        if data is not None:
            self._queries.load(data)
        self._tools = {"query": self.query}
