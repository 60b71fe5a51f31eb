"""Steps per second of TextTicTacToe-v0 next to its baselines, measured in one run.

Every variant plays random legal moves for the agent against the perfect (minimax)
opponent, so each counted step is one agent move plus the opponent's reply:

  (a) a bare-Python loop over ``rules.py`` and the solver (no env, no text);
  (b) the unwrapped ``TextTicTacToeEnv``;
  (c) ``gymnasium.make("TextTicTacToe-v0")`` (with Gymnasium's default wrappers), seeded
      once and then reset without a seed, as Gymnasium training loops do; (c') the same
      with a fresh seed for every game (seeding a NumPy generator costs about 20 us);
  (d) a ``gymnasium.vector.SyncVectorEnv`` of 16 such envs (steps of all 16 counted);
  (e) TextArena's ``TicTacToe-v0`` when ``textarena`` is installed (two-player, no built-in
      opponent: one step is one move, so each step is counted as half of ours).

Goals: (c) >= 100x TextArena and (c) within 3x of (a). Usage:
    python benchmarks/env_throughput.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import textgym  # noqa: F401
from textgym.envs.tictactoe import rules
from textgym.envs.tictactoe.env import TextTicTacToeEnv
from textgym.envs.tictactoe.opponents import MinimaxOpponent

REPEATS = 3


def timed(run: Callable[[float], int], seconds: float) -> float:
    """Median steps/s of ``run`` over REPEATS timings (``run`` plays until a deadline)."""
    run(time.perf_counter() + min(seconds / 10, 0.2))  # warm caches
    rates = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        steps = run(start + seconds / REPEATS)
        rates.append(steps / (time.perf_counter() - start))
    return sorted(rates)[REPEATS // 2]


def bare_rules(deadline: float) -> int:
    rng = np.random.default_rng(0)
    opponent = MinimaxOpponent()
    steps = 0
    while time.perf_counter() < deadline:
        for _ in range(200):
            board, me, first = rules.EMPTY_BOARD, "X", "X"
            while True:
                moves = rules.legal_moves(board)
                board = rules.apply_move(board, moves[int(rng.random() * len(moves))], me)
                steps += 1
                if rules.winner(board) is not None:
                    break
                board = rules.apply_move(board, opponent.act(board, rng, first), "O")
                if rules.winner(board) is not None:
                    break
    return steps


def env_loop(env: gym.Env, seed_every_episode: bool = False) -> Callable[[float], int]:
    def run(deadline: float) -> int:
        rng = np.random.default_rng(0)
        steps = 0
        seed: int | None = 0
        while time.perf_counter() < deadline:
            for _ in range(200):
                # Seed the first episode only, as Gymnasium training loops do.
                _, info = env.reset(seed=seed)
                seed = seed + 1 if seed_every_episode and seed is not None else None
                while True:
                    legal = info["legal_actions"]
                    action = legal[int(rng.random() * len(legal))]
                    _, _, terminated, truncated, info = env.step(action)
                    steps += 1
                    if terminated or truncated:
                        break
        return steps

    return run


def vector_loop(n: int) -> Callable[[float], int]:
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("TextTicTacToe-v0") for _ in range(n)])

    def run(deadline: float) -> int:
        rng = np.random.default_rng(0)
        _, infos = envs.reset(seed=0)
        steps = 0
        while time.perf_counter() < deadline:
            for _ in range(50):
                actions = [
                    legal[int(rng.random() * len(legal))] if len(legal) else ""
                    for legal in infos["legal_actions"]
                ]
                _, _, _, _, infos = envs.step(actions)
                steps += n
        return steps

    return run


def textarena_loop() -> Callable[[float], int] | None:
    try:
        import textarena as ta
    except ImportError:
        return None
    env = ta.make("TicTacToe-v0")

    def run(deadline: float) -> int:
        rng = np.random.default_rng(0)
        moves = 0
        seed: int | None = 0
        while time.perf_counter() < deadline:
            env.reset(num_players=2, seed=seed)
            seed = None
            free = list(range(9))
            done = False
            while not done:
                env.get_observation()
                cell = free.pop(int(rng.random() * len(free)))
                done, _ = env.step(action=f"[{cell}]")
                moves += 1
            env.close()
        return moves // 2  # one of our steps = the agent's move + the opponent's reply

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per variant")
    args = parser.parse_args()

    results: dict[str, float] = {}
    results["(a) bare rules.py loop"] = timed(bare_rules, args.seconds)
    results["(b) unwrapped env"] = timed(env_loop(TextTicTacToeEnv()), args.seconds)
    results["(c) gymnasium.make"] = timed(env_loop(gym.make("TextTicTacToe-v0")), args.seconds)
    results["(c') same, reset(seed=i) each game"] = timed(
        env_loop(gym.make("TextTicTacToe-v0"), seed_every_episode=True), args.seconds
    )
    results["(d) SyncVectorEnv x16"] = timed(vector_loop(16), args.seconds)
    arena = textarena_loop()
    if arena is not None:
        results["(e) TextArena TicTacToe-v0"] = timed(arena, args.seconds)

    c = results["(c) gymnasium.make"]
    a = results["(a) bare rules.py loop"]
    print(f"{'variant':<36} {'steps/s':>12} {'vs (c)':>8}")
    for name, rate in results.items():
        print(f"{name:<36} {rate:>12,.0f} {rate / c:>7.2f}x")
    print()
    print(f"(a) / (c) = {a / c:.2f}   (goal: <= 3)")
    if arena is not None:
        e = results["(e) TextArena TicTacToe-v0"]
        print(f"(c) / (e) = {c / e:.0f}   (goal: >= 100)")
    else:
        print("(e) skipped: pip install textarena to compare")


if __name__ == "__main__":
    main()
