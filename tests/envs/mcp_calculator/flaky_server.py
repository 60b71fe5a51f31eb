"""An MCP server for tests: it echoes, fails, crashes or hangs on request."""

from __future__ import annotations

import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("flaky")
PREFIX = sys.argv[1] if len(sys.argv) > 1 else ""


def tool(fn):
    fn.__name__ = PREFIX + fn.__name__
    return server.tool()(fn)


@tool
def echo(text: str, times: int = 1) -> str:
    """Repeat the text."""
    return text * times


@tool
def fail() -> str:
    """Report an error."""
    raise ToolError("this tool always fails")


@tool
def crash() -> str:
    """Kill the server."""
    print("flaky server: crashing on purpose", file=sys.stderr, flush=True)
    os._exit(3)


@tool
def hang() -> str:
    """Never answer."""
    time.sleep(3600)
    return "late"


if __name__ == "__main__":
    server.run()
