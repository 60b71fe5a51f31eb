"""examples/observation_probe.py: every observation line it compares shows the same board."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.scripts import load_script

pytest.importorskip("torch")

pytestmark = [pytest.mark.slow]

PROBE = Path(__file__).resolve().parents[1] / "examples" / "observation_probe.py"


def test_each_format_shows_the_position() -> None:
    probe = load_script(PROBE)
    board, mark = "XO..X....", "O"  # O to move: X holds 1 and 5, O holds 2
    assert probe.observation("compact", board, mark) == "O XO3/4X6/789 legal 346789"
    assert probe.observation("nolegal", board, mark) == "O XO3/4X6/789"
    assert probe.observation("letters", board, mark) == "O Ab3/4E6/789"
    assert probe.observation("lists", board, mark) == "me 2 foe 15 free 346789"
    assert probe.observation("pairs", board, mark) == "O 1X 2O 3. 4. 5X 6. 7. 8. 9."
    with pytest.raises(ValueError, match="fmt must be one of"):
        probe.observation("emoji", board, mark)


STUDY = Path(__file__).resolve().parents[1] / "examples" / "learning_study.py"


def test_the_learning_study_runs_every_stage_and_keeps_finished_ones(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "learning_study", None)  # gone again after the test
    study = load_script(STUDY, register=True)  # its dataclasses need it in sys.modules
    recipe = study.Recipe(
        teacher="reference:0.5",
        condition="length=2;colors=3;guesses=3",
        history="last",
        max_new_tokens=24,
        games=16,
        sft_epochs=1,
        rl_steps=1,
        games_per_batch=4,
        group_size=2,
        eval_episodes=4,
        curriculum={"length": (2, 2), "colors": (3, 3), "guesses": (3, 3)},
    )
    out = tmp_path / "mm"
    rows = study.run("TextMastermind-v0", recipe, out)
    assert [r["stage"] for r in rows] == ["base", "teacher (reference:0.5)", "SFT", "SFT + CISPO"]
    assert all(0.0 <= r["reward"] <= 1.0 and "solved" in r for r in rows)
    assert (out / "sft" / "textgym_view.json").exists() and (out / "summary.json").exists()
    sft_time = (out / "sft" / "config.json").stat().st_mtime
    assert study.run("TextMastermind-v0", recipe, out) == rows  # nothing is redone
    assert (out / "sft" / "config.json").stat().st_mtime == sft_time
