"""Environment registration: every textgym env id, registered with Gymnasium on import."""

from __future__ import annotations

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
