"""A text env whose every step costs ``step_seconds`` (a tool call, a query), for
``benchmarks/ray_pool.py``: the answer is the number of the turn; 8 turns a game.
``SlowTool-v0`` waits 5 ms a step, ``FreeTool-v0`` nothing."""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym

from textgym.core import TextEnv, text_space


class SlowToolEnv(TextEnv):
    """Each step sleeps ``step_seconds`` (as a tool would wait), then scores the answer."""

    def __init__(self, step_seconds: float = 0.005, turns: int = 8) -> None:
        self.step_seconds, self.turns = step_seconds, turns
        self.observation_space = text_space(256)
        self.action_space = text_space(256)
        self._turn = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._turn = 0
        return "turn 0: answer 0", {}

    def step(self, action: str):
        time.sleep(self.step_seconds)
        reward = float(action.strip() == str(self._turn))
        self._turn += 1
        done = self._turn >= self.turns
        return f"turn {self._turn}: answer {self._turn}", reward, done, False, {}


gym.register("SlowTool-v0", entry_point=SlowToolEnv, kwargs={"step_seconds": 0.005})
gym.register("FreeTool-v0", entry_point=SlowToolEnv, kwargs={"step_seconds": 0.0})
