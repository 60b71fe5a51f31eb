"""Evaluation: JSONL per finished episode, resume after a crash or a kill, no duplicates."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from textgym.envs.tictactoe.players import ScriptedPolicy, random_policy
from textgym.envs.tictactoe.rules import legal_moves
from textgym.evaluation import evaluate, read_records
from textgym.view import View


class CrashingPolicy:
    """A scripted player that dies after a number of calls (a crash mid-run)."""

    def __init__(self, calls: int) -> None:
        self.inner = random_policy()
        self.calls = calls

    def complete(self, conversations):
        self.calls -= 1
        if self.calls < 0:
            raise KeyboardInterrupt
        return self.inner.complete(conversations)


def test_crash_keeps_finished_episodes_and_resume_completes(tmp_path) -> None:
    out = tmp_path / "results.jsonl"
    with pytest.raises(KeyboardInterrupt):
        evaluate(
            "random",
            "random",
            episodes=60,
            out=out,
            num_envs=8,
            policy_obj=CrashingPolicy(calls=12),
        )
    partial = read_records(out)
    assert 0 < len(partial) < 60
    summary = evaluate("random", "random", episodes=60, out=out, resume=True, num_envs=8)
    records = read_records(out)
    assert len(summary) == 60 == len(records)
    assert sorted(r["index"] for r in records) == list(range(60))


class FirstLegal:
    """A deterministic bot: the lowest free cell."""

    def act(self, board, rng, first="X"):
        return legal_moves(board)[0]


def test_every_policy_faces_the_same_games(tmp_path) -> None:
    a = evaluate("first", "0.5", episodes=20, seed=3, policy_obj=ScriptedPolicy(FirstLegal()))
    b = evaluate(
        "first", "0.5", episodes=20, seed=3, num_envs=3, policy_obj=ScriptedPolicy(FirstLegal())
    )
    assert [r["seed"] for r in a.records] == [r["seed"] for r in b.records]
    assert [r["metrics"] for r in a.records] == [r["metrics"] for r in b.records]


def test_torn_last_line_is_ignored(tmp_path) -> None:
    out = tmp_path / "r.jsonl"
    evaluate("minimax", "random", episodes=5, out=out)
    with out.open("a") as fh:
        fh.write('{"policy": "minimax", "inde')
    summary = evaluate("minimax", "random", episodes=8, out=out, resume=True)
    assert len(summary) == 8
    assert sorted(r["index"] for r in summary.records) == list(range(8))


def test_killed_process_then_resume_yields_exactly_n(tmp_path) -> None:
    out = tmp_path / "killed.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "textgym.cli",
        "eval",
        "--policy",
        "random",
        "--opponent",
        "random",
        "--episodes",
        "4000",
        "--num-envs",
        "16",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 2000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = read_records(out)
    assert 0 < len(before) < 4000
    subprocess.run([*cmd, "--resume"], check=True, capture_output=True)
    records = read_records(out)
    indices = [r["index"] for r in records]
    assert len(indices) == len(set(indices)) == 4000
    assert sorted(indices) == list(range(4000))
    assert all(json.dumps(r) for r in records)


def test_resume_refuses_a_file_played_with_another_seed_or_view(tmp_path) -> None:
    out = tmp_path / "r.jsonl"
    evaluate("minimax", "random", episodes=4, seed=0, out=out)
    with pytest.raises(ValueError, match="another --seed"):
        evaluate("minimax", "random", episodes=8, seed=1, out=out, resume=True)
    with pytest.raises(ValueError, match=r"other settings \(history\)"):
        evaluate("minimax", "random", episodes=8, out=out, resume=True, view=View(history="last"))
    with pytest.raises(ValueError, match=r"other settings \(max_new_tokens, temperature\)"):
        evaluate(
            "minimax", "random", episodes=8, out=out, resume=True, temperature=1.0,
            view=View(max_new_tokens=9),
        )  # fmt: skip
    assert len(read_records(out)) == 4  # nothing appended by a refused resume
    # another policy, condition or env in the same file is another evaluation: kept apart
    other = evaluate("random", "random", episodes=3, seed=1, out=out, resume=True)
    assert len(other) == 3 and {r["policy"] for r in other.records} == {"random"}
    same = evaluate("minimax", "random", episodes=6, seed=0, out=out, resume=True)
    assert sorted(r["index"] for r in same.records) == list(range(6))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"policy": "minimax", "condition": "random", "env": "TextTicTacToe-LLM-v0", '
         '"index": true, "seed": 1, "answers": 1, "reward": 1, "metrics": {}}',
         "'index' is not an integer"),
        ('[1, 2, 3]', "a JSON list, not an object"),
        ('{"policy": "minimax"}', "'condition' is not a string"),
        ('{"policy": "minimax", "condition": "random", "env": "TextTicTacToe-LLM-v0", '
         '"index": 0, "seed": 1, "answers": 1, "reward": "high", "metrics": {}}',
         "'reward' is not a number"),
    ],
)  # fmt: skip
def test_resume_refuses_a_json_line_that_is_not_a_record_with_one_message(
    tmp_path, line: str, problem: str
) -> None:
    out = tmp_path / "r.jsonl"
    evaluate("minimax", "random", episodes=2, out=out)
    with out.open("a") as fh:
        fh.write(line + "\n")
    with pytest.raises(ValueError) as raised:
        evaluate("minimax", "random", episodes=4, out=out, resume=True)
    assert f"record 3 is not an evaluation episode ({problem})" in str(raised.value)


def test_cli_resume_with_another_seed_is_one_error_line(tmp_path) -> None:
    out = tmp_path / "r.jsonl"
    base = [sys.executable, "-m", "textgym.cli", "eval", "--policy", "random", "--opponent",
            "random", "--episodes", "3", "--out", str(out), "--quiet"]  # fmt: skip
    subprocess.run(base, check=True, capture_output=True)
    done = subprocess.run([*base, "--seed", "5", "--resume"], capture_output=True, text=True)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("textgym eval: error: ")
    assert "another --seed" in done.stderr
