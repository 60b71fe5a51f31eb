"""``textgym train sft|rl``: settings checked before any work."""

from __future__ import annotations

import pytest

from textgym.cli import main


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
