"""Base classes for text envs beyond board games (one module per kind)."""

from textgym.envs.base.single_turn import SingleTurnEnv, Task

__all__ = ["SingleTurnEnv", "Task"]
