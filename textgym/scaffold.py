"""``textgym new-env NAME``: scaffold an installable package holding one text env.

The package registers its env with Gymnasium on import, so after ``pip install`` it is
reachable as ``gymnasium.make("their_package:TheirEnv-v0")``. It holds an env of the
chosen kind to edit (single-turn, multi-turn, tool or stateful tool; see :data:`KINDS`)
with a reference player, a README, and tests that match the kind: the conformance suite
(:func:`textgym.utils.check_text_env`), the reference player against ``random``, and one
test of what the kind does.
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

_SINGLE_TURN = '''\
"""{cls}-v0: replace the task below with yours (make_task, score, the reference player)."""

from __future__ import annotations

import numpy as np

from textgym.envs.base import SingleTurnEnv, Task


class {cls}Player:
    """The reference player: it reads only the conversation (the latest message is the
    latest observation) and answers in the env's format."""

    def _word(self, conversation: list[dict[str, str]]) -> str:
        text = conversation[-1]["content"]
        if not text.startswith("Word: "):
            raise ValueError("no word in the latest message")
        return text.split(": ", 1)[1]

    def answer(self, conversation: list[dict[str, str]]) -> str:
        """The word in upper case."""
        return f"<answer>{{self._word(conversation).upper()}}</answer>"

    def mistake(self, conversation: list[dict[str, str]], rng: np.random.Generator) -> str:
        """A well-formed wrong answer: the word left as it is."""
        return f"<answer>{{self._word(conversation)}}</answer>"


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

    def reference_player(self) -> {cls}Player:
        """Usable by name: reference, reference:Q (a teacher), random."""
        return {cls}Player()
'''

_MULTI_TURN = '''\
"""{cls}-v0: replace the game below with yours (start, respond, the reference player)."""

from __future__ import annotations

import itertools
import re

import numpy as np

from textgym.envs.base import MultiTurnEnv, Reply


class {cls}Player:
    """The reference player: binary search, read from the conversation alone (its own
    guesses and the hints that followed them)."""

    def _range(self, conversation: list[dict[str, str]]) -> tuple[int, int]:
        low, high = 1, 100
        for said, reply in itertools.pairwise(conversation):
            guess = re.fullmatch(r"<answer>(\\d+)</answer>", said["content"].strip())
            if said["role"] != "assistant" or guess is None:
                continue
            if reply["content"].startswith("Higher"):
                low = max(low, int(guess[1]) + 1)
            elif reply["content"].startswith("Lower"):
                high = min(high, int(guess[1]) - 1)
        return low, max(low, high)

    def answer(self, conversation: list[dict[str, str]]) -> str:
        """The middle of what the hints leave."""
        low, high = self._range(conversation)
        return f"<answer>{{(low + high) // 2}}</answer>"

    def mistake(self, conversation: list[dict[str, str]], rng: np.random.Generator) -> str:
        """A well-formed guess that ignores the hints."""
        return f"<answer>{{int(rng.integers(1, 101))}}</answer>"


class {cls}Env(MultiTurnEnv):
    """Example game: guess a number from 1 to 100; each wrong guess gets a hint."""

    rules_prompt = "Guess my number from 1 to 100. After each guess I say Higher or Lower."
    system_prompt = rules_prompt + " Answer with the number inside <answer>...</answer>."
    rate_metrics = ("solved",)

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__(max_turns=10, answer_tag="answer", render_mode=render_mode)

    def start(self, rng: np.random.Generator) -> str:
        """Draw the number; the first observation."""
        self.secret = int(rng.integers(1, 101))
        self.solved = False
        return "I picked a number."

    def respond(self, answer: str | None) -> Reply:
        """A hint, or the end of the game."""
        if answer is None or not (answer.isascii() and answer.isdigit() and len(answer) < 4):
            return Reply("Answer with a whole number from 1 to 100 inside <answer>...</answer>.")
        if int(answer) == self.secret:
            self.solved = True
            return Reply("Correct!", reward=1.0, done=True)
        return Reply("Higher." if int(answer) < self.secret else "Lower.")

    def episode_metrics(self) -> dict[str, float]:
        """solved (0 or 1) and the number of guesses."""
        return {{"solved": float(self.solved), "guesses": float(self.turn)}}

    def hidden_strings(self) -> list[str]:
        """The number, while the game runs."""
        return [f"number is {{self.secret}}"] if self._episode_active else []

    def reference_player(self) -> {cls}Player:
        """Usable by name: reference, reference:Q (a teacher), random."""
        return {cls}Player()
