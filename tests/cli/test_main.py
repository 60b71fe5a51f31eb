"""The ``textgym`` entry point: the console script."""

from __future__ import annotations

import shutil
import subprocess

import pytest


@pytest.mark.skipif(shutil.which("textgym") is None, reason="console script not installed")
def test_console_script_is_installed() -> None:
    out = subprocess.run(["textgym", "envs"], capture_output=True, text=True, check=True)
    assert "TextTicTacToe-v0" in out.stdout
