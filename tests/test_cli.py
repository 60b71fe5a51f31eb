"""The textgym command line: envs, eval and play."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from textgym.cli import main


def test_envs_lists_registered_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs"]) == 0
    assert "TextTicTacToe-v0" in capsys.readouterr().out


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


def test_play_reprompts_on_bad_input_and_finishes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter(["banana", "5", "1", "2", "3", "4", "6", "7", "8", "9"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    argv = ["play", "--option", "agent_mark=X", "--option", "agent_first=true", "--seed", "0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Not a legal move" in out
    assert "Game over" in out and "reward:" in out


def test_play_exits_cleanly_on_eof(monkeypatch: pytest.MonkeyPatch) -> None:
    def eof(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    assert main(["play", "--seed", "0"]) == 0


@pytest.mark.skipif(shutil.which("textgym") is None, reason="console script not installed")
def test_console_script_is_installed() -> None:
    out = subprocess.run(["textgym", "envs"], capture_output=True, text=True, check=True)
    assert "TextTicTacToe-v0" in out.stdout


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


def test_audit_scores_players_on_every_position(capsys) -> None:
    argv = ["audit", "--policy", "minimax,random", "--env", "TextTicTacToe-LLM-Compact-v0"]
    assert main([*argv, "--show-mistakes", "2"]) == 0
    captured = capsys.readouterr()
    rows = {line.split()[0]: line.split() for line in captured.out.splitlines()[2:4]}
    assert rows["minimax"][1:5] == ["9040", "100.0", "100.0", "100.0"]
    assert float(rows["random"][4]) < 90.0
    # against every line of perfect play: the perfect player never loses, random play does
    assert rows["minimax"][6:] == ["0", "0.00"] and int(rows["minimax"][5]) > 100
    assert float(rows["random"][7]) > 50.0
    assert captured.err.count("random: ") == 2 + 2 and "minimax: " not in captured.err
    assert captured.err.count("vs perfect play") == 2
    assert main(["audit", "--policy", "grandmaster"]) == 2
    assert "unknown policy 'grandmaster'" in capsys.readouterr().err


def test_play_any_env_wraps_a_bare_answer_in_the_env_format(monkeypatch, capsys) -> None:
    answers = iter(["1122", "<guess>1234</guess>"])

    def typed(prompt: str = "") -> str:
        try:
            return next(answers)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", typed)
    assert main(["play", "--env", "TextMastermind-v0", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "1122: " in out and "1234: " in out and "Invalid guess" not in out
    monkeypatch.setattr("builtins.input", lambda prompt="": "zyx")
    assert main(["play", "--env", "TextReverse-v0", "--option", "length=6", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "Reverse the given string" in out and "reward: " in out


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--env", "TextSQL-v0", "--history", "last"], "history 'last' cannot play TextSQL-v0"),
        (["--env", "TextReverse-v0", "--curriculum", "length=2:99"], "must lie within [6, 16]"),
        (["--env", "TextReverse-v0", "--curriculum", "speed=1:2"], "its options: length"),
        (["--env", "TextReverse-v0", "--curriculum", "length"], "NAME=LOW:HIGH"),
        (["--env", "TextReverse-v0", "--teacher", "minimax"], "unknown policy 'minimax'"),
        (["--env", "TextCalculator-v0", "--max-new-tokens", "8"], "cannot hold"),
    ],
)
def test_train_refuses_bad_views_and_options_before_any_work(
    extra, needle, tiny_model_path, tmp_path, capsys
) -> None:
    argv = ["train", "sft", "--model", str(tiny_model_path), "--out", str(tmp_path / "o")]
    assert main([*argv, "--games", "4", *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def _one_error_line(err: str, needle: str) -> None:
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


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


def test_serve_refuses_a_bad_port_and_an_unimportable_env_in_one_line(capsys) -> None:
    assert main(["serve", "--env", "nosuchmod:X-v0"]) == 2
    _one_error_line(capsys.readouterr().err, "cannot import 'nosuchmod'")
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--env", "TextReverse-v0", "--port", "99999"])
    assert exited.value.code == 2
    assert "a TCP port is 1-65535, got 99999" in capsys.readouterr().err


def test_pipeline_checks_every_stage_before_the_first_runs(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["pipeline", "--out", str(out), "--games-per-batch", "12"]) == 2
    _one_error_line(capsys.readouterr().err, "must be a positive multiple of group_size (8)")
    assert not (out / "results.jsonl").exists()  # no evaluation ran
    assert not (out / "base").exists()
