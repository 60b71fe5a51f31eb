"""Conformance suite for text environments, shipped for env authors.

:func:`check_text_env` runs Gymnasium's ``check_env`` and then what it cannot see for a
text env: observations of full episodes lie in the observation space, seeded episodes are
byte-identical (also in fresh processes with different ``PYTHONHASHSEED``), ``reset``
clears every piece of state of the env and its wrappers, the seed and the env's
``hidden_strings()`` never leak into observations, ``terminated``/``truncated`` behave,
the env survives ``copy.deepcopy`` and pickling mid-episode, and hostile actions
(:mod:`textgym.utils.hostile`) are answered, never raised.

Episodes are driven by a deterministic scripted driver (:class:`Driver`) that plays for
real most of the time, so that every check reaches real play (later turns, solved tasks):

1. the env's reference player (:meth:`textgym.core.TextEnv.reference_player`), reading
   the conversation as a model would (system prompt, observations, its own answers),
   mostly its reference answer and sometimes its mistake, formatted for the wrapper stack
   (a ``format_action`` in the stack);
2. without one, an entry of ``info["legal_actions"]`` when the env lists them;
3. else a well-formed but arbitrary answer in the env's answer tag;

and otherwise sends awkward text: empty strings, tags, numbers out of range, unicode,
control characters.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import pickle
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from textgym.core import OptionRange
from textgym.utils.hostile import hostile_actions

#: Awkward answers the driver sends besides legal actions. Any string must be accepted.
JUNK_ACTIONS: tuple[str, ...] = (
    "",
    " ",
    "hello",
    "0",
    "10",
    "-1",
    "<move>5</move>",
    "<think>hmm</think>",
    "ünïcødé ✓",
    "\x00\x01\n\t",
    "9" * 300,
)

#: Seeds whose decimal digits are distinctive enough to be searched for in observations.
LEAK_SEEDS: tuple[int, ...] = (918_273_645_546_372, 123_456_789_987_654_321)

Transcript = list[tuple[Any, ...]]


class TextEnvCheckError(AssertionError):
    """A text env broke one of the textgym contracts."""


def _fail(message: str) -> None:
    raise TextEnvCheckError(message)


def _canonical(info: dict[str, Any]) -> str:
    return json.dumps(info, sort_keys=True, default=repr)


def _wrapper_attr(env: gym.Env, name: str) -> Any:
    try:
        return env.get_wrapper_attr(name)
    except AttributeError:
        return None


def _answer_tag(env: gym.Env) -> str | None:
    """The tag answers go in: a FormatCheck-like wrapper's ``tag``, else the env's own
    ``answer_tag`` (multi-turn and tool envs), else None."""
    for tag in (_wrapper_attr(env, "tag"), getattr(env.unwrapped, "answer_tag", None)):
        if isinstance(tag, str) and tag:
            return tag
    return None


#: Share of the driver's reference-player turns that play the player's mistake.
MISTAKE_SHARE = 0.25


class Driver:
    """The checker's player for one episode: deterministic given its generator.

    With probability ``legal_prob`` a turn is real play (the env's reference player, else
    a listed legal action, else a well-formed answer in the answer tag; see the module
    docstring), otherwise an entry of :data:`JUNK_ACTIONS`. Call :meth:`observe` with
    every observation (the reset one included) and :meth:`act` for each action.
    """

    def __init__(self, env: gym.Env, rng: np.random.Generator, legal_prob: float = 0.8) -> None:
        self.rng = rng
        self.legal_prob = legal_prob
        self.tag = _answer_tag(env)
        self.format = _wrapper_attr(env, "format_action")
        try:
            self.player = env.unwrapped.reference_player()
        except (AttributeError, NotImplementedError):
            self.player = None
        system = _wrapper_attr(env, "system_prompt")
        if system is None:
            system = getattr(env.unwrapped, "rules_prompt", "")
        self.messages: list[dict[str, str]] = [{"role": "system", "content": str(system)}]

    def observe(self, observation: Any) -> None:
        """Add an observation to the conversation the reference player reads."""
        self.messages.append({"role": "user", "content": str(observation)})

    def act(self, info: dict[str, Any], legal_prob: float | None = None) -> str:
        """The next action (also added to the conversation)."""
        chance = self.legal_prob if legal_prob is None else legal_prob
        if self.rng.random() < chance:
            action = self._play(info)
        else:
            action = JUNK_ACTIONS[int(self.rng.integers(len(JUNK_ACTIONS)))]
        self.messages.append({"role": "assistant", "content": action})
        return action

    def _play(self, info: dict[str, Any]) -> str:
        if self.player is not None:
            mistake = self.rng.random() < MISTAKE_SHARE
            try:
                if mistake:
                    text = self.player.mistake(list(self.messages), self.rng)
                else:
                    text = self.player.answer(list(self.messages))
            except ValueError:  # the player cannot read this conversation
                text = ""
            return self.format(text) if self.format is not None and text else text
        legal = info.get("legal_actions")
        if legal:
            action = str(legal[int(self.rng.integers(len(legal)))])
        else:
            action = str(int(self.rng.integers(10)))
        return f"<{self.tag}>{action}</{self.tag}>" if self.tag else action


def play_transcript(
    env: gym.Env,
    seed: int,
    *,
    driver_seed: int = 0,
    legal_prob: float = 0.8,
    max_steps: int = 200,
    stop_after: int | None = None,
    observations: list[str] | None = None,
) -> Transcript:
    """Play one seeded episode with the deterministic driver and return its transcript.

    The transcript holds the reset observation and info, then (action, observation,
    reward, terminated, truncated, info) for every step, with infos in canonical JSON.

    Args:
        env: the environment (wrapped or not).
        seed: passed to ``reset``.
        driver_seed: seeds the driver's choices (not the env).
        legal_prob: probability of real play (see :class:`Driver`) at each turn.
        max_steps: an episode longer than this is reported as a failure.
        stop_after: stop after this many steps without finishing the episode.
        observations: if given, every observation is appended to it.
    """
    driver = Driver(env, np.random.default_rng(driver_seed), legal_prob)
    obs, info = env.reset(seed=seed)
    driver.observe(obs)
    if observations is not None:
        observations.append(obs)
    transcript: Transcript = [("reset", obs, _canonical(info))]
    for step in range(max_steps):
        if stop_after is not None and step >= stop_after:
            return transcript
        action = driver.act(info)
        obs, reward, terminated, truncated, info = env.step(action)
        driver.observe(obs)
        if observations is not None:
            observations.append(obs)
        transcript.append((action, obs, float(reward), terminated, truncated, _canonical(info)))
        if terminated or truncated:
            return transcript
    _fail(
        f"episode with seed {seed} did not end within {max_steps} steps; "
        "bound it (e.g. a turn limit that sets truncated=True)"
    )
    return transcript


def transcript_digest(env: gym.Env, seeds: tuple[int, ...], driver_seed: int = 0) -> str:
    """SHA-256 of the transcripts of one episode per seed (used across processes)."""
    h = hashlib.sha256()
    for seed in seeds:
        h.update(repr(play_transcript(env, seed, driver_seed=driver_seed)).encode())
    return h.hexdigest()


_CHILD = """
import pickle, sys
from textgym.utils.env_checker import transcript_digest
env, seeds = pickle.loads(sys.stdin.buffer.read())
print(transcript_digest(env, seeds))
env.close()
"""

#: Set in the environment of a replay process: check_text_env refuses to run there.
REPLAY_MARK = "TEXTGYM_CHECK_REPLAY"
#: Replay processes alive at once in this process, whatever the number of threads.
MAX_REPLAYS = 2
_replays = threading.BoundedSemaphore(MAX_REPLAYS)

NESTED_REPLAY_ERROR = (
    "check_text_env was called inside one of its own replay processes: the replay "
    "imports the module that defines your env, and that module calls check_text_env when "
    "it is imported. Put the call under 'if __name__ == \"__main__\":' (or in a test), "
    "or pass cross_process=False."
)


def _refuse_nested_replay() -> None:
    """Raise in a replay process (what ``multiprocessing`` does for the same mistake):
    without it, a script that checks its own env on import starts replays that start
    replays, without end."""
    if os.environ.get(REPLAY_MARK):
        raise RuntimeError(NESTED_REPLAY_ERROR)


def _digest_in_subprocess(payload: bytes, hash_seed: str) -> str:
    environ = dict(os.environ, PYTHONHASHSEED=hash_seed)
    environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    environ[REPLAY_MARK] = "1"
    with _replays:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=payload,
            capture_output=True,
            env=environ,
            timeout=300,
            check=False,
        )
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace")
        if NESTED_REPLAY_ERROR in stderr:
            raise TextEnvCheckError(NESTED_REPLAY_ERROR)
        _fail(
            f"replaying the env in a subprocess (PYTHONHASHSEED={hash_seed}) failed:\n"
            + stderr[-2000:]
        )
    return proc.stdout.decode().strip()


def _check_text_space(space: spaces.Space, what: str) -> None:
    if not isinstance(space, spaces.Text):
        _fail(f"the {what} space must be gymnasium.spaces.Text, got {space!r}")
    if space.min_length != 0:
        _fail(f"the {what} space must accept the empty string (min_length=0), got {space!r}")
    for needed in (" ", "\n"):
        if needed not in space.character_set:
            _fail(f"the {what} space charset must include {needed!r}: {space!r}")


def _resolve(env_or_id: gym.Env | str, env_kwargs: dict[str, Any]) -> Callable[[], gym.Env]:
    if isinstance(env_or_id, str):
        return lambda: gym.make(env_or_id, **env_kwargs)
    if env_kwargs:
        raise ValueError("env_kwargs only applies when an env id is given")
    if not isinstance(env_or_id, gym.Env):
        raise TypeError(
            f"check_text_env expects a gymnasium.Env or an env id, got {type(env_or_id).__name__}"
        )
    blueprint = pickle.dumps(env_or_id)
    return lambda: pickle.loads(blueprint)


def check_text_env(
    env_or_id: gym.Env | str,
    *,
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7),
    env_kwargs: dict[str, Any] | None = None,
    cross_process: bool = True,
    run_gymnasium_check: bool = True,
    max_steps: int = 200,
    hostile: bool = True,
) -> None:
    """Check that a text environment keeps every textgym contract.

    Args:
        env_or_id: an env instance (wrapped or not; it must be picklable) or a registered id.
        seeds: episode seeds to play.
        env_kwargs: keyword arguments for ``gymnasium.make`` when an id is given.
        cross_process: also replay the seeded episodes in two fresh interpreters with
            different ``PYTHONHASHSEED`` values and compare transcripts.
        run_gymnasium_check: run :func:`gymnasium.utils.env_checker.check_env` first.
        max_steps: longest episode allowed.
        hostile: step every action of :func:`~textgym.utils.hostile.hostile_actions`
            (pathological tool calls, megabytes of junk, unclosed tags, lone surrogates) at
            the start of an episode and after a first move: each must be answered with an
            observation in the space, never an exception.

    Raises:
        TextEnvCheckError: naming the first broken contract.
        RuntimeError: when called inside a replay process (a module that checks its env
            when imported, without an ``if __name__ == "__main__":`` guard).
    """
    _refuse_nested_replay()
    make = _resolve(env_or_id, dict(env_kwargs or {}))

    if run_gymnasium_check:
        env = make()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*different from the unwrapped.*")
            warnings.filterwarnings("ignore", message=".*not within the observation space.*")
            check_env(env, skip_render_check=True)
        env.close()

    env = make()
    _check_text_space(env.observation_space, "observation")
    _check_text_space(env.action_space, "action")

    _check_episodes(env, seeds)
    fresh = make()
    _check_determinism(env, fresh, seeds)
    _check_reset_clears_state(env, make, seeds)
    _check_no_leaks(env, max_steps)
    _check_copies(env, seeds, max_steps)
    _check_hooks(env, seeds, max_steps)
    if hostile:
        _check_hostile(env, seeds)
    if cross_process:
        _check_cross_process(make, seeds)
    fresh.close()
    env.close()


def _check_episodes(env: gym.Env, seeds: tuple[int, ...]) -> None:
    """Observations of full episodes lie in the space; rewards and flags are sane; a
    finished episode cannot be stepped."""
    for seed in seeds:
        observations: list[str] = []
        transcript = play_transcript(env, seed, driver_seed=seed, observations=observations)
        for obs in observations:
            if not isinstance(obs, str) or obs not in env.observation_space:
                _fail(f"seed {seed}: observation outside the observation space: {obs!r:.300}")
        for entry in transcript[1:]:
            _, _, reward, terminated, truncated, _ = entry
            if not math.isfinite(reward):
                _fail(f"seed {seed}: non-finite reward {reward!r}")
            if not isinstance(terminated, (bool, np.bool_)) or not isinstance(
                truncated, (bool, np.bool_)
            ):
                _fail(f"seed {seed}: terminated/truncated must be bools, got {entry[3:5]!r}")
        if any(e[3] or e[4] for e in transcript[1:-1]):
            _fail(f"seed {seed}: the episode continued after terminated or truncated was True")
        try:
            env.step("1")
        except gym.error.ResetNeeded:
            pass
        except Exception as exc:  # the contract: a clear error, of the env's own choosing
            if isinstance(exc, (TypeError, AttributeError, IndexError, KeyError)):
                _fail(f"stepping a finished episode raised an unclear {exc!r}")
        else:
            _fail("stepping a finished episode must raise a clear error, but it returned")


def _check_determinism(env: gym.Env, fresh: gym.Env, seeds: tuple[int, ...]) -> None:
    """Same seed and same actions give identical transcripts, in this env and a fresh one."""
    for seed in seeds:
        a = play_transcript(env, seed, driver_seed=seed)
        b = play_transcript(env, seed, driver_seed=seed)
        c = play_transcript(fresh, seed, driver_seed=seed)
        if a != b:
            _fail(
                f"seed {seed}: same seed and same actions gave different transcripts on the same "
                "env: reset did not clear all state, or randomness does not come from the "
                "env's seeded generator"
            )
        if a != c:
            _fail(
                f"seed {seed}: same seed and same actions gave different transcripts in a fresh "
                "env: randomness does not come from the env's seeded generator"
            )


def _check_reset_clears_state(
    env: gym.Env, make: Callable[[], gym.Env], seeds: tuple[int, ...]
) -> None:
    """A fresh episode after an interrupted or finished one (other seeds, other actions)
    equals the same episode in a brand-new env."""
    for seed in seeds:
        for stop_after in (0, 1, 2, None):
            play_transcript(
                env, seed + 1000, driver_seed=seed + 7, legal_prob=0.3, stop_after=stop_after
            )
            after = play_transcript(env, seed, driver_seed=seed)
            brand_new = make()
            replay = play_transcript(brand_new, seed, driver_seed=seed)
            brand_new.close()
            if after != replay:
                _fail(
                    f"seed {seed}: reset did not clear the state left by a previous episode "
                    f"(stopped after {stop_after} steps)"
                )


def _check_no_leaks(env: gym.Env, max_steps: int) -> None:
    """Nothing secret in observations: not the seed, not the env's hidden strings."""
    for seed in LEAK_SEEDS:
        driver = Driver(env, np.random.default_rng(seed))
        obs, info = env.reset(seed=seed)
        driver.observe(obs)
        for _ in range(max_steps):
            leaks = (
                [str(seed), *env.unwrapped.hidden_strings()]
                if hasattr(env.unwrapped, "hidden_strings")
                else [str(seed)]
            )
            for secret in leaks:
                if secret and secret in obs:
                    _fail(f"seed {seed}: the observation reveals hidden text {secret!r}")
            obs, _, terminated, truncated, info = env.step(driver.act(info))
            driver.observe(obs)
            if str(seed) in obs:
                _fail(f"seed {seed}: the observation reveals the seed")
            if terminated or truncated:
                break


