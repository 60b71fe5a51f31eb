"""TextMastermind-v0 and the multi-turn base class it is built on."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import textgym  # noqa: F401
from textgym.envs.base import MultiTurnEnv, Reply
from textgym.envs.mastermind.env import TextMastermindEnv, pegs

codes = st.text(alphabet="123456", min_size=4, max_size=4)


@given(code=codes, guess=codes)
def test_pegs_match_a_brute_force_count(code: str, guess: str) -> None:
    black, white = pegs(code, guess)
    assert black == sum(a == b for a, b in zip(code, guess, strict=True))
    # white: unmatched positions paired greedily by symbol
    rest_code = [c for c, g in zip(code, guess, strict=True) if c != g]
    rest_guess = [g for c, g in zip(code, guess, strict=True) if c != g]
    expected_white = 0
    for g in rest_guess:
        if g in rest_code:
            rest_code.remove(g)
            expected_white += 1
    assert white == expected_white
    assert pegs(guess, code) == (black, white)


def consistent_player(env) -> tuple[float, bool, bool, int]:
    """Always guess the first code consistent with every answer so far."""
    obs, _ = env.reset()
    candidates = ["".join(p) for p in itertools.product("123456", repeat=4)]
    while True:
        guess = candidates[0]
        obs, reward, terminated, truncated, info = env.step(f"<guess>{guess}</guess>")
        if terminated or truncated:
            return reward, terminated, truncated, info["turn"]
        line = [x for x in obs.splitlines() if x.startswith(guess + ":")][-1]
        black, white = (int(w) for w in line.replace(",", "").split()[1::2])
        candidates = [c for c in candidates if pegs(c, guess) == (black, white)]


def test_a_consistent_player_always_solves_it_in_time() -> None:
    env = gym.make("TextMastermind-v0")
    turns = []
    for seed in range(60):
        env.reset(seed=seed)
        reward, terminated, truncated, turn = consistent_player(env)
        assert (reward, terminated, truncated) == (1.0, True, False)
        turns.append(turn)
    assert max(turns) <= 10 and np.mean(turns) < 6


@given(seed=st.integers(0, 2**32 - 1), guesses=st.lists(st.text(max_size=8), max_size=12))
def test_code_stays_hidden_and_rewards_in_range(seed: int, guesses: list[str]) -> None:
    env = gym.make("TextMastermind-v0")
    obs, _ = env.reset(seed=seed)
    code = env.unwrapped._code
    for guess in guesses:
        assert code not in obs
        obs, reward, terminated, truncated, info = env.step(f"<guess>{guess}</guess>")
        assert reward in (0.0, 1.0)
        assert info["turn"] <= 10
        if terminated or truncated:
            assert truncated == (info["turn"] == 10 and reward == 0.0)
            break


def test_turn_limit_truncates_and_same_seed_same_code() -> None:
    env = gym.make("TextMastermind-v0", max_turns=3)
    env.reset(seed=5)
    code = env.unwrapped._code
    wrong = "1111" if code != "1111" else "2222"
    results = [env.step(f"<guess>{wrong}</guess>") for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]  # truncated on the last
    assert not any(r[2] for r in results)
    again = gym.make("TextMastermind-v0")
    again.reset(seed=5)
    assert again.unwrapped._code == code


def test_invalid_guesses_cost_a_turn_and_are_not_echoed() -> None:
    env = gym.make("TextMastermind-v0")
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("<guess>123456789</guess>")
    assert "123456789" not in obs and "Invalid guess" in obs
    assert (reward, terminated, truncated, info["turn"], info["valid"]) == (
        0.0,
        False,
        False,
        1,
        False,
    )
    obs, *_, info = env.step("no tags at all")
    assert info["format_ok"] is False and info["turn"] == 2


@pytest.mark.parametrize("kwargs", [{"length": 1}, {"colors": 10}, {"max_turns": 0}])
def test_bad_arguments_raise_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TextMastermindEnv(**kwargs)


def test_a_subclass_needs_only_start_and_respond() -> None:
    class GuessTheNumber(MultiTurnEnv):
        system_prompt = "Guess my number from 1 to 100 inside <answer>...</answer>."

        def start(self, rng: np.random.Generator) -> str:
            self.secret = int(rng.integers(1, 101))
            return "I picked a number."

        def respond(self, answer: str | None) -> Reply:
            if answer is None or not answer.isdigit():
                return Reply("Answer with a whole number.")
            if int(answer) == self.secret:
                return Reply("Correct!", reward=1.0, done=True)
            return Reply("Higher." if int(answer) < self.secret else "Lower.")

    env = GuessTheNumber(max_turns=7)
    env.reset(seed=1)
    lo, hi = 1, 100
    while True:
        mid = (lo + hi) // 2
        obs, reward, terminated, truncated, _ = env.step(f"<answer>{mid}</answer>")
        if terminated or truncated:
            break
        lo, hi = (mid + 1, hi) if obs == "Higher." else (lo, mid - 1)
    assert (reward, terminated) == (1.0, True)  # binary search needs at most 7 guesses


def test_a_reply_outside_the_observation_space_is_made_to_fit() -> None:
    from textgym.envs.base import MultiTurnEnv, Reply

    class Echo(MultiTurnEnv):
        def start(self, rng):
            return "Say anything. \u00e9\u00e8"

        def respond(self, answer):
            return Reply(f"You said: {answer}" * 1000, done=False)

    env = Echo(max_observation_length=200)
    obs, _ = env.reset(seed=0)
    assert obs == "Say anything. ??" and obs in env.observation_space
    obs, *_ = env.step("<answer>caf\u00e9 \ud800</answer>")
    assert obs in env.observation_space and len(obs) == 200 and obs.endswith("...[cut]")
    assert obs.startswith("You said: caf? ?")
