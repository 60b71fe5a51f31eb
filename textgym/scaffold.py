"""``textgym new-env NAME``: scaffold an installable package holding one text env.

The package registers its env with Gymnasium on import, so after ``pip install`` it is
reachable as ``gymnasium.make("their_package:TheirEnv-v0")``. It holds a single-turn env
to edit (:class:`textgym.envs.base.SingleTurnEnv`), a README, and a test that runs
:func:`textgym.utils.check_text_env` on it.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "{cls}-v0: a textgym environment"
requires-python = ">=3.10"
dependencies = ["textgym", "gymnasium>=1.2"]

[tool.setuptools]
packages = ["{pkg}"]
"""

_INIT = '''\
"""{cls}-v0, registered with Gymnasium on import: gymnasium.make("{pkg}:{cls}-v0")."""

import gymnasium as gym

from {pkg}.env import {cls}Env

if "{cls}-v0" not in gym.registry:
    gym.register(id="{cls}-v0", entry_point="{pkg}.env:{cls}Env")

__all__ = ["{cls}Env"]
'''

_ENV = '''\
"""{cls}-v0: replace the task below with yours (make_task and score)."""

from __future__ import annotations

import numpy as np

from textgym.envs.base import SingleTurnEnv, Task


class {cls}Env(SingleTurnEnv):
    """Example task: write the given word in upper case. Reward 1.0 for the exact answer."""

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__(answer_tag="answer", render_mode=render_mode)
        self.rules_prompt = "Write the given word in upper case."
        self.system_prompt = self.rules_prompt + " Answer inside <answer>...</answer>."

    def make_task(self, rng: np.random.Generator) -> Task:
        """A random lowercase word; its upper-case form is the answer."""
        word = "".join(rng.choice(list("abcdefghij"), size=int(rng.integers(4, 9))))
        return Task(prompt=f"Word: {{word}}", answer=word.upper())

    def score(self, answer: str, task: Task) -> float:
        """1.0 for the exact answer, else 0.0."""
        return float(answer == task.answer)
'''

_TEST = '''\
"""The env passes textgym's conformance suite and scores answers."""

import gymnasium as gym

from textgym.utils import check_text_env


def test_conformance() -> None:
    check_text_env("{pkg}:{cls}-v0")


def test_exact_answer_scores_one() -> None:
    env = gym.make("{pkg}:{cls}-v0")
    obs, _ = env.reset(seed=0)
    word = obs.split(": ", 1)[1]
    assert env.step(f"<answer>{{word.upper()}}</answer>")[1] == 1.0
'''

_README = """\
# {dist}

`{cls}-v0`, a [textgym](https://pypi.org/project/textgym/) environment: a
`gymnasium.Env[str, str]` whose observations and actions are text.

```bash
pip install -e .
python -c "import gymnasium as gym; env = gym.make('{pkg}:{cls}-v0'); print(env.reset(seed=0))"
python -m pytest -q
```

Edit `{pkg}/env.py`: `make_task(rng)` draws a task from the seeded generator,
`score(answer, task)` returns a reward in [0, 1]. For multi-turn or tool-using tasks,
subclass `textgym.envs.base.MultiTurnEnv` or `textgym.envs.base.ToolEnv` instead.
"""


def names(name: str) -> tuple[str, str, str]:
    """(distribution name, package name, class name) for ``name`` such as ``my-env``."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name or ""):
        raise ValueError(
            f"env name must start with a letter and hold only letters, digits, - and _; "
            f"got {name!r}"
        )
    pkg = re.sub(r"[-]+", "_", name).lower()
    if keyword.iskeyword(pkg) or pkg in {"textgym", "gymnasium", "test", "tests"}:
        raise ValueError(f"{name!r} would shadow another module; choose another name")
    cls = "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]+", name) if part)
    return name.lower(), pkg, cls


def scaffold(name: str, parent: str | Path = ".") -> Path:
    """Write the package for env ``name`` into ``parent/name``; return that folder.

    Refuses to touch an existing folder, so nothing is ever overwritten.
    """
    dist, pkg, cls = names(name)
    root = Path(parent) / dist
    if root.exists():
        raise ValueError(f"{root} already exists; choose another name or folder")
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"{pkg}/__init__.py": _INIT,
        f"{pkg}/env.py": _ENV,
        "tests/test_env.py": _TEST,
    }
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(dist=dist, pkg=pkg, cls=cls))
    return root
