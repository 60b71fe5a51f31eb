"""Base classes for text envs beyond board games (one module per kind)."""

from textgym.envs.base.multi_turn import MultiTurnEnv, Reply
from textgym.envs.base.single_turn import SingleTurnEnv, Task

__all__ = ["MultiTurnEnv", "Reply", "SingleTurnEnv", "Task"]
