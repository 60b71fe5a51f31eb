"""Helpers shared by the textgym wrappers."""

from __future__ import annotations

from typing import Any

import gymnasium as gym


def refuse_double_wrap(env: gym.Env, cls: type) -> None:
    """Raise ``ValueError`` if ``cls`` already wraps ``env`` somewhere in its stack.

    Applying these wrappers twice would silently change behaviour (an answer parsed twice,
    penalties counted twice), so it is refused with a clear message instead.
    """
    inner: Any = env
    while isinstance(inner, gym.Wrapper):
        if isinstance(inner, cls):
            raise ValueError(
                f"{cls.__name__} is already applied to this env ({env}); applying it twice "
                "would change behaviour silently"
            )
        inner = inner.env


def with_component(info: dict[str, Any], name: str, value: float) -> dict[str, Any]:
    """A shallow copy of ``info`` whose ``reward_components`` also holds ``name: value``."""
    out = dict(info)
    components = dict(out.get("reward_components") or {})
    components[name] = float(value)
    out["reward_components"] = components
    return out
