"""``TextMCPCalculator-v0``: the TextCalculator-v0 task, its calculator behind an MCP server."""

from __future__ import annotations

import sys

from textgym.envs.base.mcp import MCPEnv, MCPServerSpec
from textgym.envs.calculator.env import CalculatorTask


class TextMCPCalculatorEnv(CalculatorTask, MCPEnv):
    """Multi-step arithmetic word problems; ``calculate`` comes from an MCP server.

    The server (:mod:`textgym.envs.mcp_calculator.server`) ships in the package and runs
    with the current interpreter; the task, its seeds and its scoring are those of
    ``TextCalculator-v0``, so the two envs give the same problems for the same seed.
    """

    def __init__(
        self,
        max_turns: int = 8,
        tool_timeout: float = 10.0,
        startup_timeout: float = 60.0,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(
            max_turns=max_turns,
            tool_timeout=tool_timeout,
            startup_timeout=startup_timeout,
            render_mode=render_mode,
        )

    def servers(self) -> list[MCPServerSpec]:
        """The calculator server, run by this interpreter."""
        return [MCPServerSpec(sys.executable, ("-m", "textgym.envs.mcp_calculator.server"))]
