"""check_text_env accepts a correct text env and catches each broken contract."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
from typing import Any

import gymnasium as gym
import pytest

from textgym.core import TextEnv, text_space
from textgym.envs.base import MultiTurnEnv, Reply
from textgym.utils import TextEnvCheckError, check_text_env
from textgym.utils.env_checker import NESTED_REPLAY_ERROR, play_transcript


class GuessEnv(TextEnv):
    """A minimal correct text env: guess a hidden digit within five tries."""

    def __init__(self) -> None:
        self.observation_space = text_space(256)
        self.action_space = text_space(256)
        self.system_prompt = "Guess the hidden digit."
        self.secret = "0"
        self.tries = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.secret = str(int(self.np_random.integers(10)))
        self.tries = 0
        self._episode_active = True
        return self.prompt(), {"legal_actions": [str(d) for d in range(10)]}

    def prompt(self) -> str:
        return f"Guess a digit. Tries left: {5 - self.tries}."

    def step(self, action: str):
        action = self._check_action(action)
        self.tries += 1
        won = action.strip() == self.secret
        truncated = not won and self.tries >= 5
        self._episode_active = not (won or truncated)
        obs = "Correct!" if won else self.prompt()
        if truncated:
            obs = f"Out of tries; it was {self.secret}."
        info = {"legal_actions": [str(d) for d in range(10)]}
        return obs, float(won), won, truncated, info

    def hidden_strings(self) -> list[str]:
        return [f"secret={self.secret}"]


class SeedLeakEnv(GuessEnv):
    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        self.seed_text = str(seed)
        return obs + f" (episode {seed})", info


class GlobalRandomEnv(GuessEnv):
    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        self.secret = str(random.randint(0, 9))
        return obs, info


class HashSeededEnv(GuessEnv):
    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        self.secret = str(hash(f"episode-{seed}") % 10)
        return obs, info


class HiddenLeakEnv(GuessEnv):
    def prompt(self) -> str:
        return f"Guess a digit (secret={self.secret})."


class OutOfSpaceEnv(GuessEnv):
    def prompt(self) -> str:
        return "Guess a digit → now."


class EndlessEnv(GuessEnv):
    def step(self, action: str):
        obs, reward, _, _, info = super().step(action)
        self._episode_active = True
        return obs, reward, False, False, info


class UnpicklableEnv(GuessEnv):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()


class CountingWrapper(gym.Wrapper):
    """Counts steps across episodes and shows the count: reset forgets to clear it."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.count = 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.count += 1
        return f"{obs} [{self.count}]", reward, terminated, truncated, info


class HalfRateEnv(GuessEnv):
    """Reports a yes/no metric that is neither yes nor no."""

    rate_metrics = ("won",)

    def step(self, action: str):
        obs, reward, terminated, truncated, info = super().step(action)
        if terminated or truncated:
            info["episode_metrics"] = {"won": 0.5}
        return obs, reward, terminated, truncated, info


class BadCurriculumEnv(GuessEnv):
    """Declares a curriculum option that its reset refuses."""

    def curriculum_options(self):
        from textgym.core import OptionRange

        return {"digits": OptionRange(1, 9, integer=True)}

    def reset(self, *, seed=None, options=None):
        if options:
            raise ValueError(f"no options, got {options}")
        return super().reset(seed=seed)


class SumsPlayer:
    """Reference player of :class:`TwoSums`: answers the latest "What is X + Y?"."""

    def _terms(self, conversation) -> tuple[int, int]:
        for message in reversed(conversation):  # the latest question asked
            match = re.search(r"What is (\d+) \+ (\d+)\?", message["content"])
            if message["role"] == "user" and match is not None:
                return int(match[1]), int(match[2])
        raise ValueError("no question")

    def answer(self, conversation) -> str:
        return f"<answer>{sum(self._terms(conversation))}</answer>"

    def mistake(self, conversation, rng) -> str:
        return f"<answer>{sum(self._terms(conversation)) + 1 + int(rng.integers(3))}</answer>"


class TwoSums(MultiTurnEnv):
    """Two sums in a row, tagged answers; the second sum is asked only after a correct
    first one (junk answers never get there)."""

    system_prompt = "Answer each sum inside <answer>...</answer>."

    def __init__(self) -> None:
        super().__init__(max_turns=6)

    def start(self, rng) -> str:
        self.a, self.b = int(rng.integers(10, 50)), int(rng.integers(10, 50))
        self.second: tuple[int, int] | None = None
        self.code = int(rng.integers(10_000, 100_000))
        return f"What is {self.a} + {self.b}?"

    def second_sum(self) -> tuple[int, int]:
        return self.a + 7, self.b + 3  # a pure function of the seeded state

    def respond(self, answer):
        if answer is None:
            return Reply("Answer inside <answer>...</answer>.")
        if self.second is None:
            if answer != str(self.a + self.b):
                return Reply("Wrong, try again.")
            self.second = self.second_sum()
            return Reply(self.second_question())
        if answer == str(sum(self.second)):
            return Reply("Correct!", reward=1.0, done=True)
        return Reply("Wrong, try again.")

    def second_question(self) -> str:
        return f"Right. What is {self.second[0]} + {self.second[1]}?"

    def reference_player(self) -> SumsPlayer:
        return SumsPlayer()

    def hidden_strings(self) -> list[str]:
        return [f"code {self.code}"]


