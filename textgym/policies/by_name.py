"""Policies by name, the way the command line names them.

* ``hf:PATH`` — a local Hugging Face model (:class:`~textgym.policies.hf.HFPolicy`);
* ``openai:MODEL`` — a model behind an OpenAI-compatible server;
* ``reference`` / ``reference:Q`` — the env's reference player, perfect or playing the
  reference answer with probability Q at each turn;
* ``random`` — a weak baseline for any env with a reference player: its mistake at every
  turn (``reference:0``), unless the env names its own ``random`` player;
* any name the env adds (:meth:`textgym.core.TextEnv.named_players`, e.g. tic-tac-toe's
  ``minimax``, ``random`` and ``teacher:Q``).
"""

from __future__ import annotations

from typing import Any

from textgym.core import Policy
from textgym.envs import probe_env
from textgym.policies.openai_policy import OpenAIPolicy
from textgym.policies.reference import FormattedPolicy, ReferencePolicy

MODEL_POLICIES = ("hf:PATH", "openai:MODEL")


def _env_hooks(env_id: str) -> tuple[Any, Any]:
    """(the unwrapped env, the stack's format_action or None) of a fresh env."""
    with probe_env(env_id) as env:
        try:
            fmt = env.get_wrapper_attr("format_action")
        except AttributeError:
            fmt = None
        return env.unwrapped, fmt


def policy_names(env_id: str) -> list[str]:
    """Every policy name ``env_id`` takes (model policies first)."""
    base, _ = _env_hooks(env_id)
    names = list(MODEL_POLICIES)
    own = list(base.named_players())
    try:
        base.reference_player()
        names += ["reference", "reference:Q"]
        if not any(key.partition(":")[0] == "random" for key in own):
            names.append("random")
    except NotImplementedError:
        pass
    return names + own


def _quality(spec: str, argument: str) -> float:
    try:
        q = float(argument)
    except ValueError:
        q = float("nan")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"{spec!r}: the quality Q of reference:Q must be in [0, 1]")
    return q


def scripted_policy(spec: str, env_id: str, seed: int = 0) -> Policy:
    """A scripted player of ``env_id`` by name (``reference[:Q]`` or an env's own name)."""
    base, fmt = _env_hooks(env_id)
    name, colon, argument = spec.partition(":")
    policy: Policy
    if name == "reference":
        try:
            player = base.reference_player()
        except NotImplementedError:
            raise ValueError(f"{env_id} has no reference player") from None
        quality = _quality(spec, argument) if colon else 1.0
        policy = ReferencePolicy(player, quality, seed)
    else:
        players = {key.partition(":")[0]: make for key, make in base.named_players().items()}
        if name == "random" and name not in players and not colon:
            try:  # the reference player's mistakes, every turn
                return _formatted(ReferencePolicy(base.reference_player(), 0.0, seed), fmt)
            except NotImplementedError:
                pass
        if name not in players:
            choices = ", ".join(policy_names(env_id))
            raise ValueError(f"unknown policy {spec!r} for {env_id}; choose one of: {choices}")
        policy = players[name](argument if colon else None, seed)
    return _formatted(policy, fmt)


def _formatted(policy: Policy, fmt: Any) -> Policy:
    return policy if fmt is None else FormattedPolicy(policy, fmt)


def make_policy(
    spec: str,
    env_id: str,
    seed: int = 0,
    temperature: float = 0.0,
    max_new_tokens: int = 32,
    base_url: str | None = None,
    device: str | None = None,
    dtype: str = "float32",
) -> Policy:
    """A policy from its name (see the module docstring); bad names are a ``ValueError``
    that lists the choices for ``env_id``. ``device`` and ``dtype`` place and load an
    ``hf:`` model (see :class:`~textgym.policies.hf.HFPolicy`)."""
    if spec.startswith("openai:"):
        return OpenAIPolicy(
            spec[7:],
            base_url=base_url,
            temperature=temperature,
            max_tokens=max_new_tokens,
            seed=seed,
        )
    if spec.startswith("hf:"):
        try:
            from textgym.policies.hf import HFPolicy
        except ImportError:
            raise ValueError(
                "hf: policies need torch and transformers: pip install 'textgym[hf]'"
            ) from None

        return HFPolicy(
            spec[3:],
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            seed=seed,
            device=device,
            dtype=dtype,
        )
    return scripted_policy(spec, env_id, seed)


def check_policy_name(spec: str, env_id: str) -> None:
    """Raise the ``ValueError`` :func:`make_policy` would, without loading any model."""
    if not spec.startswith(("hf:", "openai:")):
        scripted_policy(spec, env_id)