def _check_copies(env: gym.Env, seeds: tuple[int, ...], max_steps: int) -> None:
    """deepcopy and pickle mid-episode: the copy continues exactly like the original."""
    for seed in seeds[:3]:
        for clone in (copy.deepcopy, lambda e: pickle.loads(pickle.dumps(e))):
            env.reset(seed=seed)
            env.step(Driver(env, np.random.default_rng(seed)).act({}, legal_prob=0.0))
            try:
                twin = clone(env)
            except Exception as exc:
                _fail(f"the env cannot be copied or pickled mid-episode: {exc!r}")
            for step in range(max_steps):
                action = (
                    JUNK_ACTIONS[step % len(JUNK_ACTIONS)] if step % 3 == 0 else str(step % 9 + 1)
                )
                try:
                    out_a = env.step(action)
                except Exception as exc:
                    out_a = ("error", type(exc).__name__)
                try:
                    out_b = twin.step(action)
                except Exception as exc:
                    out_b = ("error", type(exc).__name__)
                if repr(out_a[:4]) != repr(out_b[:4]) or (
                    len(out_a) == 5 and _canonical(out_a[4]) != _canonical(out_b[4])
                ):
                    _fail(f"seed {seed}: a copied/unpickled env diverged from the original")
                if out_a[0] == "error" or out_a[2] or out_a[3]:
                    break
            twin.close()


