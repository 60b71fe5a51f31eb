"""``textgym eval``: tables, charts, reproducible seeds, resumes and one-line errors."""

from __future__ import annotations

import pytest

from textgym.cli import main


def table_rows(out: str) -> dict[tuple[str, str], dict[str, str]]:
    """The rows of an eval table by (policy, condition), each a dict by column name."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("policy "))
    header = [c for c in lines[start].split("  ") if c.strip()]
    header = [c.strip() for c in header]
    rows = {}
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        cells = line.split()
        rows[(cells[0], cells[1])] = dict(zip(header, cells, strict=True))
    return rows


def _one_error_line(err: str, needle: str) -> None:
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_eval_prints_the_results_table(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "--policy", "minimax,random", "--opponent", "optimal,random"]
    assert main([*argv, "--episodes", "60", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    perfect = rows[("minimax", "optimal")]
    assert [perfect["win %"], perfect["draw %"], perfect["loss %"]] == ["0.0", "100.0", "0.0"]
    assert float(perfect["reward"]) == pytest.approx(0.7) and perfect["± s.e."] == "0.000"
    assert float(rows[("minimax", "random")]["loss %"]) == 0.0  # minimax never loses
    assert float(rows[("random", "optimal")]["win %"]) == 0.0  # nobody beats perfect play
    assert rows[("random", "random")]["format % answers"] == "100.0"
    assert "Ceiling vs a random opponent" in out


def test_eval_on_other_envs_reports_their_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "--env", "TextMastermind-v0", "--policy", "reference,reference:0.3"]
    assert main([*argv, "--episodes", "30"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows[("reference", "default")]["solved %"] == "100.0"
    assert float(rows[("reference:0.3", "default")]["guesses"]) > float(
        rows[("reference", "default")]["guesses"]
    )
    argv = ["eval", "--env", "TextCalculator-v0", "--opponent", "steps=1,steps=3"]
    assert main([*argv, "--episodes", "10"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows[("reference", "steps=1")]["tool_calls"] == "1.00"
    assert rows[("reference", "steps=3")]["tool_calls"] == "3.00"


def test_eval_is_reproducible_from_its_seed(capsys: pytest.CaptureFixture[str]) -> None:
    main(["eval", "--policy", "teacher:0.7", "--opponent", "0.3", "--episodes", "40"])
    first = capsys.readouterr().out
    main(["eval", "--policy", "teacher:0.7", "--opponent", "0.3", "--episodes", "40"])
    assert capsys.readouterr().out == first


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["eval", "--policy", "gpt"], "reference:Q, minimax, random, teacher:Q"),
        (["eval", "--opponent", "hard"], "optimal, random"),
        (["eval", "--policy", "teacher:2"], "teacher:Q needs Q in [0, 1]"),
        (["eval", "--policy", "reference:2"], "reference:Q must be in [0, 1]"),
        (["eval", "--episodes", "0"], "episodes must be >= 1"),
        (["eval", "--env", "TextChess-v0"], "unknown env 'TextChess-v0'; choose one of"),
        (["eval", "--env", "TextReverse-v0", "--policy", "minimax"], "reference, reference:Q"),
        (["eval", "--env", "TextReverse-v0", "--opponent", "length=99"], "length must be"),
        (["eval", "--env", "TextReverse-v0", "--opponent", "colour=2"], "valid: length"),
        (["eval", "--env", "TextSQL-v0", "--history", "last"], "history 'last' cannot"),
    ],
)
def test_bad_choices_give_one_clear_error_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_eval_writes_a_bar_chart(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "chart.png"
    assert (
        main(
            [
                "eval",
                "--policy",
                "minimax,random",
                "--opponent",
                "optimal",
                "--episodes",
                "10",
                "--plot",
                str(out),
            ]
        )
        == 0
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        main(
            [
                "eval",
                "--policy",
                "random",
                "--opponent",
                "optimal,random",
                "--episodes",
                "5",
                "--plot",
                str(tmp_path / "c.png"),
            ]
        )
        == 0
    )
    assert (tmp_path / "c-optimal.png").exists() and (tmp_path / "c-random.png").exists()


def test_resume_without_out_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err


def test_ctrl_c_points_to_resume(tmp_path, monkeypatch, capsys) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("textgym.cli.evaluate.evaluate", interrupted)
    out = tmp_path / "r.jsonl"
    assert main(["eval", "--out", str(out)]) == 130
    assert "rerun with --resume" in capsys.readouterr().err


def test_eval_out_that_is_a_folder_is_one_error_line(tmp_path, capsys) -> None:
    assert main(["eval", "--episodes", "2", "--out", str(tmp_path)]) == 2
    _one_error_line(capsys.readouterr().err, "is a folder; give the path of a JSONL file")


def test_a_disk_that_fills_during_eval_is_one_error_line_and_keeps_the_episodes(
    tmp_path, monkeypatch, capsys
) -> None:
    import errno

    class FillsUp:
        """A file that takes three lines, then reports a full disk."""

        def __init__(self, path, mode):
            self.inner, self.lines = open(path, mode), 0  # noqa: SIM115

        def write(self, text):
            self.lines += 1
            if self.lines > 3:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.inner.write(text)

        def flush(self):
            self.inner.flush()

        def close(self):
            self.inner.close()

    monkeypatch.setattr("textgym.evaluation.open", FillsUp, raising=False)
    out = tmp_path / "r.jsonl"
    assert main(["eval", "--opponent", "random", "--episodes", "20", "--out", str(out)]) == 2
    _one_error_line(capsys.readouterr().err, "the disk is full; the 3 episodes finished before")
    assert len(out.read_text().splitlines()) == 3


def test_two_policies_play_each_other(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--opponent-policy`` puts a policy in the other seat: perfect play against perfect
    play is always a draw; the records carry the opponent, and a resume against another
    opponent is refused."""
    import json

    out = tmp_path / "league.jsonl"
    argv = ["eval", "--env", "TextTicTacToe-LLM-Letters-v0", "--policy", "minimax"]
    argv += ["--episodes", "20", "--quiet", "--out", str(out)]
    assert main([*argv, "--opponent-policy", "minimax"]) == 0
    text = capsys.readouterr().out
    assert "the other seat: minimax" in text and " 100.0 " in text  # draw %
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 20 and all(r["metrics"]["draw"] == 1.0 for r in records)
    assert {r["settings"]["opponent_policy"] for r in records} == {"minimax"}
    assert main([*argv, "--opponent-policy", "random", "--resume"]) == 2
    assert "other settings (opponent_policy)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--opponent-policy"])


