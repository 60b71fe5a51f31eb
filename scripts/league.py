"""A league: every policy against every other in a two-player env, as a table.

Each cell is ``textgym eval --policy ROW --opponent-policy COLUMN`` on the same seeds
(the seat is drawn per game from its seed), played at ``--temperature`` (greedy players
on both sides would play the same two games over and over): the row's mean return
(wins minus losses for tic-tac-toe's win/draw/loss rewards 1/0.5/0 as W-L %, Kuhn poker's
chips) with its standard error.

    python scripts/league.py --env TextTicTacToe-LLM-Letters-v0 --games 200 \\
        base=hf:runs/faithful-0/base sft=hf:runs/faithful-0/sft ...
"""

from __future__ import annotations

import argparse
import math

from textgym.evaluation import evaluate
from textgym.view import load_view


def cell(env_id: str, row: str, column: str, games: int, temperature: float, seed: int):
    """(mean, standard error) of the row's score against the column over ``games``."""
    view = None
    if row.startswith("hf:"):
        view = load_view(row[3:])
    summary = evaluate(
        row,
        episodes=games,
        seed=seed,
        view=view if view is not None else env_id,
        temperature=temperature,
        opponent_policy=column,
    )
    scores = []
    for record in summary.records:
        metrics = record["metrics"]
        if "return" in metrics:  # Kuhn poker: chips
            scores.append(float(metrics["return"]))
        else:  # win 1, draw 0, loss -1
            scores.append(float(metrics.get("win", 0.0)) - float(metrics.get("loss", 0.0)))
    mean = sum(scores) / len(scores)
    var = sum((s - mean) ** 2 for s in scores) / max(len(scores) - 1, 1)
    return mean, math.sqrt(var / len(scores))


def main() -> None:
    """Play the league and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("players", nargs="+", help="NAME=POLICY (hf:PATH, reference, ...)")
    parser.add_argument("--env", required=True)
    parser.add_argument("--games", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    players = [p.split("=", 1) for p in args.players]
    header = ["row vs column", *(name for name, _ in players), "mean"]
    print("| " + " | ".join(header) + " |")
    print("| --- |" + " ---: |" * (len(header) - 1))
    for name, policy in players:
        cells, means = [], []
        for _, other in players:
            mean, se = cell(args.env, policy, other, args.games, args.temperature, args.seed)
            cells.append(f"{mean:+.3f} ± {se:.3f}")
            means.append(mean)
        print(f"| {name} | " + " | ".join(cells) + f" | {sum(means) / len(means):+.3f} |")


if __name__ == "__main__":
    main()
