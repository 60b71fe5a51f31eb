"""Any textgym env as an OpenEnv environment (``pip install 'textgym[openenv]'``).

`OpenEnv <https://github.com/meta-pytorch/OpenEnv>`_ serves environments over HTTP and
WebSocket; TRL's ``environment_factory``, SkyRL, Unsloth and verifiers' OpenEnv taskset
consume such servers. ``textgym serve --env ID`` (or
:func:`textgym.integrations.openenv_server.serve`, the server and its limits) puts any
registered env behind one:

- one env per WebSocket session (``/ws``), made by ``gymnasium.make(env_id)`` with the
  env's own wrappers; a session that ends, or a client that disappears, closes its env;
- ``reset`` takes ``seed`` (a whole number in ``[0, 2**64)``) and ``options`` (the env's reset
  options, e.g. an opponent's skill); ``step`` takes the answer text
  (:class:`TextAction`);
- every observation (:class:`TextObservation`) carries the env's text, the reward of
  the step, ``done`` (terminated or truncated, each also given), and the step's info as
  JSON; the reset observation also carries the env's system prompt (its rules and answer
  format), so a client can build the same conversation textgym's own rollout does;
- bad messages are answered with an error and the session stays usable; they never
  stop the server (the server module lists them, and its limits).

Clients: OpenEnv's :class:`~openenv.core.GenericEnvClient` works as is; :class:`TextgymClient`
is the typed one; :class:`TRLTextgymEnv` is a ready ``environment_factory`` class for
TRL's ``GRPOTrainer`` (the model answers through its ``answer`` tool).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

try:
    import openenv  # noqa: F401
except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "textgym.integrations.openenv needs OpenEnv: pip install 'textgym[openenv]'"
    ) from exc
from openenv.core import EnvClient
from openenv.core.client_types import StepResult
from openenv.core.env_server import (
    Action,
    Environment,
    Observation,
    State,
)
from openenv.core.env_server.types import EnvironmentMetadata
from pydantic import Field

import textgym
from textgym.wrappers.chat import stack_system_prompt

_DROP_INFO = frozenset({"messages"})


class TextAction(Action):
    """One answer of the model: the text it generated for this turn."""

    text: str = Field(description="the model's answer for this turn, as generated")


class TextObservation(Observation):
    """What the env returns after ``reset`` or ``step``."""

    text: str = Field(default="", description="the env's observation text")
    system_prompt: str = Field(
        default="", description="the env's rules and answer format (reset only)"
    )
    terminated: bool = Field(default=False, description="the episode ended in the task")
    truncated: bool = Field(default=False, description="the episode was cut off")
    info: dict[str, Any] = Field(default_factory=dict, description="the step's info as JSON")


class TextState(State):
    """The session's episode: which env, which seed, how far, how much reward so far."""

    env_id: str = ""
    seed: int | None = None
    episode_return: float = 0.0
    done: bool = False


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars and arrays become numbers and lists,
    tuples and sets lists, mapping keys text, non-finite floats ``None``; anything else
    its ``str``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def _check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        shown = repr(seed) if len(repr(seed)) <= 40 else repr(seed)[:40] + "..."
        raise ValueError(f"seed must be a whole number in [0, 2**64) or null, got {shown}")
    return seed


