"""Classical RL on a textgym env with no glue: sb3-contrib's MaskablePPO on tic-tac-toe.

``BoardObservation`` turns ``TextTicTacToe-v0`` into a numeric board with ``Discrete(9)``
moves and an ``action_masks()`` method, the convention MaskablePPO reads, so stock code
trains on it as it is (``pip install 'textgym[sb3]'``).

Usage:
    python examples/maskable_ppo.py [--steps 20000] [--games 200]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import textgym  # noqa: F401
from textgym.envs.tictactoe.board_view import BoardObservation


def make_env(random_move_prob: float = 1.0) -> BoardObservation:
    """Tic-tac-toe against an opponent that plays at random with ``random_move_prob``."""
    return BoardObservation(gym.make("TextTicTacToe-v0", random_move_prob=random_move_prob))


def win_rate(pick: Callable[[np.ndarray, np.ndarray], int], games: int, seed: int = 10_000):
    """Share of ``games`` won by ``pick(observation, mask)`` on fixed seeds."""
    env, wins = make_env(), 0
    for i in range(games):
        obs, info = env.reset(seed=seed + i)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(pick(obs, env.action_masks()))
            done = terminated or truncated
        wins += info.get("result") == "win"
    return wins / games


def train(steps: int, seed: int = 0):
    """A MaskablePPO trained for ``steps`` moves against the random opponent."""
    from sb3_contrib import MaskablePPO

    model = MaskablePPO("MlpPolicy", make_env(), seed=seed, n_steps=512, batch_size=64)
    return model.learn(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--games", type=int, default=200)
    args = parser.parse_args()
    model = train(args.steps)
    rng = np.random.default_rng(0)
    trained = win_rate(
        lambda o, m: int(model.predict(o, action_masks=m, deterministic=True)[0]), args.games
    )
    random = win_rate(lambda o, m: int(rng.choice(np.flatnonzero(m))), args.games)
    print(f"wins against the random opponent: MaskablePPO {trained:.1%}, random {random:.1%}")


if __name__ == "__main__":
    main()