'''

_TOOL = '''\
"""{cls}-v0: replace the tools and the task below with yours."""

from __future__ import annotations

import json

import numpy as np

from textgym.envs.base import Task, ToolEnv

CAPITALS = {{"France": "Paris", "Peru": "Lima", "Japan": "Tokyo", "Kenya": "Nairobi"}}


class {cls}Player:
    """The reference player: one tool call, then the answer the tool gave."""

    def answer(self, conversation: list[dict[str, str]]) -> str:
        """Call the tool on the question's country; answer with its result."""
        last = conversation[-1]["content"]
        if last.startswith("Result of capital: "):
            return f"<answer>{{last.split(': ', 1)[1]}}</answer>"
        for message in reversed(conversation):
            if message["role"] == "user" and message["content"].startswith("What is the"):
                country = message["content"].removeprefix("What is the capital of ").rstrip("?")
                call = {{"name": "capital", "arguments": {{"country": country}}}}
                return f"<tool_call>{{json.dumps(call)}}</tool_call>"
        raise ValueError("no question in the conversation")

    def mistake(self, conversation: list[dict[str, str]], rng: np.random.Generator) -> str:
        """A well-formed guess without the tool."""
        return f"<answer>{{rng.choice(sorted(CAPITALS.values()))}}</answer>"


class {cls}Env(ToolEnv):
    """Example task: name a capital, with a lookup tool."""

    def tools(self) -> list:
        """The tools the model may call."""
        return [self.capital]

    def capital(self, country: str) -> str:
        """The capital of a country."""
        return CAPITALS.get(country, "unknown")

    def make_task(self, rng: np.random.Generator) -> Task:
        """A random country."""
        country = str(rng.choice(sorted(CAPITALS)))
        return Task(prompt=f"What is the capital of {{country}}?", answer=CAPITALS[country])

    def score(self, answer: str, task: Task) -> float:
        """1.0 for the exact answer, else 0.0."""
        return float(answer == task.answer)

    def reference_player(self) -> {cls}Player:
        """Usable by name: reference, reference:Q (a teacher), random."""
        return {cls}Player()
'''

_STATEFUL_TOOL = '''\
"""{cls}-v0: replace the per-episode state, the tools and the task below with yours."""

from __future__ import annotations

import json

import numpy as np

from textgym.envs.base import Task, ToolEnv


class {cls}Player:
    """The reference player: look the code up, then answer with it."""

    def answer(self, conversation: list[dict[str, str]]) -> str:
        """One lookup, then the code it returned."""
        last = conversation[-1]["content"]
        if last.startswith("Result of lookup: "):
            return f"<answer>{{last.split(': ', 1)[1]}}</answer>"
        call = {{"name": "lookup", "arguments": {{"key": "code"}}}}
        return f"<tool_call>{{json.dumps(call)}}</tool_call>"

    def mistake(self, conversation: list[dict[str, str]], rng: np.random.Generator) -> str:
        """A well-formed guess without the tool."""
        return f"<answer>{{int(rng.integers(1000, 10000))}}</answer>"


class {cls}Env(ToolEnv):
    """Example task: find a code in this episode's own notes, through a tool."""

    hidden_args = ("notes",)  # filled from tool_state(), never shown to the model

    def tools(self) -> list:
        """The tools the model may call."""
        return [self.lookup]

    def lookup(self, key: str, notes: dict) -> str:
        """Look a key up in this episode's notes."""
        return notes.get(key, "no such key")

    def tool_state(self) -> dict:
        """This episode's state, for the hidden arguments."""
        return {{"notes": self.notes}}

    def make_task(self, rng: np.random.Generator) -> Task:
        """Fresh notes for each episode, from its seeded generator."""
        self.notes = {{"code": str(rng.integers(1000, 10000)), "colour": "teal"}}
        return Task(prompt="What is the code in the notes?", answer=self.notes["code"])

    def score(self, answer: str, task: Task) -> float:
        """1.0 for the exact code, else 0.0."""
        return float(answer == task.answer)

    def reference_player(self) -> {cls}Player:
        """Usable by name: reference, reference:Q (a teacher), random."""
        return {cls}Player()
'''

_TEST_COMMON = '''\
"""{cls}-v0 ({kind}): textgym's conformance suite, its reference player, and its task."""

import gymnasium as gym

from textgym.evaluation import evaluate
from textgym.utils import check_text_env

ENV_ID = "{pkg}:{cls}-v0"


def test_conformance() -> None:
    check_text_env(ENV_ID)


