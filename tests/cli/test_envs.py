"""``textgym envs`` and ``textgym play``."""

from __future__ import annotations

import pytest

from textgym.cli import main


def test_envs_lists_registered_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs"]) == 0
    assert "TextTicTacToe-v0" in capsys.readouterr().out


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
