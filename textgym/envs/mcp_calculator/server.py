"""The MCP server behind ``TextMCPCalculator-v0``: one ``calculate`` tool over stdio.

Run it by hand with ``python -m textgym.envs.mcp_calculator.server`` (it then waits for
an MCP client on stdin/stdout), or point any MCP client at that command.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from textgym.envs.calculator.env import calculate as _calculate

server = MCPServer("textgym-calculator")


@server.tool()
def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression with + - * / // % and parentheses.

    Returns the value as text (integers without a decimal point).
    """
    try:
        return _calculate(expression)
    except (ValueError, ArithmeticError) as exc:  # shown to the model, as in TextCalculator
        raise ToolError(f"{type(exc).__name__}: {exc}") from None


def main() -> None:
    """Serve over stdio until the client closes stdin."""
    server.run()


if __name__ == "__main__":
    main()
