"""Tabular Q-learning on the classical-RL view of TextTicTacToe-v0.

The very same game and opponents the language models face, seen as a numeric board and
``Discrete(9)`` moves through ``BoardObservation``. Trains against the uniformly random
opponent and compares the greedy learned player with a random player on the same games:

    python examples/q_learning.py --episodes 20000
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import gymnasium as gym
import numpy as np

import textgym  # noqa: F401
from textgym.envs.tictactoe.board_view import BoardObservation


def make_env(random_move_prob: float = 1.0) -> gym.Env:
    """The classical-RL view of tic-tac-toe against an opponent of the given skill."""
    return BoardObservation(gym.make("TextTicTacToe-v0", random_move_prob=random_move_prob))


def greedy(q: dict[bytes, np.ndarray], obs: np.ndarray, mask: np.ndarray) -> int:
    """The best legal move under ``q`` (ties broken by the lowest cell)."""
    values = np.where(mask == 1, q[obs.tobytes()], -np.inf)
    return int(np.argmax(values))


def train(
    episodes: int, seed: int = 0, alpha: float = 0.3, epsilon: float = 0.2, gamma: float = 1.0
) -> dict[bytes, np.ndarray]:
    """Q-learning with epsilon-greedy exploration over legal moves; returns the Q-table."""
    env = make_env()
    rng = np.random.default_rng(seed)
    q: dict[bytes, np.ndarray] = defaultdict(lambda: np.zeros(9))
    obs, info = env.reset(seed=seed)
    for _ in range(episodes):
        done = False
        while not done:
            mask = info["action_mask"]
            if rng.random() < epsilon:
                action = int(rng.choice(np.flatnonzero(mask)))
            else:
                action = greedy(q, obs, mask)
            next_obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            target = reward
            if not done:
                target += gamma * np.max(
                    np.where(info["action_mask"] == 1, q[next_obs.tobytes()], -np.inf)
                )
            key = obs.tobytes()
            q[key][action] += alpha * (target - q[key][action])
            obs = next_obs
        obs, info = env.reset()
    return q


def evaluate(q: dict[bytes, np.ndarray] | None, games: int, seed: int = 1) -> dict[str, float]:
    """Win/draw/loss rates of the greedy player (or a random one when ``q`` is None)."""
    env = make_env()
    rng = np.random.default_rng(seed)
    counts = {"win": 0, "draw": 0, "loss": 0}
    for i in range(games):
        obs, info = env.reset(seed=seed * 1_000_003 + i)
        done = False
        while not done:
            mask = info["action_mask"]
            legal = np.flatnonzero(mask)
            action = int(rng.choice(legal)) if q is None else greedy(q, obs, mask)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        counts[info["result"]] += 1
    return {k: v / games for k, v in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20000)
    parser.add_argument("--games", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    q = train(args.episodes, seed=args.seed)
    for name, table in (("random player", None), ("Q-learning", q)):
        r = evaluate(table, args.games)
        print(f"{name:<14} win {r['win']:.1%}  draw {r['draw']:.1%}  loss {r['loss']:.1%}")


if __name__ == "__main__":
    main()
