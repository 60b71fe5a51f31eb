"""The text-environment base class and text-space helpers.

Every textgym environment is a ``gymnasium.Env[str, str]``: observations and actions are
strings, described by :class:`gymnasium.spaces.Text` spaces with an explicit, ordered
charset of printable ASCII (Gymnasium's default charset is alphanumeric only and would
reject any normal prompt).
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
from gymnasium import spaces

Message = dict[str, str]
"""One chat message: ``{"role": ..., "content": ...}``."""
Conversation = list[Message]
"""The messages a policy answers, oldest first."""


@dataclass
class Completion:
    """One sampled answer, with the exact tokens behind it when the policy has them."""

    text: str
    """The answer text (special tokens such as EOS removed)."""
    prompt_ids: list[int] = field(default_factory=list)
    """Token ids of the rendered conversation the answer was sampled from."""
    completion_ids: list[int] = field(default_factory=list)
    """Token ids that were sampled, including the final EOS when one was sampled."""
    logprobs: list[float] | None = None
    """Per-token log-probability of each completion id under the sampling distribution."""
    finish_reason: Literal["stop", "length", "scripted", "error"] = "stop"
    """Why the answer ended: EOS, the token budget, a scripted player, or a failed request."""


@runtime_checkable
class Policy(Protocol):
    """Anything that answers many conversations at once (the policy protocol: a batch of
    conversations in, a batch of completions out; implementations live in
    :mod:`textgym.policies`). A policy that keeps state for the next turns of the same
    conversations (a KV cache) may also offer ``clear_cache()``, which a rollout calls
    when its last episode ends."""

    def complete(self, conversations: Sequence[Conversation]) -> list[Completion]:
        """Return one completion per conversation, in order."""
        ...


#: Printable ASCII in a fixed order: digits, letters, punctuation, then whitespace
#: (space, tab, newline, carriage return, vertical tab, form feed).
PRINTABLE_CHARSET: str = string.printable


def text_space(max_length: int, charset: str = PRINTABLE_CHARSET) -> spaces.Text:
    """A :class:`~gymnasium.spaces.Text` space of 0..``max_length`` characters of ``charset``."""
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    return spaces.Text(max_length=max_length, min_length=0, charset=charset)


def fit_text(text: str, space: spaces.Text, note: str = " ...[cut]") -> str:
    """``text`` made to lie in ``space``: characters outside its charset become ``?`` and a
    text longer than its ``max_length`` is cut, ending with ``note``."""
    allowed = space.character_set
    if not all(c in allowed for c in text):
        text = "".join(c if c in allowed else "?" for c in text)
    if len(text) > space.max_length:
        keep = max(space.max_length - len(note), 0)
        text = (text[:keep] + note)[: space.max_length]
    return text


class EpisodeOverError(RuntimeError):
    """Raised when ``step`` is called on an episode that has ended or was never reset."""


@dataclass(frozen=True)
class OptionRange:
    """The range of one numeric reset option that varies between episodes (a curriculum).

    An env declares its ranges in :meth:`TextEnv.curriculum_options`; trainers stratify
    over them and ``reset(options={name: value})`` accepts any value inside.
    """

    low: float
    """Smallest value."""
    high: float
    """Largest value (inclusive)."""
    integer: bool = False
    """Whole numbers only (e.g. a string length)."""
    doc: str = ""
    """What the option changes, in a few words (shown in help and error messages)."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low <= self.high):
            raise ValueError(f"need finite low <= high, got {self.low!r}, {self.high!r}")

    def check(self, name: str, value: object) -> float | int:
        """``value`` as a number inside the range, or a ``ValueError`` naming both."""
        kind = "a whole number" if self.integer else "a number"
        bad = ValueError(f"{name} must be {kind} in [{self.low:g}, {self.high:g}], got {value!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise bad
        if not (math.isfinite(float(value)) and self.low <= float(value) <= self.high):
            raise bad
        if self.integer:
            if float(value) != int(value):
                raise bad
            return int(value)
        return float(value)


class ReferencePlayer(Protocol):
    """An env's scripted player (:meth:`TextEnv.reference_player`).

    It reads only the conversation (what a model would see: the latest user message is the
    latest observation) and answers in the env's own action format. ``answer`` is the
    reference answer; ``mistake`` a plausible wrong one, which the imperfect player
    ``reference:Q`` plays with probability ``1 - Q`` (see
    :class:`textgym.policies.reference.ReferencePolicy`). Both raise ``ValueError`` when the
    conversation does not hold what they need (an empty answer is played then).
    """

    def answer(self, conversation: Conversation) -> str:
        """The reference answer to the latest observation."""
        ...

    def mistake(self, conversation: Conversation, rng: np.random.Generator) -> str:
        """A wrong but well-formed answer, drawn from ``rng``."""
        ...


def check_reset_options(
    env: object,
    options: Mapping[str, Any] | None,
    ranges: Mapping[str, OptionRange],
    other: Sequence[str] = (),
) -> dict[str, Any]:
    """Validate ``reset`` options: curriculum options in their range, ``other`` names as is.

    Returns a new dict with the curriculum values as numbers. An unknown name is a
    ``ValueError`` that names it and every valid option.
    """
    options = dict(options or {})
    unknown = sorted(set(options) - set(ranges) - set(other))
    if unknown:
        valid = sorted({*ranges, *other})
        choices = ", ".join(valid) if valid else "none"
        raise ValueError(
            f"{type(env).__name__}: unknown reset option(s) {unknown}; valid: {choices}"
        )
    for name, spec in ranges.items():
        if name in options:
            options[name] = spec.check(name, options[name])
    return options


class TextEnv(gym.Env[str, str]):
    """Base class for environments that speak text in and text out.

    Subclasses set ``observation_space``/``action_space`` (see :func:`text_space`), a
    ``system_prompt`` describing the task and the answer format, and implement
    ``reset``/``step``. They call :meth:`_check_action` first thing in ``step``, which
    enforces the two programming-error rules of the library: actions must be ``str``
    (any string is a legal input), and a finished episode cannot be stepped.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "human"], "render_fps": 1}

    system_prompt: str = ""
    """Instructions for the player: the rules and the expected answer format."""

    rules_prompt: str = ""
    """The task without the answer format; wrappers that impose their own answer format
    (such as :class:`textgym.wrappers.FormatCheck`) build their system prompt from it."""

    markov_observations: bool = False
    """True when the latest observation shows everything needed to play on (a board game);
    a policy may then see only the latest observation (``history="last"``)."""

    turn_rng_factory: Callable[[int, int], np.random.Generator] | None = None
    """When set (by :class:`textgym.wrappers.PerTurnSeeding`), the env draws the randomness
    of its reply to a turn from ``turn_rng_factory(episode_key, state_key())`` instead of
    ``np_random``, so replies are a pure function of (episode seed, state)."""

    episode_key: int = 0
    """A number drawn from the episode seed at ``reset`` (seeds per-turn generators)."""

    rate_metrics: tuple[str, ...] = ()
    """The yes/no (0 or 1) metrics among those the env reports in
    ``info["episode_metrics"]`` at the end of an episode; tables show them as percentages
    of episodes, the others as means."""

    _episode_active: bool = False

    def _check_action(self, action: object) -> str:
        if not isinstance(action, str):
            raise TypeError(
                f"{type(self).__name__}.step expects the action as a str, "
                f"got {type(action).__name__}: {action!r:.80}"
            )
        if not self._episode_active:
            raise EpisodeOverError(
                f"{type(self).__name__}: the episode is over (or was never started); "
                "call reset() before step()"
            )
        return action

    def explain_invalid(self, action: str) -> str:
        """Why ``action`` is not legal now, in a few words shown to the player (override)."""
        return "not a legal action"

    # ------------------------------------------------------------------ hooks

    def curriculum_options(self) -> dict[str, OptionRange]:
        """Reset options that vary between episodes, with their ranges (override).

        Trainers stratify every batch over them (:func:`textgym.trainers.groups.plan_batch`);
        an env that declares none gets none.
        """
        return {}

    def reference_player(self) -> ReferencePlayer:
        """The env's scripted player (override); usable by name as ``reference`` and
        ``reference:Q``."""
        raise NotImplementedError(f"{type(self).__name__} has no reference player")

    def named_players(self) -> dict[str, Callable[[str | None, int], Policy]]:
        """Extra policy names of this env (override): ``name -> f(argument, seed)``, where
        ``argument`` is what follows ``name:`` (None without a colon); a key may show its
        argument (``"teacher:Q"``). Their answers are in the env's own action format, as a
        reference player's."""
        return {}

    def state_key(self) -> int:
        """A whole number naming the current state, for per-turn seeding (override in envs
        with an opponent or other randomness after ``reset``)."""
        raise NotImplementedError(f"{type(self).__name__} has no state key")

    def evaluation_conditions(self) -> dict[str, dict[str, Any]]:
        """Named reset options to evaluate under (override); ``{"default": {}}`` plays the
        env as it is."""
        return {"default": {}}

    def parse_condition(self, spec: str) -> dict[str, Any]:
        """Reset options from a condition: a name of :meth:`evaluation_conditions`,
        ``default`` (no options), or ``NAME=VALUE`` pairs joined by ``;``. Raises
        ``ValueError`` naming the choices."""
        conditions = self.evaluation_conditions()
        if spec in conditions:
            return dict(conditions[spec])
        if spec == "default":  # the env as constructed, always available
            return {}
        options: dict[str, Any] = {}
        for part in spec.split(";"):
            name, eq, value = part.partition("=")
            if not eq or not name.strip():
                names = ", ".join(conditions)
                raise ValueError(
                    f"unknown condition {spec!r} for {type(self).__name__}; choose one of: "
                    f"{names}, or NAME=VALUE reset options"
                )
            options[name.strip()] = parse_value(value.strip())
        return options

    def evaluation_note(self, options: dict[str, Any]) -> str | None:
        """A line printed under an evaluation table for these reset options (override),
        e.g. the best result possible."""
        return None

    def picture_state(self, info: dict[str, Any]) -> str | None:
        """What to draw of the state a step's ``info`` (as recorded) describes, as a short
        text key, or None when the env draws no picture (override with
        :meth:`draw_picture`). Viewers draw each distinct key once."""
        return None

    def draw_picture(self, state: str) -> Any:
        """The picture of a :meth:`picture_state` key: an ``H x W x 3`` ``uint8`` array."""
        raise NotImplementedError(f"{type(self).__name__} draws no pictures")

    def hidden_strings(self) -> list[str]:
        """Strings the player must never see in an observation (hidden answers, secrets).

        The conformance checker (:func:`textgym.utils.env_checker.check_text_env`) asserts
        that none of them appears in any observation. Override in envs with hidden state.
        """
        return []


def parse_value(text: str) -> Any:
    """A reset-option value typed on a command line: a number, a boolean, None or text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text
