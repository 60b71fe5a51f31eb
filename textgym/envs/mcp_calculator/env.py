"""``TextMCPCalculator-v0``: the TextCalculator-v0 task, its calculator behind an MCP server."""

from __future__ import annotations

import sys

from textgym.envs.base.mcp import MCPEnv, MCPServerSpec
from textgym.envs.calculator.env import CalculatorTask


class TextMCPCalculatorEnv(CalculatorTask, MCPEnv):
    """Multi-step arithmetic word problems; ``calculate`` comes from an MCP server.

    ## Description
    The task, its seeds, its scoring and its reset options are those of
    ``TextCalculator-v0`` (same problems for the same seed); the ``calculate`` tool is
    served by ``textgym.envs.mcp_calculator.server``, which ships in the package and
    runs over stdio with the current interpreter (``pip install 'textgym[mcp]'``). The
    server starts when the env is made and stops at ``close()``.

    ## Action Space
    As ``TextCalculator-v0``: one tool call or the final ``<answer>...</answer>``; the
    call's arguments are checked against the tool's ``inputSchema`` before it is sent.

    ## Observation Space
    ``Text`` (up to 4096 characters): the problem, then each call's result or error.
    ``system_prompt`` holds the tool's schema as the server lists it.

    ## Rewards
    As ``TextCalculator-v0``: 1.0 for the exact final answer, else 0.0.

    ## Episode End
    Terminated by a final answer; truncated after ``max_turns`` answers, or at once when
    the server crashes or does not answer within ``tool_timeout`` (the error and the
    server's last stderr lines in ``info["server_error"]``; the next ``reset`` starts a
    fresh server).

    ## Arguments
    * ``max_turns``: answers allowed, tool calls included (8).
    * ``tool_timeout``: seconds a call may take (10.0).
    * ``startup_timeout``: seconds the server may take to start (60.0).
    * ``render_mode``: None or ``"ansi"``.

    ## Reset Options
    ``steps`` (1-3), as ``TextCalculator-v0``.

    ## Info
    As ``TextCalculator-v0``, plus ``server_error`` when a server failed.

    ## Version History
    * v0: initial version.
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
