"""Any textgym env as a verifiers taskset (``pip install 'textgym[verifiers]'``).

verifiers 0.4 (its ``verifiers.v1`` API) loads an environment from an installed module
that exports one ``Taskset`` and, for a multi-turn game, one ``Env`` through
``__all__``; this module is such a module, so its id is its import path::

    vf-eval textgym.integrations.verifiers --env.taskset.env-id TextTicTacToe-LLM-v0 \\
        --env.taskset.num-episodes 20 --env.player.harness.id null \\
        --client.base-url http://127.0.0.1:8000/v1 -m MODEL

- :class:`TextgymTaskset` yields one task per episode seed (``seed_start`` ..): its
  prompt is the env's first observation, its system prompt the env's (rules and answer
  format), its ``info`` the env id, seed and reset options.
- :class:`TextgymEnv` plays each task as textgym would: the env is made with its own
  wrappers and reset with that seed; every reply of the model is one ``env.step`` with
  the reply's text; the env's next observation is the next user turn, until the episode
  ends (or the model's turn budget does). Rewards are the env's: ``episode_return`` (the
  sum, invalid-move penalty and format reward included) is the trace's reward, each
  reward component a metric (``reward_outcome``, ``reward_invalid``, ...), as well as the
  env's episode metrics (``win``, ``loss``, ...) and the number of steps.

:func:`load_environment` builds the same thing in Python (verifiers' ``load_environment``
convention).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gymnasium as gym

try:
    import verifiers.v1 as vf
except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "textgym.integrations.verifiers needs verifiers: pip install 'textgym[verifiers]'"
    ) from exc

import textgym  # noqa: F401  (registers the built-in envs)
from textgym.wrappers.chat import stack_system_prompt

DEFAULT_ENV = "TextTicTacToe-LLM-v0"
TASKSET_ID = "textgym-verifiers"
"""verifiers' id of the taskset: the top-level module ``textgym_verifiers``."""


class TextgymTasksetConfig(vf.TasksetConfig):
    """Which env, which seeds, which reset options."""

    env_id: str = DEFAULT_ENV
    """A registered textgym env (``textgym envs``), or ``module:Env-v0``."""
    num_episodes: int = 100
    """How many tasks (one episode seed each)."""
    seed_start: int = 0
    """The first episode seed."""
    options: dict[str, Any] | None = None
    """Reset options for every episode (e.g. ``{"random_move_prob": 1.0}``)."""


class TextgymData(vf.TaskData):
    """One episode: its env, seed and reset options, in ``info``."""

    info: dict[str, Any]


class TextgymTask(vf.Task[TextgymData, vf.State, vf.TaskConfig]):
    """A textgym episode as a verifiers task."""


def _check(config: TextgymTasksetConfig) -> None:
    for name, low in (("num_episodes", 1), ("seed_start", 0)):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
    if config.options is not None and not isinstance(config.options, dict):
        raise ValueError(f"options must be a mapping or None, got {config.options!r}")
    try:
        gym.make(config.env_id).close()
    except gym.error.Error as exc:
        raise ValueError(
            f"unknown env {config.env_id!r}: {exc} (textgym envs lists them)"
        ) from None


class TextgymTaskset(vf.Taskset[TextgymTask, TextgymTasksetConfig]):
    """One task per episode seed of a textgym env."""

    def load(self) -> Iterator[TextgymTask]:
        """The tasks: the env's first observation for each seed."""
        config = self.config
        _check(config)
        env = gym.make(config.env_id)
        system = stack_system_prompt(env)
        try:
            for seed in range(config.seed_start, config.seed_start + config.num_episodes):
                obs, _ = env.reset(seed=seed, options=config.options)
                yield TextgymTask(
                    TextgymData(
                        name=f"{config.env_id}#{seed}",
                        prompt=str(obs),
                        system_prompt=system or None,
                        info={"env_id": config.env_id, "seed": seed, "options": config.options},
                    ),
                    config.task,
                )
        finally:
            env.close()


class TextgymEnvConfig(vf.EnvConfig):
    """The env's one agent: the player."""

    player: vf.AgentConfig = vf.AgentConfig()


class TextgymEnv(vf.Env[TextgymEnvConfig]):
    """Plays a task's episode: each model reply is one ``env.step``."""

    async def run(self, task: TextgymTask, agents: Any) -> None:
        """One episode, the env's observations as the user's turns."""
        info = task.data.info
        env = gym.make(info["env_id"])
        total, steps, last_info, done = 0.0, 0, {}, False
        components: dict[str, float] = {}
        try:
            env.reset(seed=info["seed"], options=info.get("options"))
            async with agents.player.interaction(task) as interaction:
                segment = await interaction.turn()
                while not segment.terminated:
                    obs, reward, terminated, truncated, last_info = env.step(segment.last_reply)
                    steps += 1
                    total += float(reward)
                    for name, value in (last_info.get("reward_components") or {}).items():
                        components[name] = components.get(name, 0.0) + float(value)
                    if terminated or truncated:
                        done = True
                        break
                    segment = await interaction.turn(str(obs))
        finally:
            env.close()
        trace = interaction.trace
        trace.record_reward("episode_return", total, 1.0)
        trace.record_metric("steps", steps)
        trace.record_metric("episode_done", float(done))
        for name, value in components.items():
            trace.record_metric(f"reward_{name}", value)
        for name, value in (last_info.get("episode_metrics") or {}).items():
            trace.record_metric(name, float(value))


def load_environment(
    env_id: str = DEFAULT_ENV,
    num_episodes: int = 100,
    seed_start: int = 0,
    options: dict[str, Any] | None = None,
    harness: str = "null",
) -> TextgymEnv:
    """A verifiers env playing ``num_episodes`` seeds of ``env_id`` (the player's
    harness defaults to ``null``: a plain chat, no tools of its own)."""
    taskset = TextgymTasksetConfig(
        id=TASKSET_ID,
        env_id=env_id,
        num_episodes=num_episodes,
        seed_start=seed_start,
        options=options,
    )
    _check(taskset)
    config = TextgymEnvConfig(taskset=taskset, player=vf.AgentConfig(harness={"id": harness}))
    return TextgymEnv(config)


__all__ = [
    "TextgymEnv",
    "TextgymTask",
    "TextgymTaskset",
    "load_environment",
]
