"""textgym new-env: the scaffolded package installs, registers its env and passes its test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from textgym.cli import main
from textgym.scaffold import names, scaffold

pytestmark = [pytest.mark.slow]


def install(root: Path, site: Path) -> Path:
    """pip-install the package folder ``root`` into the folder ``site`` (no dependencies,
    no build isolation: offline); return ``site``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(root)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return site


def test_scaffold_installs_and_its_env_is_made_by_module_prefix(tmp_path) -> None:
    root = scaffold("word-shout", tmp_path)
    site = install(root, tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import gymnasium as gym\n"
        "env = gym.make('word_shout:WordShout-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "word = obs.split(': ', 1)[1]\n"
        "print(type(env.unwrapped).__name__, env.step(f'<answer>{word.upper()}</answer>')[1])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["WordShoutEnv", "1.0"]
    # the package's own test (check_text_env included) passes against the installed copy
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        env=env, cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-2000:]
    assert "3 passed" in tests.stdout


@pytest.mark.parametrize("kind", ["multi-turn", "tool", "stateful-tool"])
def test_each_kind_installs_and_passes_its_own_tests(kind: str, tmp_path) -> None:
    root = scaffold(f"my-{kind}", tmp_path, kind=kind)
    site = install(root, tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": str(site)}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        env=env, cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-2000:]
    assert "3 passed" in tests.stdout
    _, pkg, cls = names(f"my-{kind}")
    code = f"import {pkg}.env as m; print(m.{cls}Env.__mro__[1].__name__)"
    base = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert base.stdout.strip() == {"multi-turn": "MultiTurnEnv"}.get(kind, "ToolEnv")


def test_an_unknown_kind_is_refused_before_anything_is_written(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"unknown env kind 'chess'.*single-turn"):
        scaffold("my-env", tmp_path, kind="chess")
    assert not (tmp_path / "my-env").exists()


def test_names_and_bad_names(tmp_path) -> None:
    assert names("my-env") == ("my-env", "my_env", "MyEnv")
    assert names("Chess_Puzzles") == ("chess_puzzles", "chess_puzzles", "ChessPuzzles")
    for bad in ("", "1env", "my env", "import", "textgym"):
        with pytest.raises(ValueError):
            names(bad)


def test_existing_folder_is_never_overwritten(tmp_path, capsys) -> None:
    (tmp_path / "my-env").mkdir()
    (tmp_path / "my-env" / "keep.txt").write_text("mine")
    assert main(["new-env", "my-env", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "my-env" / "keep.txt").read_text() == "mine"