class HashAfterFirstSum(TwoSums):
    """The second sum depends on PYTHONHASHSEED: only real play ever sees it."""

    def second_sum(self) -> tuple[int, int]:
        return self.a + hash(f"sum-{self.a}") % 50, self.b


class LeakAfterFirstSum(TwoSums):
    """The second question shows a hidden string: only a correct first answer sees it."""

    def second_question(self) -> str:
        return super().second_question() + f" (code {self.code})"


def test_a_correct_env_passes() -> None:
    check_text_env(GuessEnv())


def test_the_driver_plays_the_reference_player_and_reaches_later_turns() -> None:
    check_text_env(TwoSums())
    transcripts = [play_transcript(TwoSums(), seed=s, driver_seed=s) for s in range(8)]
    assert all(any(e[1].startswith("Right.") for e in t) for t in transcripts)  # turn 2
    assert sum(t[-1][3] is True for t in transcripts) >= 4  # solved, most of the time


def test_a_hash_seeded_second_turn_is_caught_across_processes() -> None:
    with pytest.raises(TextEnvCheckError, match="PYTHONHASHSEED"):
        check_text_env(HashAfterFirstSum(), run_gymnasium_check=False, seeds=(1, 2, 3, 4))


def test_a_secret_shown_only_after_a_correct_answer_is_caught() -> None:
    with pytest.raises(TextEnvCheckError, match="hidden text 'code "):
        check_text_env(LeakAfterFirstSum(), run_gymnasium_check=False, cross_process=False)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (SeedLeakEnv(), "reveals"),
        (GlobalRandomEnv(), "different transcripts|reset did not clear"),
        (HiddenLeakEnv(), "hidden text"),
        (OutOfSpaceEnv(), "outside the observation space|not within|observation"),
        (EndlessEnv(), "did not end"),
        (CountingWrapper(GuessEnv()), "reset did not clear all state"),
        (HalfRateEnv(), "rate metric 'won' must be 0 or 1"),
        (BadCurriculumEnv(), "curriculum option digits=1"),
    ],
    ids=[
        "seed-leak",
        "global-random",
        "hidden-leak",
        "out-of-space",
        "endless",
        "wrapper-state",
        "half-rate",
        "bad-curriculum",
    ],
)
def test_broken_envs_are_caught(env: gym.Env, message: str) -> None:
    with pytest.raises((TextEnvCheckError, AssertionError), match=message):
        check_text_env(env, run_gymnasium_check=False, cross_process=False)


def test_hash_dependent_env_is_caught_across_processes() -> None:
    with pytest.raises(TextEnvCheckError, match="PYTHONHASHSEED"):
        check_text_env(HashSeededEnv(), run_gymnasium_check=False, seeds=(1, 2, 3, 4))


def test_unpicklable_env_is_reported() -> None:
    with pytest.raises((TextEnvCheckError, TypeError), match="pickle"):
        check_text_env(UnpicklableEnv(), run_gymnasium_check=False, cross_process=False)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match=r"gymnasium\.Env"):
        check_text_env(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="env_kwargs"):
        check_text_env(GuessEnv(), env_kwargs={"x": 1})


_UNGUARDED_SCRIPT = '''
import gymnasium as gym
from textgym.envs.base import SingleTurnEnv, Task
from textgym.utils import check_text_env


class EchoEnv(SingleTurnEnv):
    """Add two numbers."""

    def make_task(self, rng):
        a, b = int(rng.integers(20, 40)), int(rng.integers(50, 60))
        return Task(prompt=f"What is {a} + {b}?", answer=str(a + b))

    def score(self, answer, task):
        return float(answer.strip() == task.answer)


gym.register("Echo-v0", entry_point="unguarded:EchoEnv")
check_text_env("unguarded:Echo-v0")  # no `if __name__ == "__main__":` guard
print("checked")
'''


def _run_script(folder, text: str) -> subprocess.CompletedProcess[str]:
    """Run ``text`` as the script ``unguarded.py`` in ``folder``."""
    (folder / "unguarded.py").write_text(text)
    return subprocess.run(
        [sys.executable, "unguarded.py"], cwd=folder, capture_output=True, text=True, timeout=600
    )


def test_a_script_without_a_main_guard_gets_one_message_not_a_fork_bomb(tmp_path) -> None:
    ps_before = len(os.listdir("/proc"))
    done = _run_script(tmp_path, _UNGUARDED_SCRIPT)
    assert done.returncode != 0
    assert NESTED_REPLAY_ERROR in done.stderr
    assert done.stderr.count("Traceback") == 1  # one error, not a tower of them
    assert len(os.listdir("/proc")) < ps_before + 20  # nothing left running


def test_the_guarded_script_checks_its_env(tmp_path) -> None:
    guarded = _UNGUARDED_SCRIPT.replace(
        'check_text_env("unguarded:Echo-v0")  # no `if __name__ == "__main__":` guard\n'
        'print("checked")',
        'if __name__ == "__main__":\n    check_text_env("unguarded:Echo-v0")\n    print("checked")',
    )
    done = _run_script(tmp_path, guarded)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "checked"
