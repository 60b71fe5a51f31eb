"""examples/observation_probe.py: every observation line it compares shows the same board."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")

PROBE = Path(__file__).resolve().parents[1] / "examples" / "observation_probe.py"


def load_probe():
    spec = importlib.util.spec_from_file_location("observation_probe", PROBE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_format_shows_the_position() -> None:
    probe = load_probe()
    board, mark = "XO..X....", "O"  # O to move: X holds 1 and 5, O holds 2
    assert probe.observation("compact", board, mark) == "O XO3/4X6/789 legal 346789"
    assert probe.observation("nolegal", board, mark) == "O XO3/4X6/789"
    assert probe.observation("letters", board, mark) == "O Ab3/4E6/789"
    assert probe.observation("lists", board, mark) == "me 2 foe 15 free 346789"
    assert probe.observation("pairs", board, mark) == "O 1X 2O 3. 4. 5X 6. 7. 8. 9."
    with pytest.raises(ValueError, match="fmt must be one of"):
        probe.observation("emoji", board, mark)
