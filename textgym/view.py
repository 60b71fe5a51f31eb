"""What the model sees: one option group shared by evaluation, training and play.

A :class:`View` is the env id, the system prompt (the env's own, none, or a given text),
the history (the ``full`` conversation or only the ``last`` observation) and the answer
budget in new tokens. A trained model's folder records the view it was trained with
(``textgym_view.json``), and the commands that load the model use it by default, so
evaluating a model just trained scores the task it learned.

This module is settings and their file only: checking a view against its env, which plays
reference episodes, is :func:`textgym.rollout.check_view`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from textgym.core import Conversation
from textgym.models.saving import VIEW_FILE

#: The env of a command given no ``--env`` and no model with a recorded view.
DEFAULT_ENV = "TextTicTacToe-LLM-v0"

#: The answer budget when neither the user nor a recorded view sets one.
DEFAULT_MAX_NEW_TOKENS = 64


@dataclass(frozen=True)
class View:
    """What the model sees each turn."""

    env_id: str = DEFAULT_ENV
    """The registered env."""
    system_prompt: str | None = None
    """None: the env's own (rules and answer format); "": no system message; else this text."""
    history: Literal["full", "last"] = "full"
    """``full``: the whole conversation; ``last``: the system message and the latest
    observation (only for envs whose observations show everything: ``markov_observations``)."""
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    """Answer budget per turn."""

    def __post_init__(self) -> None:
        if self.history not in ("full", "last"):
            raise ValueError(f"history must be 'full' or 'last', got {self.history!r}")
        if isinstance(self.max_new_tokens, bool) or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens!r}")

    def to_json(self) -> dict[str, Any]:
        """The view as JSON (the content of ``textgym_view.json``)."""
        return asdict(self)

    @classmethod
    def of(cls, settings: Any) -> View:
        """The view held by ``settings``' ``env_id``, ``system_prompt``, ``history`` and
        ``max_new_tokens`` (the stage configs keep them as fields of their own)."""
        return cls(
            settings.env_id, settings.system_prompt, settings.history, settings.max_new_tokens
        )

    def save(self, folder: str | Path) -> Path:
        """Record this view in a model folder (see :func:`save_view`)."""
        return save_view(folder, self)

    def visible(self, messages: Conversation) -> Conversation:
        """What the model sees of an episode's ``messages`` (see :func:`visible_messages`)."""
        return visible_messages(messages, self.history)


def as_view(view: View | str) -> View:
    """``view`` itself, or the default view of the env id ``view`` (the whole
    conversation, the env's own system prompt)."""
    if isinstance(view, View):
        return view
    if isinstance(view, str):
        return View(env_id=view)
    raise TypeError(f"expected a View or an env id, got {type(view).__name__}")


def visible_messages(messages: Conversation, history: str) -> Conversation:
    """What the policy sees of an episode's ``messages``: all of them (``history="full"``)
    or the system messages and the latest one (``"last"``)."""
    if history == "full":
        return list(messages)
    return [m for m in messages if m["role"] == "system"] + [messages[-1]]


def parse_system_prompt(text: str | None) -> str | None:
    """The ``--system-prompt`` value: ``env`` (the env's own: None), ``none`` ("") or a text."""
    if text is None or text == "env":
        return None
    if text == "none":
        return ""
    return text


def save_view(folder: str | Path, view: View) -> Path:
    """Record ``view`` in a model folder."""
    path = Path(folder) / VIEW_FILE
    path.write_text(json.dumps(view.to_json(), indent=2) + "\n")
    return path


def load_view(folder: str | Path) -> View | None:
    """The view recorded in a model folder, or None."""
    path = Path(folder) / VIEW_FILE
    if not path.is_file():
        return None
    try:
        return View(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a textgym view: {exc}") from None


def resolve_view(
    recorded: View | None,
    env_id: str | None = None,
    system_prompt: str | None = None,
    history: str | None = None,
    max_new_tokens: int | None = None,
) -> View:
    """The view from command-line values (None: not given), else the recorded view, else
    the defaults. A recorded view is only used for the env it was recorded with."""
    base = recorded if recorded is not None and env_id in (None, recorded.env_id) else View()
    changes: dict[str, Any] = {}
    if env_id is not None:
        changes["env_id"] = env_id
    if system_prompt is not None:
        changes["system_prompt"] = parse_system_prompt(system_prompt)
    if history is not None:
        changes["history"] = history
    if max_new_tokens is not None:
        changes["max_new_tokens"] = max_new_tokens
    return replace(base, **changes)


__all__ = [
    "DEFAULT_ENV",
    "VIEW_FILE",
    "View",
    "as_view",
    "load_view",
    "parse_system_prompt",
    "resolve_view",
    "save_view",
    "visible_messages",
]
