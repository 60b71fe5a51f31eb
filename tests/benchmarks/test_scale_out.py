"""benchmarks/scale_out.py at a small size: every conversation gets its own answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scripts import load_script

pytest.importorskip("openai")

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "scale_out.py"


def test_many_concurrent_conversations_are_answered_once_each() -> None:
    result = load_script(SCRIPT).measure([1, 500], concurrency=500, delay=0.001)
    for row in result["rows"]:
        n = row["conversations"]
        assert (row["right"], row["wrong"], row["missing"], row["repeated"]) == (n, 0, 0, 0)
        assert row["server_requests"] == n  # one request each: none retried or dropped
    assert result["single_s"] > 0


def test_the_answer_check_catches_dropped_swapped_and_repeated_answers() -> None:
    check = load_script(SCRIPT).check_answers
    good = [f"<answer>conversation {i}</answer>" for i in range(3)]
    assert check(good, 3) == {"right": 3, "wrong": 0, "missing": 0, "repeated": 0}
    assert check(good[:2], 3)["missing"] == 1
    assert check([good[1], good[0], good[2]], 3)["wrong"] == 2
    assert check([good[0], good[0], good[2]], 3)["repeated"] == 1
