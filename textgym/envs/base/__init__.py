"""Base classes for text envs beyond board games (one module per kind)."""

from textgym.envs.base.mcp import MCPEnv, MCPServerError, MCPServerSpec
from textgym.envs.base.multi_turn import MultiTurnEnv, Reply
from textgym.envs.base.single_turn import SingleTurnEnv, Task
from textgym.envs.base.tools import ToolEnv, tool_schema

__all__ = [
    "MCPEnv",
    "MCPServerError",
    "MCPServerSpec",
    "MultiTurnEnv",
    "Reply",
    "SingleTurnEnv",
    "Task",
    "ToolEnv",
    "tool_schema",
]