def test_an_opponent_model_reads_its_own_view(tmp_path) -> None:
    from textgym.core import Completion
    from textgym.evaluation import SystemPromptPolicy

    seen = []

    class Echo:
        def complete(self, conversations):
            seen.extend(conversations)
            return [Completion(text="5") for _ in conversations]

    policy = SystemPromptPolicy(Echo(), "Tic-tac-toe")
    policy.complete(
        [[{"role": "system", "content": "long rules"}, {"role": "user", "content": "X"}]]
    )
    SystemPromptPolicy(Echo(), "").complete(
        [[{"role": "system", "content": "r"}, {"role": "user", "content": "O"}]]
    )
    assert seen == [
        [{"role": "system", "content": "Tic-tac-toe"}, {"role": "user", "content": "X"}],
        [{"role": "user", "content": "O"}],
    ]


def test_an_opponent_model_of_another_env_is_refused(tmp_path, tiny_model_path, capsys) -> None:
    import shutil

    from textgym.view import View, save_view

    model = tmp_path / "model"
    shutil.copytree(tiny_model_path, model)
    save_view(model, View("TextKuhnPoker-LLM-v0"))
    argv = ["eval", "--env", "TextTicTacToe-LLM-Letters-v0", "--policy", "minimax"]
    assert main([*argv, "--opponent-policy", f"hf:{model}", "--episodes", "2"]) == 2
    assert "was trained on TextKuhnPoker-LLM-v0" in capsys.readouterr().err
