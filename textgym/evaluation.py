"""Evaluation of players against tic-tac-toe opponents: win/draw/loss tables.

Every player faces exactly the same games: episode seeds are derived from one evaluation
seed, and the env's opponent randomness comes from those seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

import textgym  # noqa: F401  (registers the envs)
from textgym.envs.tictactoe.env import CELL_ACTIONS
from textgym.envs.tictactoe.opponents import (
    MinimaxOpponent,
    NoisyMinimaxOpponent,
    Opponent,
    RandomOpponent,
)

SCRIPTED_PLAYERS = ("minimax", "random", "teacher:Q")
OPPONENTS = ("optimal", "random", "P (random-move probability in [0, 1])")


def episode_seeds(seed: int, n: int) -> list[int]:
    """``n`` distinct-looking episode seeds derived from one evaluation seed."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n, dtype=np.uint32)]


def parse_player(spec: str) -> Opponent:
    """A scripted player from its name: ``minimax``, ``random`` or ``teacher:Q``.

    ``teacher:Q`` plays an optimal move with probability Q and a random one otherwise.
    """
    if spec == "minimax":
        return MinimaxOpponent()
    if spec == "random":
        return RandomOpponent()
    if spec.startswith("teacher:"):
        try:
            q = float(spec.split(":", 1)[1])
        except ValueError:
            q = float("nan")
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"teacher:Q needs Q in [0, 1], got {spec!r}")
        return NoisyMinimaxOpponent(1.0 - q)
    raise ValueError(f"unknown player {spec!r}; choose one of: {', '.join(SCRIPTED_PLAYERS)}")


def parse_opponent(spec: str) -> float:
    """The opponent's ``random_move_prob`` from ``optimal``, ``random`` or a number in [0, 1]."""
    if spec == "optimal":
        return 0.0
    if spec == "random":
        return 1.0
    try:
        p = float(spec)
    except ValueError:
        p = float("nan")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"unknown opponent {spec!r}; choose one of: {', '.join(OPPONENTS)}")
    return p


@dataclass
class Summary:
    """Aggregate results of one player against one opponent."""

    player: str
    opponent: str
    results: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)
    format_ok: list[float] = field(default_factory=list)
    invalid_games: list[bool] = field(default_factory=list)

    def rate(self, result: str) -> float:
        """Percentage of games with this result (``win``, ``draw`` or ``loss``)."""
        return 100.0 * self.results.count(result) / max(len(self.results), 1)

    def row(self) -> list[str]:
        """The table row: player, opponent, games, W/D/L %, format %, invalid %, reward, turns."""
        n = max(len(self.results), 1)
        return [
            self.player,
            self.opponent,
            str(len(self.results)),
            f"{self.rate('win'):.1f}",
            f"{self.rate('draw'):.1f}",
            f"{self.rate('loss'):.1f}",
            f"{100.0 * sum(self.format_ok) / n:.1f}",
            f"{100.0 * sum(self.invalid_games) / n:.1f}",
            f"{sum(self.rewards) / n:.3f}",
            f"{sum(self.turns) / n:.2f}",
        ]


HEADER = [
    "player",
    "opponent",
    "games",
    "win%",
    "draw%",
    "loss%",
    "format%",
    "invalid%",
    "reward",
    "turns",
]


def evaluate_scripted(player: str, opponent: str, episodes: int = 100, seed: int = 0) -> Summary:
    """Play ``episodes`` games of ``TextTicTacToe-v0`` with a scripted player."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    bot = parse_player(player)
    env = gym.make("TextTicTacToe-v0", random_move_prob=parse_opponent(opponent))
    summary = Summary(player, opponent)
    for episode_seed in episode_seeds(seed, episodes):
        rng = np.random.default_rng([episode_seed, 1])  # the player's own dice
        _, info = env.reset(seed=episode_seed)
        total, invalid = 0.0, False
        while True:
            cell = bot.act(info["board"], rng, info["first_mark"])
            _, reward, terminated, truncated, info = env.step(CELL_ACTIONS[cell])
            total += float(reward)
            invalid = invalid or bool(info["illegal_action"])
            if terminated or truncated:
                break
        summary.results.append(info["result"])
        summary.rewards.append(total)
        summary.turns.append(int(info["turn"]))
        summary.format_ok.append(1.0)
        summary.invalid_games.append(invalid)
    env.close()
    return summary


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> str:
    """A plain-text table with aligned columns."""
    table = [list(header), *map(list, rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(
            c.rjust(w) if i > 1 else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
