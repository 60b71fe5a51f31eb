"""TextSQL-v0: per-episode databases, a read-only query tool, answers found by querying."""

from __future__ import annotations

import copy
import json
import pickle
import re

import gymnasium as gym
import pytest

import textgym  # noqa: F401


def query(env, sql: str) -> str:
    call = {"name": "query", "arguments": {"sql": sql}}
    return env.step("<tool_call>" + json.dumps(call) + "</tool_call>")[0]


def snapshot(env) -> list:
    db = env.unwrapped.database()
    return [
        db.execute("SELECT * FROM departments ORDER BY name").fetchall(),
        db.execute("SELECT * FROM employees ORDER BY id").fetchall(),
    ]


SOLUTIONS = [
    (
        r"How many employees earn more than (\d+)",
        "SELECT COUNT(*) FROM employees WHERE salary > {0}",
    ),
    (
        r"total salary of the (\w+) department",
        "SELECT COALESCE(SUM(salary), 0) FROM employees WHERE department = '{0}'",
    ),
    (
        r"city is the department with the highest",
        "SELECT d.city FROM employees e JOIN departments d ON e.department = d.name "
        "GROUP BY d.name ORDER BY AVG(e.salary) DESC, d.name LIMIT 1",
    ),
    (
        r"earliest hire in the (\w+) department",
        "SELECT name FROM employees WHERE department = '{0}' ORDER BY hired, id LIMIT 1",
    ),
]


def test_a_scripted_sql_user_answers_every_question() -> None:
    env = gym.make("TextSQL-v0")
    for seed in range(40):
        question, _ = env.reset(seed=seed)
        sql = next(s.format(*m.groups()) for p, s in SOLUTIONS if (m := re.search(p, question)))
        result = query(env, sql).splitlines()[-1]
        _, reward, terminated, _, _ = env.step(f"<answer>{result}</answer>")
        assert (reward, terminated) == (1.0, True), (question, result)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO departments VALUES ('x', 'y')",
        "UPDATE employees SET salary = 0",
        "DELETE FROM employees",
        "DROP TABLE employees",
        "CREATE TABLE t(x)",
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA user_version = 5",
        "PRAGMA journal_mode = WAL",
        "PRAGMA query_only = OFF",
        "SELECT 1; DROP TABLE employees",
    ],
)
def test_writes_are_refused_and_the_database_is_unchanged(sql: str) -> None:
    env = gym.make("TextSQL-v0")
    env.reset(seed=3)
    before = snapshot(env)
    obs = query(env, sql)
    assert obs.startswith("Error: query failed")
    assert snapshot(env) == before
    assert query(env, "SELECT COUNT(*) FROM employees").endswith(str(len(before[1])))


def test_runaway_queries_are_interrupted() -> None:
    env = gym.make("TextSQL-v0", query_seconds=0.2)
    env.reset(seed=0)
    obs = query(
        env, "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r) SELECT max(i) FROM r"
    )
    assert "interrupted" in obs
    assert "Result of query" in query(env, "SELECT 1")  # the connection still works


def test_every_episode_has_its_own_database_and_the_connection_is_hidden() -> None:
    env = gym.make("TextSQL-v0")
    env.reset(seed=1)
    first = snapshot(env)
    env.reset(seed=2)
    assert snapshot(env) != first
    env.reset(seed=1)
    assert snapshot(env) == first
    schema = env.unwrapped.schemas[0]
    assert schema["parameters"]["properties"] == {"sql": {"type": "string"}}


def test_copies_and_pickles_keep_their_own_database() -> None:
    env = gym.make("TextSQL-v0")
    env.reset(seed=4)
    twin = pickle.loads(pickle.dumps(env))
    other = copy.deepcopy(env)
    assert snapshot(twin) == snapshot(env) == snapshot(other)
    assert query(twin, "DELETE FROM employees").startswith("Error")
    assert twin.unwrapped._queries is not env.unwrapped._queries


def test_a_query_that_builds_a_huge_value_fails_at_once_and_frees_the_connection() -> None:
    env = gym.make("TextSQL-v0")
    env.reset(seed=0)

    def query(sql: str) -> str:
        call = {"name": "query", "arguments": {"sql": sql}}
        return env.step(f"<tool_call>{json.dumps(call)}</tool_call>")[0]

    huge = "SELECT length(replace(hex(zeroblob(100000000)), '0', 'aaaa'))"
    assert "too big" in query(huge)  # SQLite's length limit, not 800 MB of memory
    assert query("SELECT COUNT(*) FROM employees").startswith("Result of query: COUNT(*)\n")
    env.close()


def test_a_query_past_the_tool_timeout_is_interrupted_and_frees_the_connection() -> None:
    # the query's own time limit (30 s) is longer than the tool timeout (0.3 s): only
    # interrupting the connection on timeout lets the next query run at all
    env = gym.make("TextSQL-v0", tool_timeout=0.3, query_seconds=30)
    env.reset(seed=0)
    endless = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r) SELECT max(i) FROM r"
    assert "timed out after 0.3 s" in query(env, endless)
    assert query(env, "SELECT 7") == "Result of query: 7\n7"
    env.close()


def test_results_are_capped_in_rows_and_characters_with_a_note() -> None:
    env = gym.make("TextSQL-v0")
    env.reset(seed=0)
    rows = query(
        env,
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r LIMIT 80) SELECT i FROM r",
    )
    assert rows.splitlines()[-1] == "...[cut: more than 50 rows]"
    assert len(rows.splitlines()) == 1 + 50 + 1  # "Result of query: i", the rows, the note
    wide = query(env, "SELECT printf('%.*c', 5000, 'x') AS a, printf('%.*c', 5000, 'y') AS b")
    assert "...[cut: 4800 more characters]" in wide
    assert len(wide) < 600
