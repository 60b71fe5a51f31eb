"""Envs whose step costs ~5 ms, played in-process and in a Ray pool of 1 and 2 actors, in
one run; and the pool's overhead on a step that costs nothing.

A scripted policy (instant) plays N games of 8 turns of ``SlowTool-v0``
(``benchmarks/slow_tool_env.py``: each step sleeps like a tool call) with 64 envs at once:
in-process (the rollout steps its envs one after another), then through
``RayEnvPool`` with 1 and 2 actors (each actor steps its shard; the shards run at once).
Goal: 2 actors at least 1.7x in-process on this 2-core CPU. Then the same with a step of
0 ms: what a pool costs per env step.

Usage: python benchmarks/ray_pool.py [--games 256]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# Ray's local workers inherit the environment: they import the benchmark env from here.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))

import ray  # noqa: E402
import slow_tool_env  # noqa: E402, F401  (registers SlowTool-v0)

from textgym.core import Completion  # noqa: E402
from textgym.integrations.ray import RayEnvPool  # noqa: E402
from textgym.rollout import rollout  # noqa: E402
from textgym.view import View  # noqa: E402


class Counter:
    """Answers each turn's number, instantly."""

    def complete(self, conversations):
        return [Completion(text=c[-1]["content"].rsplit(" ", 1)[-1]) for c in conversations]


def timed(games: int, view: View, pool: RayEnvPool | None) -> float:
    start = time.perf_counter()
    episodes = rollout(Counter(), view, list(range(games)), num_envs=64, pool=pool)
    assert all(e.total_reward == 8.0 for e in episodes), "a wrong answer: the envs differ"
    return games * 8 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=256)
    args = parser.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    for env_id, step_ms in (("SlowTool-v0", 5.0), ("FreeTool-v0", 0.0)):
        view = View(f"slow_tool_env:{env_id}", system_prompt="")
        rates = {"in-process": timed(args.games, view, None)}
        for actors in (1, 2):
            with RayEnvPool(view, size=64, actors=actors, imports=("slow_tool_env",)) as pool:
                timed(16, view, pool)  # warm the actors
                rates[f"Ray, {actors} actor{'s' * (actors > 1)}"] = timed(args.games, view, pool)
        base = rates["in-process"]
        print(f"{args.games} games x 8 steps of {step_ms:g} ms, 64 envs at once:")
        for name, rate in rates.items():
            print(f"  {name:<14} {rate:9,.0f} steps/s  {rate / base:5.2f}x")
    ray.shutdown()


if __name__ == "__main__":
    main()
