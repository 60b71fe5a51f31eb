"""Environment registration: every textgym env id, registered with Gymnasium on import,
and the lookups every command makes before it plays (:func:`check_env_id`,
:func:`probe_env`)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from contextlib import contextmanager

import gymnasium as gym

#: env id -> (entry point, default kwargs, one-line description)
ENV_SPECS: dict[str, tuple[str, dict[str, object], str]] = {
    "TextTicTacToe-v0": (
        "textgym.envs.tictactoe.env:TextTicTacToeEnv",
        {},
        "Tic-tac-toe against a minimax bot of chosen skill; bare cell numbers as actions.",
    ),
    "TextTicTacToe-LLM-v0": (
        "textgym.envs.tictactoe.llm:make_llm_tictactoe",
        {},
        "TextTicTacToe-v0 + PerTurnSeeding + InvalidMovePenalty + FormatCheck (<move>N</move>).",
    ),
    "TextTicTacToe-LLM-Compact-v0": (
        "textgym.envs.tictactoe.llm:make_llm_tictactoe",
        {"observation_style": "compact"},
        "TextTicTacToe-LLM-v0 with one-line boards (X 1O3/4X6/78O legal 134678).",
    ),
    "TextTicTacToe-LLM-Letters-v0": (
        "textgym.envs.tictactoe.llm:make_llm_tictactoe",
        {"observation_style": "letters"},
        "TextTicTacToe-LLM-v0 with one character per cell and owner (X 1B3/4e6/78I).",
    ),
    "TextKuhnPoker-v0": (
        "textgym.envs.kuhn.env:TextKuhnPokerEnv",
        {},
        "Two players, hidden cards: one hand of Kuhn poker against an equilibrium bot.",
    ),
    "TextKuhnPoker-LLM-v0": (
        "textgym.envs.kuhn.llm:make_llm_kuhn",
        {},
        "TextKuhnPoker-v0 + PerTurnSeeding + InvalidMovePenalty + FormatCheck "
        "(<action>bet</action>).",
    ),
    "TextReverse-v0": (
        "textgym.envs.reverse.env:TextReverseEnv",
        {},
        "Single turn: reverse a random string; reward = similarity to the exact answer.",
    ),
    "TextMastermind-v0": (
        "textgym.envs.mastermind.env:TextMastermindEnv",
        {},
        "Multi-turn: find a hidden 4-digit code (1-6) from black/white pegs in 10 guesses.",
    ),
    "TextCalculator-v0": (
        "textgym.envs.calculator.env:TextCalculatorEnv",
        {},
        "Tool use: multi-step arithmetic word problems with a calculator tool; exact answer.",
    ),
    "TextMCPCalculator-v0": (
        "textgym.envs.mcp_calculator.env:TextMCPCalculatorEnv",
        {},
        "MCP: TextCalculator-v0 with the calculator served by a bundled MCP server (stdio).",
    ),
    "TextSQL-v0": (
        "textgym.envs.sql.env:TextSQLEnv",
        {},
        "Stateful tool: a per-episode SQLite database, a read-only query tool, a question.",
    ),
}


def register_envs() -> None:
    """Register every textgym env id with Gymnasium (idempotent)."""
    for env_id, (entry_point, kwargs, _) in ENV_SPECS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, kwargs=dict(kwargs))


def registered_env_ids() -> list[str]:
    """The ids of all textgym environments."""
    return list(ENV_SPECS)


def check_env_id(env_id: str) -> None:
    """A ``ValueError`` naming the registered envs when ``env_id`` is not one of them.

    ``module:EnvId`` (Gymnasium's form for an env a package registers on import) imports
    ``module`` first, as ``gymnasium.make`` does; a module that cannot be imported is one
    error naming it.
    """
    module, _, name = env_id.rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except Exception as exc:  # the module's own failure, in one line
            raise ValueError(
                f"env {env_id!r}: cannot import {module!r} ({type(exc).__name__}: {exc})"
            ) from None
    if name not in gym.registry:
        known = ", ".join(sorted(e for e in gym.registry if e.startswith("Text")))
        raise ValueError(f"unknown env {env_id!r}; choose one of: {known}")


def check_takes_opponent(env_id: str) -> None:
    """Refuse (``ValueError``) an env that has no seat for an opponent policy: its env
    class takes no ``opponent`` argument."""
    with probe_env(env_id) as env:
        if "opponent" not in inspect.signature(type(env.unwrapped).__init__).parameters:
            raise ValueError(
                f"{env_id} has no seat for an opponent policy (its env takes no opponent)"
            )


@contextmanager
def probe_env(env_id: str) -> Iterator[gym.Env]:
    """A fresh env of a registered id, to read its hooks; closed on exit (an MCP env's
    servers stop). An unknown id is a ``ValueError`` naming the registered ones."""
    check_env_id(env_id)
    env = gym.make(env_id)
    try:
        yield env
    finally:
        env.close()