def _check_hooks(env: gym.Env, seeds: tuple[int, ...], max_steps: int) -> None:
    """The textgym hooks: declared curriculum options reset at both ends of their range,
    and ``info["episode_metrics"]``, when reported, holds finite numbers (the yes/no ones
    0 or 1)."""
    base: Any = env.unwrapped
    ranges = base.curriculum_options() if hasattr(base, "curriculum_options") else {}
    for name, spec in ranges.items():
        if not isinstance(spec, OptionRange):
            _fail(f"curriculum_options()[{name!r}] must be an OptionRange, got {spec!r}")
        for value in (spec.low, spec.high):
            try:
                env.reset(seed=seeds[0], options={name: int(value) if spec.integer else value})
            except Exception as exc:
                _fail(f"reset with curriculum option {name}={value!r} failed: {exc!r}")
    rates = set(getattr(base, "rate_metrics", ()))
    for seed in seeds[:3]:
        driver = Driver(env, np.random.default_rng(seed))
        obs, info = env.reset(seed=seed)
        driver.observe(obs)
        for _ in range(max_steps):
            obs, _, terminated, truncated, info = env.step(driver.act(info))
            driver.observe(obs)
            if terminated or truncated:
                break
        for name, value in (info.get("episode_metrics") or {}).items():
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                _fail(f"seed {seed}: episode metric {name!r} is not a finite number: {value!r}")
            if name in rates and value not in (0, 1):
                _fail(f"seed {seed}: rate metric {name!r} must be 0 or 1, got {value!r}")


