"""Progress bars: rate and ETA on a terminal, nothing in a log or a pipe."""

from __future__ import annotations

import io
import sys

import pytest

from textgym.utils.progress import progress_bar, shows_bars


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_bar_shows_count_rate_and_eta_on_a_terminal(monkeypatch) -> None:
    pytest.importorskip("tqdm")
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert shows_bars()
    with progress_bar(4, "rollout", unit="episode") as bar:
        for _ in range(4):
            bar.update(1)
        bar.set_postfix_str("reward 0.5")
    text = err.getvalue()
    assert "rollout" in text and "4/4" in text and "episode/s" in text and "<" in text
    assert "reward 0.5" in text


def test_no_bar_in_a_pipe_or_when_not_wanted(monkeypatch) -> None:
    err = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", err)
    assert not shows_bars()
    bar = progress_bar(3, "sft")
    bar.update(2)
    bar.set_postfix_str("loss 1.0")
    bar.close()
    assert bar.n == 2 and err.getvalue() == ""
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert not shows_bars(enabled=False)
    quiet = progress_bar(3, "sft", enabled=False)
    quiet.update(1)
    assert sys.stderr.getvalue() == ""


@pytest.mark.slow
def test_rollout_and_sft_draw_bars_on_a_terminal(monkeypatch, tiny_model_path) -> None:
    pytest.importorskip("tqdm")
    pytest.importorskip("torch")
    from textgym.models.loading import load_model
    from textgym.policies.by_name import scripted_policy
    from textgym.rollout import rollout
    from textgym.trainers.sft import SFTConfig, sft_tokens, sft_train

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    env = "TextTicTacToe-LLM-v0"
    games = rollout(scripted_policy("reference", env), env, range(3), num_envs=2, progress=True)
    assert "rollout" in err.getvalue() and "3/3" in err.getvalue()
    model, tok = load_model(tiny_model_path)
    sft_train(model, tok, sft_tokens(games, tok), SFTConfig(epochs=1, batch_size=4), progress=True)
    assert "sft" in err.getvalue() and "loss" in err.getvalue()


def test_rl_draws_a_bar_on_a_terminal_and_lines_elsewhere(
    monkeypatch, capsys, warm_model, tmp_path
) -> None:
    pytest.importorskip("tqdm")
    pytest.importorskip("torch")
    from textgym.trainers.rl import RLConfig, train_rl

    def config(out):
        return RLConfig(
            model=str(warm_model),
            out_dir=str(out),
            steps=1,
            games_per_batch=4,
            group_size=2,
            max_new_tokens=16,
            num_envs=4,
            eval_every=0,
            device="cpu",
        )

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    train_rl(config(tmp_path / "tty"))
    assert "rl" in err.getvalue() and "1/1" in err.getvalue() and "reward" in err.getvalue()
    assert "step 1/1" not in capsys.readouterr().out  # the bar replaces the lines
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    train_rl(config(tmp_path / "log"))
    assert "step 1/1 reward" in capsys.readouterr().out
    assert sys.stderr.getvalue() == ""
