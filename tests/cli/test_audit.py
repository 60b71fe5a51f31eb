"""``textgym audit``."""

from __future__ import annotations

from textgym.cli import main


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


def test_audit_without_the_board_audit_only_plays_perfect_lines(capsys) -> None:
    argv = ["audit", "--policy", "minimax", "--env", "TextTicTacToe-LLM-Compact-v0"]
    assert main([*argv, "--no-board"]) == 0
    out = capsys.readouterr().out
    row = next(line.split() for line in out.splitlines() if line.startswith("minimax"))
    assert row[1:5] == ["-", "-", "-", "-"] and row[6:] == ["0", "0.00"]
    assert "not measured (--no-board)" in out


def test_audit_of_kuhn_poker_players_is_their_exploitability(capsys) -> None:
    argv = ["audit", "--env", "TextKuhnPoker-LLM-v0", "--policy", "random"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("random "))
    assert "0.6667" in row and "-0.1111" in row and "-0.2778" in row  # 2/3, -1/9, -5/18


def test_an_env_without_an_exact_audit_is_one_error_line(capsys) -> None:
    assert main(["audit", "--env", "TextReverse-v0", "--policy", "reference"]) == 2
    assert "has no exact audit" in capsys.readouterr().err
