"""Conformance suite for text environments, shipped for env authors.

:func:`check_text_env` runs Gymnasium's ``check_env`` and then what it cannot see for a
text env: observations of full episodes lie in the observation space, seeded episodes are
byte-identical (also in fresh processes with different ``PYTHONHASHSEED``), ``reset``
clears every piece of state of the env and its wrappers, the seed and the env's
``hidden_strings()`` never leak into observations, ``terminated``/``truncated`` behave,
the env survives ``copy.deepcopy`` and pickling mid-episode, and hostile actions
(:mod:`textgym.utils.hostile`) are answered, never raised.

Episodes are driven by a deterministic scripted player that mostly picks from
``info["legal_actions"]`` (when the env provides it) and otherwise sends awkward text:
empty strings, tags, numbers out of range, unicode, control characters.
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


def _answer_tag(env: gym.Env) -> str | None:
    """The answer tag of a FormatCheck-like wrapper in the stack, if any."""
    try:
        tag = env.get_wrapper_attr("tag")
    except AttributeError:
        return None
    return tag if isinstance(tag, str) else None


def _driver_action(
    rng: np.random.Generator, info: dict[str, Any], legal_prob: float, tag: str | None = None
) -> str:
    legal = info.get("legal_actions")
    if legal and rng.random() < legal_prob:
        action = str(legal[int(rng.integers(len(legal)))])
        return f"<{tag}>{action}</{tag}>" if tag else action
    return JUNK_ACTIONS[int(rng.integers(len(JUNK_ACTIONS)))]


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
        legal_prob: probability of answering with a legal action when one is listed.
        max_steps: an episode longer than this is reported as a failure.
        stop_after: stop after this many steps without finishing the episode.
        observations: if given, every observation is appended to it.
    """
    rng = np.random.default_rng(driver_seed)
    tag = _answer_tag(env)
    obs, info = env.reset(seed=seed)
    if observations is not None:
        observations.append(obs)
    transcript: Transcript = [("reset", obs, _canonical(info))]
    for step in range(max_steps):
        if stop_after is not None and step >= stop_after:
            return transcript
        action = _driver_action(rng, info, legal_prob, tag)
        obs, reward, terminated, truncated, info = env.step(action)
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
        rng = np.random.default_rng(seed)
        obs, info = env.reset(seed=seed)
        for _ in range(max_steps):
            leaks = (
                [str(seed), *env.unwrapped.hidden_strings()]
                if hasattr(env.unwrapped, "hidden_strings")
                else [str(seed)]
            )
            for secret in leaks:
                if secret and secret in obs:
                    _fail(f"seed {seed}: the observation reveals hidden text {secret!r}")
            action = _driver_action(rng, info, 0.8, _answer_tag(env))
            obs, _, terminated, truncated, info = env.step(action)
            if str(seed) in obs:
                _fail(f"seed {seed}: the observation reveals the seed")
            if terminated or truncated:
                break


def _check_copies(env: gym.Env, seeds: tuple[int, ...], max_steps: int) -> None:
    """deepcopy and pickle mid-episode: the copy continues exactly like the original."""
    for seed in seeds[:3]:
        for clone in (copy.deepcopy, lambda e: pickle.loads(pickle.dumps(e))):
            env.reset(seed=seed)
            env.step(_driver_action(np.random.default_rng(seed), {}, 0.0))
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
        rng = np.random.default_rng(seed)
        _, info = env.reset(seed=seed)
        for _ in range(max_steps):
            _, _, terminated, truncated, info = env.step(
                _driver_action(rng, info, 0.8, _answer_tag(env))
            )
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
    tag = _answer_tag(env) or getattr(env.unwrapped, "answer_tag", None)
    actions = hostile_actions(tag, names or ("calculate", "query"))
    for i, action in enumerate(actions):
        seed = seeds[i % len(seeds)]
        for first_moves in (0, 1):
            rng = np.random.default_rng(seed)
            _, info = env.reset(seed=seed)
            done = False
            for _ in range(first_moves):
                _, _, terminated, truncated, info = env.step(_driver_action(rng, info, 1.0, tag))
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
                env.step(_driver_action(rng, info, 1.0, tag))  # and the episode goes on


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