def _check_hostile(env: gym.Env, seeds: tuple[int, ...]) -> None:
    """Every hostile action is answered (observation in the space, finite reward, bool
    flags), at the start of an episode and after a first move, and the env plays on."""
    schemas = getattr(env.unwrapped, "schemas", None) or []
    names = tuple(s["name"] for s in schemas if isinstance(s, dict) and "name" in s)
    actions = hostile_actions(_answer_tag(env), names or ("calculate", "query"))
    for i, action in enumerate(actions):
        seed = seeds[i % len(seeds)]
        for first_moves in (0, 1):
            driver = Driver(env, np.random.default_rng(seed), legal_prob=1.0)
            obs, info = env.reset(seed=seed)
            driver.observe(obs)
            done = False
            for _ in range(first_moves):
                obs, _, terminated, truncated, info = env.step(driver.act(info))
                driver.observe(obs)
                done = terminated or truncated
            if done:
                continue
            try:
                obs, reward, terminated, truncated, info = env.step(action)
            except Exception as exc:
                _fail(f"the hostile action {action[:80]!r}... raised {exc!r:.300}")
            if not isinstance(obs, str) or obs not in env.observation_space:
                _fail(
                    f"the hostile action {action[:80]!r}... gave an observation outside "
                    f"the observation space: {obs!r:.200}"
                )
            if (
                not math.isfinite(float(reward))
                or not isinstance(terminated, (bool, np.bool_))
                or not isinstance(truncated, (bool, np.bool_))
            ):
                _fail(
                    f"the hostile action {action[:80]!r}... gave reward {reward!r}, "
                    f"terminated {terminated!r}, truncated {truncated!r}"
                )
            if not (terminated or truncated):
                driver.messages.append({"role": "assistant", "content": action})
                driver.observe(obs)
                env.step(driver.act(info))  # and the episode goes on


def _check_cross_process(make: Callable[[], gym.Env], seeds: tuple[int, ...]) -> None:
    """The same seeds give the same transcripts in processes with other hash seeds."""
    probe = tuple(seeds[:4])
    blueprint, other = make(), make()
    payload = pickle.dumps((blueprint, probe))
    here = transcript_digest(other, probe)
    blueprint.close()
    other.close()
    for hash_seed in ("0", "4242"):
        there = _digest_in_subprocess(payload, hash_seed)
        if there != here:
            _fail(
                f"the same seeds gave different transcripts in a process with "
                f"PYTHONHASHSEED={hash_seed}"
            )