class TextgymEnvironment(Environment[TextAction, TextObservation, TextState]):
    """An OpenEnv ``Environment`` around ``gymnasium.make(env_id, **make_kwargs)``.

    Args:
        env_id: a registered textgym env (``textgym envs``), or ``"module:Env-v0"``.
        make_kwargs: keyword arguments for ``gymnasium.make``.
        system_prompt: replaces the env's system prompt in the reset observation.
    """

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(
        self,
        env_id: str,
        make_kwargs: Mapping[str, Any] | None = None,
        system_prompt: str | None = None,
    ) -> None:
        super().__init__()
        self.env_id = env_id
        self.env = gym.make(env_id, **dict(make_kwargs or {}))
        self._system_prompt = system_prompt
        self._state = TextState(env_id=env_id)
        self._reset_done = False

    @property
    def system_prompt(self) -> str:
        """The system message a client should show the model."""
        return stack_system_prompt(self.env, self._system_prompt)

    def reset(
        self,
        seed: int | None = None,
        episode_id: str | None = None,
        options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> TextObservation:
        """Start an episode; ``options`` are the env's reset options."""
        if kwargs:
            raise ValueError(
                f"unknown reset fields {sorted(kwargs)}: reset takes seed, episode_id, options"
            )
        seed = _check_seed(seed)
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"options must be an object or null, got {options!r}")
        obs, info = self.env.reset(seed=seed, options=options)
        self._state = TextState(env_id=self.env_id, seed=seed, episode_id=episode_id)
        self._reset_done = True
        return TextObservation(
            text=str(obs), system_prompt=self.system_prompt, info=self._info(info)
        )

    def step(
        self, action: TextAction, timeout_s: float | None = None, **kwargs: Any
    ) -> TextObservation:
        """Play one answer."""
        if not self._reset_done:
            raise RuntimeError("step before reset: send a reset first")
        if self._state.done:
            raise RuntimeError("the episode is over: send a reset to start another")
        obs, reward, terminated, truncated, info = self.env.step(action.text)
        reward = float(reward)
        done = bool(terminated or truncated)
        self._state.step_count += 1
        self._state.episode_return += reward
        self._state.done = done
        return TextObservation(
            text=str(obs),
            reward=reward,
            done=done,
            terminated=bool(terminated),
            truncated=bool(truncated),
            info=self._info(info),
        )

    @staticmethod
    def _info(info: Mapping[str, Any]) -> dict[str, Any]:
        return jsonable({k: v for k, v in info.items() if k not in _DROP_INFO})

    @property
    def state(self) -> TextState:
        """The session's episode so far."""
        return self._state

    def get_metadata(self) -> EnvironmentMetadata:
        """The env's name and the first line of its description."""
        spec = self.env.spec
        doc = (type(self.env.unwrapped).__doc__ or "").strip().splitlines()
        return EnvironmentMetadata(
            name=spec.id if spec is not None else self.env_id,
            description=doc[0] if doc else self.env_id,
            version=textgym.__version__,
        )

    def close(self) -> None:
        """Close the gymnasium env (its subprocesses, connections, threads)."""
        self.env.close()


class TextgymClient(EnvClient[TextAction, TextObservation, TextState]):
    """OpenEnv's WebSocket client, typed for a textgym server::

    with TextgymClient(base_url="http://127.0.0.1:8000").sync() as env:
        result = env.reset(seed=3)
        result = env.step(TextAction(text="<move>5</move>"))
    """

    def _step_payload(self, action: TextAction) -> dict[str, Any]:
        return {"text": action.text}

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[TextObservation]:
        data = dict(payload.get("observation") or {})
        data.setdefault("reward", payload.get("reward"))
        data.setdefault("done", payload.get("done", False))
        obs = TextObservation(**data)
        return StepResult(observation=obs, reward=obs.reward, done=obs.done)

    def _parse_state(self, payload: dict[str, Any]) -> TextState:
        return TextState(**payload)


class TRLTextgymEnv:
    """A textgym server as TRL ``GRPOTrainer``'s ``environment_factory``::

        GRPOTrainer(..., environment_factory=lambda: TRLTextgymEnv("http://127.0.0.1:8000"))

    TRL makes one per rollout, calls :meth:`reset` (its text joins the prompt), lets the
    model call the :meth:`answer` tool turn by turn, and scores the rollout with
    :meth:`get_reward` (the episode's summed reward, penalties included).
    """

    def __init__(self, base_url: str, seed: int | None = None) -> None:
        self._client = TextgymClient(base_url=base_url).sync()
        self._client.connect()
        self._seed = seed
        self.total_reward = 0.0
        self.done = False

    def reset(self, **kwargs: Any) -> str:
        """Start a new episode; returns the rules and the first observation."""
        seed = kwargs.get("seed", self._seed)
        result = self._client.reset(seed=seed, options=kwargs.get("options"))
        self.total_reward = 0.0
        self.done = False
        obs = result.observation
        return f"{obs.system_prompt}\n\n{obs.text}" if obs.system_prompt else obs.text

    def answer(self, text: str) -> str:
        """Give your answer for this turn, in the answer format the rules ask for.

        Args:
            text: your answer, exactly as the rules ask (e.g. <move>5</move>).

        Returns:
            What the environment shows next.
        """
        if self.done:
            raise ValueError("the episode is over")
        result = self._client.step(TextAction(text=text))
        self.total_reward += float(result.reward or 0.0)
        self.done = bool(result.done)
        return result.observation.text

    def get_reward(self) -> float:
        """The episode's summed reward so far."""
        return self.total_reward

    def close(self) -> None:
        """Close the session (the server closes its env)."""
        self._client.close()


__all__ = [
    "TRLTextgymEnv",
    "TextAction",
    "TextObservation",
    "TextState",
    "TextgymClient",
    "TextgymEnvironment",
    "jsonable",
]
