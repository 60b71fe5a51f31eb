"""Any two-player textgym game as a PettingZoo ``AECEnv`` with text spaces.

``pip install 'textgym[pettingzoo]'``. Multi-agent tools speak PettingZoo's AEC API
(agent-environment cycle: one agent acts at a time). :func:`aec_env` shows a
:class:`~textgym.envs.base.turn_based.TurnBasedGame` through it, every seat played from
outside::

    from textgym.integrations.pettingzoo import aec_env

    env = aec_env("TextTicTacToe-LLM-Letters-v0")   # or aec_env(TicTacToeGame("letters"))
    env.reset(seed=0)
    for agent in env.agent_iter():
        observation, reward, termination, truncation, info = env.last()
        action = None if termination or truncation else info["legal_actions"][0]
        env.step(action)

- **Agents** are the game's seats (``player_0`` moves first). Observation and action
  spaces are :class:`gymnasium.spaces.Text`; an observation is what that seat may see
  (:meth:`~textgym.envs.base.turn_based.TurnBasedGame.observe`), in the same words the
  single-agent env shows its agent.
- **Infos** hold ``legal_actions`` for the agent to move (an empty list otherwise), and
  at the end ``illegal_action`` and ``invalid_reason`` when a seat forfeited.
- **Rewards** are the game's returns at the end (zero-sum: 1, -1, or 0 each for a draw).
  An action that is not a legal one (after stripping whitespace) forfeits the game
  (:meth:`~textgym.envs.base.turn_based.TurnBasedGame.forfeit`): that seat gets -1, the
  others 1, as PettingZoo's classic games end on an illegal move.
- **Randomness**: chance moves draw from a generator seeded by ``reset(seed=...)``.
- ``reset(options=...)`` passes the game's start options on (tic-tac-toe: ``first_mark``,
  ``board``); other keys are ignored with a warning, as PettingZoo envs ignore them.
"""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import AECEnv

from textgym.core import text_space
from textgym.envs import check_env_id
from textgym.envs.base.turn_based import TurnBasedGame


class TextObservation(str):
    """An observation: a ``str`` (it is one, and compares as one) that also carries the
    ``dtype`` of :class:`gymnasium.spaces.Text`, which PettingZoo's ``api_test`` compares
    with its space's dtype (a plain ``str`` has no ``dtype``)."""

    __slots__ = ()
    dtype = np.dtype("<U")


class TextAECEnv(AECEnv):
    """A :class:`TurnBasedGame` as a PettingZoo AEC env (see the module docstring)."""

    metadata: dict[str, Any] = {
        "name": "textgym_game_v0",
        "render_modes": ["ansi", "human"],
        "is_parallelizable": False,
    }

    def __init__(
        self,
        game: TurnBasedGame,
        render_mode: str | None = None,
        action_length: int = 1024,
    ) -> None:
        super().__init__()
        if not isinstance(game, TurnBasedGame):
            raise TypeError(f"game must be a TurnBasedGame, got {type(game).__name__}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        self.game = game
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "name": f"textgym_{type(game).__name__.lower()}_v0"}
        self.possible_agents = list(game.seats)
        self.agents: list[str] = []
        self._observation_spaces = {
            a: text_space(game.observation_length) for a in self.possible_agents
        }
        self._action_spaces = {a: text_space(action_length) for a in self.possible_agents}
        self._rng = np.random.default_rng()
        self.rewards: dict[str, float] = {}
        self._cumulative_rewards: dict[str, float] = {}
        self.terminations: dict[str, bool] = {}
        self.truncations: dict[str, bool] = {}
        self.infos: dict[str, dict[str, Any]] = {}
        self.agent_selection = self.possible_agents[0]

    def observation_space(self, agent: str) -> gym.spaces.Text:
        """The agent's observation space (the same object every call)."""
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> gym.spaces.Text:
        """The agent's action space (the same object every call)."""
        return self._action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Start a new game (chance seeded by ``seed``); every seat is back in play."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        known = self.game.start_options
        options = dict(options or {})
        ignored = sorted(k for k in options if k not in known)
        if ignored:
            warnings.warn(
                f"reset options {ignored} are not start options of this game; ignored",
                stacklevel=2,
            )
        self.game.start(self._rng, {k: v for k, v in options.items() if k in known})
        self.agents = list(self.possible_agents)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {} for a in self.agents}
        self._select()

    def observe(self, agent: str) -> str:
        """What ``agent`` may see now."""
        return TextObservation(self.game.observe(self.possible_agents.index(agent)))

    def step(self, action: str | None) -> None:
        """Play ``action`` for :attr:`agent_selection` (None for an agent that is done)."""
        if not getattr(self, "agents", None):
            raise RuntimeError(
                "no agent is in play: call reset() first (after a game, once every agent "
                "has stepped with None, reset() starts the next)"
            )
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        if not isinstance(action, str):
            raise TypeError(
                f"{agent} must act with a str (one of its legal actions), got "
                f"{type(action).__name__}"
            )
        self._cumulative_rewards[agent] = 0.0
        seat = self.possible_agents.index(agent)
        move = self.game.parse_action(action)
        forfeit: str | None = None
        if move is None:
            forfeit = self.game.explain_illegal(action)
            self.game.forfeit(forfeit)
        else:
            self.game.play(move)
        if self.game.is_over():
            self.rewards = dict(zip(self.possible_agents, self.game.returns(), strict=True))
            self.terminations = {a: True for a in self.agents}
        else:
            self.rewards = {a: 0.0 for a in self.agents}
        self._select(forfeit=forfeit, mover=seat)
        self._accumulate_rewards()
        if self.render_mode == "human":
            self.render()

    def _select(self, forfeit: str | None = None, mover: int | None = None) -> None:
        """The next agent and everyone's infos: the seat to move, or once the game is over
        the seat after the last mover (every agent then steps None once to leave)."""
        seat = self.game.to_move()
        over = seat is None
        if over:
            seat = 0 if mover is None else (mover + 1) % len(self.possible_agents)
        self.agent_selection = self.possible_agents[seat]
        legal = [] if over else list(self.game.legal_actions())
        for i, a in enumerate(self.agents):
            info: dict[str, Any] = {"legal_actions": legal if i == seat else []}
            if forfeit is not None:
                info |= {"illegal_action": i == mover, "invalid_reason": forfeit}
            self.infos[a] = info

    def render(self) -> str | None:
        """The game as the agent to move sees it (``ansi``), or printed (``human``)."""
        if self.render_mode is None:
            gym.logger.warn("render() without a render_mode does nothing")
            return None
        text = self.observe(self.agent_selection)
        if self.render_mode == "human":
            print(text + "\n")
            return None
        return text

    def close(self) -> None:
        """Nothing to release."""


def aec_env(game: TurnBasedGame | str, render_mode: str | None = None) -> TextAECEnv:
    """The AEC env of ``game``: a :class:`TurnBasedGame`, or the id of a registered
    single-agent env whose unwrapped env holds one in ``.game`` (its observation style
    comes along)."""
    if isinstance(game, str):
        check_env_id(game)
        env = gym.make(game)
        inner = getattr(env.unwrapped, "game", None)
        env.close()
        if not isinstance(inner, TurnBasedGame):
            raise ValueError(f"env {game!r} is not a game of seats (its env has no .game)")
        game = inner
    return TextAECEnv(game, render_mode=render_mode)


__all__ = ["TextAECEnv", "TextObservation", "aec_env"]