def test_the_reference_player_solves_it_and_random_does_not() -> None:
    best = evaluate("reference", episodes=8, view=ENV_ID)
    worst = evaluate("random", episodes=8, view=ENV_ID)
    assert best.mean_reward == 1.0 > worst.mean_reward
'''

_TEST_KIND = {
    "single-turn": """

def test_exact_answer_scores_one() -> None:
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=0)
    word = obs.split(": ", 1)[1]
    assert env.step(f"<answer>{{word.upper()}}</answer>")[1] == 1.0
""",
    "multi-turn": """

def test_a_wrong_guess_gets_a_hint_and_the_game_goes_on() -> None:
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    secret = env.unwrapped.secret
    guess = 1 if secret != 1 else 2
    obs, reward, terminated, truncated, _ = env.step(f"<answer>{{guess}}</answer>")
    assert obs in ("Higher.", "Lower.") and reward == 0.0 and not (terminated or truncated)
""",
    "tool": """

def test_a_tool_call_returns_its_result() -> None:
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    call = '{{"name": "capital", "arguments": {{"country": "Peru"}}}}'
    obs, reward, terminated, _, _ = env.step(f"<tool_call>{{call}}</tool_call>")
    assert obs == "Result of capital: Lima" and reward == 0.0 and not terminated
""",
    "stateful-tool": """

def test_the_notes_are_hidden_from_the_schema_and_fresh_each_episode() -> None:
    env = gym.make(ENV_ID)
    assert list(env.unwrapped.tool_schemas()[0]["parameters"]["properties"]) == ["key"]
    env.reset(seed=0)
    first = env.unwrapped.notes["code"]
    env.reset(seed=1)
    assert env.unwrapped.notes["code"] != first
""",
}

_README = """\
# {dist}

`{cls}-v0`, a [textgym](https://pypi.org/project/textgym/) environment: a
`gymnasium.Env[str, str]` whose observations and actions are text.

```bash
pip install -e .
python -c "import gymnasium as gym; env = gym.make('{pkg}:{cls}-v0'); print(env.reset(seed=0))"
python -m pytest -q
```

A {kind} env: edit `{pkg}/env.py`. {edit}

Its reference player (in the same file) reads only the conversation; it makes the policy
names `reference`, `reference:Q` (an imperfect teacher for `textgym train sft`) and
`random` work, and `check_text_env` plays it. Every textgym command takes the env by its
full id:

```bash
textgym eval --env {pkg}:{cls}-v0 --policy reference,random --episodes 20
textgym model tiny tiny
textgym train sft --env {pkg}:{cls}-v0 --model tiny --out sft --games 200 --epochs 2
```

Every hook an env can define is listed in textgym's docs, on the page "The env author's
contract" (`docs/write/contract.md`).
"""

#: What the README tells the author to edit, per kind.
_EDIT = {
    "single-turn": "`make_task(rng)` draws a task from the seeded generator, `score(answer, "
    "task)` returns a reward in [0, 1].",
    "multi-turn": "`start(rng)` sets up the episode from the seeded generator and returns the "
    "first observation; `respond(answer)` returns a `Reply` (observation, reward, done).",
    "tool": "`tools()` returns plain Python functions (their type hints and docstrings become "
    "the schemas); `make_task` and `score` as in a single-turn env.",
    "stateful-tool": "`make_task` also creates this episode's state; `hidden_args` name the "
    "tool parameters filled from `tool_state()`, never shown to the model.",
}

#: The env module template of each kind (``textgym new-env --kind``).
KINDS: dict[str, str] = {
    "single-turn": _SINGLE_TURN,
    "multi-turn": _MULTI_TURN,
    "tool": _TOOL,
    "stateful-tool": _STATEFUL_TOOL,
}


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


def scaffold(name: str, parent: str | Path = ".", kind: str = "single-turn") -> Path:
    """Write the package for env ``name`` of ``kind`` (one of :data:`KINDS`) into
    ``parent/name``; return that folder.

    Refuses to touch an existing folder, so nothing is ever overwritten.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown env kind {kind!r}; choose one of: {', '.join(KINDS)}")
    dist, pkg, cls = names(name)
    root = Path(parent) / dist
    if root.exists():
        raise ValueError(f"{root} already exists; choose another name or folder")
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"{pkg}/__init__.py": _INIT,
        f"{pkg}/env.py": KINDS[kind],
        "tests/test_env.py": _TEST_COMMON + _TEST_KIND[kind],
    }
    fields = {"dist": dist, "pkg": pkg, "cls": cls, "kind": kind, "edit": _EDIT[kind]}
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields))
    return root
