"""The reference player of ``TextSQL-v0``: the query that answers the question, then its
first cell. It needs the whole conversation (``history="full"``)."""

from __future__ import annotations

import json
import re

import numpy as np

from textgym.core import Conversation

_QUERIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"How many employees earn more than (\d+) \(salary\)\?"),
        "SELECT COUNT(*) FROM employees WHERE salary > {0}",
    ),
    (
        re.compile(r"What is the total salary of the (\w+) department\?"),
        "SELECT COALESCE(SUM(salary), 0) FROM employees WHERE department = '{0}'",
    ),
    (
        re.compile(r"In which city is the department with the highest average salary\?"),
        "SELECT d.city FROM employees e JOIN departments d ON e.department = d.name "
        "GROUP BY d.name ORDER BY AVG(e.salary) DESC, d.name LIMIT 1",
    ),
    (
        re.compile(r"Who is the earliest hire in the (\w+) department"),
        "SELECT name FROM employees WHERE department = '{0}' ORDER BY hired, id LIMIT 1",
    ),
)
_RESULT = "Result of query: "


def question_sql(text: str) -> str | None:
    """The SQL that answers a TextSQL question, or None when ``text`` holds none."""
    for pattern, sql in _QUERIES:
        match = pattern.search(text)
        if match:
            return sql.format(*match.groups())
    return None


class SQLPlayer:
    """Query, then answer the first cell of the first row (``none`` without rows)."""

    def answer(self, conversation: Conversation) -> str:
        """The query call, or the answer read from its result."""
        users = [m["content"] for m in conversation if m.get("role") == "user"]
        for i, text in enumerate(users):
            sql = question_sql(text)
            if sql is None:
                continue
            results = [u for u in users[i + 1 :] if u.startswith(_RESULT)]
            if not results:
                call = {"name": "query", "arguments": {"sql": sql}}
                return f"<tool_call>{json.dumps(call)}</tool_call>"
            rows = results[-1][len(_RESULT) :].splitlines()[1:]
            value = rows[0].split(" | ")[0] if rows else "none"
            return f"<answer>{value}</answer>"
        raise ValueError("no TextSQL question in the conversation (history='full' needed)")

    def mistake(self, conversation: Conversation, rng: np.random.Generator) -> str:
        """An answer without looking: a number or a word that is rarely right."""
        return f"<answer>{['0', 'none', 'Lyon'][int(rng.integers(3))]}</answer>"
