"""The env classes the guide shows how to write are real: each passes check_text_env; and
the README stays a front door."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from textgym.envs.base import MultiTurnEnv, Reply, SingleTurnEnv, Task, ToolEnv
from textgym.utils import check_text_env

ROOT = Path(__file__).parent.parent
GUIDE = (ROOT / "docs" / "guide.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", GUIDE, re.DOTALL)
CLASSES = {
    m.group(1): block
    for block in BLOCKS
    for m in [re.match(r"class (\w+)\((SingleTurnEnv|MultiTurnEnv|ToolEnv)\):", block)]
    if m
}


def test_the_readme_is_a_front_door_whose_links_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 12_000
    links = re.findall(r"\]\(((?:docs/)[^)#]+)\)", readme)
    assert "docs/guide.md" in links and all((ROOT / link).exists() for link in links)


def test_the_guide_shows_how_to_write_each_kind() -> None:
    assert set(CLASSES) == {"TextUpper", "GuessTheNumber", "Notes"}
    assert any("class Weather(MCPEnv):" in block for block in BLOCKS)  # needs a real server


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_a_readme_env_class_runs_and_keeps_the_contracts(name: str, monkeypatch) -> None:
    module = types.ModuleType(f"readme_{name.lower()}")  # a real module: envs must pickle
    module.__dict__.update(
        MultiTurnEnv=MultiTurnEnv,
        Reply=Reply,
        SingleTurnEnv=SingleTurnEnv,
        Task=Task,
        ToolEnv=ToolEnv,
    )
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(CLASSES[name], module.__dict__)
    env = getattr(module, name)()
    check_text_env(env, cross_process=False)
    obs, _ = env.reset(seed=0)
    assert isinstance(obs, str) and obs
