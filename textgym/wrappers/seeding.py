"""``PerTurnSeeding``: the env's replies as a pure function of (episode seed, state)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from textgym.core import TextEnv
from textgym.wrappers.common import refuse_double_wrap


def per_turn_generator(episode_key: int, state_key: int) -> np.random.Generator:
    """The generator for the env's reply in state ``state_key`` of episode ``episode_key``.

    Built from a :class:`numpy.random.SeedSequence` of the two integers, so it is the same
    in every process (no dependence on Python's hash seed) and independent of how many
    draws were made before.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([episode_key, state_key])))


class PerTurnSeeding(gym.Wrapper[str, str, str, str]):
    """Make each of the env's replies depend only on the episode seed and the current state.

    Episodes reset with the same seed that reach the same state get the same reply,
    whatever path led there; an invalid retry (which does not change the state) never
    shifts the env's randomness. Within a group of rollouts of one seed, reward
    differences then reflect the policy, not the opponent's dice.

    The wrapped env uses two documented hooks of :class:`~textgym.core.TextEnv`: it draws an
    ``episode_key`` at ``reset``, names its state with ``state_key()``, and draws a reply's
    randomness from ``turn_rng_factory(episode_key, state_key())`` when the factory is set
    (as :class:`~textgym.envs.tictactoe.env.TextTicTacToeEnv` does, with the board as state).
    The wrapper sets the factory and keeps no state of its own.
    """

    def __init__(self, env: gym.Env[str, str]) -> None:
        refuse_double_wrap(env, PerTurnSeeding)
        base: Any = env.unwrapped
        if not isinstance(base, TextEnv) or type(base).state_key is TextEnv.state_key:
            raise ValueError(
                f"PerTurnSeeding needs a text env with a state_key() hook (and an "
                f"episode_key drawn at reset), got {type(base).__name__}"
            )
        if base.turn_rng_factory is not None:
            raise ValueError(
                f"the replies of {type(base).__name__} are already seeded per turn "
                f"({base.turn_rng_factory!r})"
            )
        super().__init__(env)
        base.turn_rng_factory = per_turn_generator
