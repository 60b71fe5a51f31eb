"""``PerTurnSeeding``: opponent replies as a pure function of (episode seed, board)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from textgym.wrappers.common import refuse_double_wrap

_TRITS = str.maketrans(".XO", "012")


def per_turn_generator(board: str, episode_key: int) -> np.random.Generator:
    """The generator for the opponent's reply on ``board`` in the episode ``episode_key``.

    Built from a :class:`numpy.random.SeedSequence` of the two integers, so it is the same
    in every process (no dependence on Python's hash seed) and independent of how many
    draws were made before.
    """
    board_code = int(board.translate(_TRITS), 3)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([episode_key, board_code])))


class PerTurnSeeding(gym.Wrapper[str, str, str, str]):
    """Make each opponent reply depend only on the episode seed and the current board.

    Episodes reset with the same seed that reach the same board get the same reply,
    whatever path led there; an invalid retry (which does not change the board) never
    shifts the opponent's randomness. Within a group of rollouts of one seed, reward
    differences then reflect the policy, not the opponent's dice.

    The wrapped env must expose the ``opponent_rng_factory`` hook and an ``episode_key``
    drawn at ``reset`` (as :class:`~textgym.envs.tictactoe.env.TextTicTacToeEnv` does). The
    wrapper keeps no state of its own.
    """

    def __init__(self, env: gym.Env[str, str]) -> None:
        refuse_double_wrap(env, PerTurnSeeding)
        base: Any = env.unwrapped
        if not hasattr(base, "opponent_rng_factory") or not hasattr(base, "episode_key"):
            raise ValueError(
                f"PerTurnSeeding needs an env with an opponent_rng_factory hook and an "
                f"episode_key, got {type(base).__name__}"
            )
        if base.opponent_rng_factory is not None:
            raise ValueError(
                f"the opponent of {type(base).__name__} is already seeded per turn "
                f"({base.opponent_rng_factory!r})"
            )
        super().__init__(env)
        base.opponent_rng_factory = per_turn_generator
