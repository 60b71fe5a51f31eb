"""A model in the other seat: one call per opponent turn vs batched rounds, in one run.

The same model (a saved tiny or real model folder, or a fresh tiny one) plays N games of
a two-player env against itself three ways, sampling at temperature 1:

- ``per turn``: the env calls the opponent policy itself, one conversation per call
  (what a plain Gymnasium env with a model opponent does);
- ``rounds``: ``rollout(..., opponent=B)`` with B a second policy object on the same
  model: each round one call for all agents' prompts and one for all opponents';
- ``self-play``: ``rollout(..., opponent=A)``, the agent's own policy: both seats'
  prompts in one call a round (what ``train rl --opponent self`` plays).

Reports games/s, policy calls and answers, and each mode's speed-up over ``per turn``.
Usage:
    python benchmarks/opponent_batching.py [--model runs/faithful-0/sft] [--games 256]
        [--env TextTicTacToe-LLM-Letters-v0] [--num-envs 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import gymnasium as gym

import textgym  # noqa: F401
from textgym.models.loading import load_model
from textgym.models.tiny import build_tiny_model
from textgym.policies.hf import HFPolicy
from textgym.rollout import OpponentBatcher, rollout
from textgym.view import View, load_view
from textgym.wrappers.chat import stack_system_prompt


class Counted:
    """A policy that counts its calls and answers."""

    def __init__(self, policy: HFPolicy) -> None:
        self.policy, self.calls, self.answers = policy, 0, 0

    def complete(self, conversations):
        self.calls += 1
        self.answers += len(conversations)
        return self.policy.complete(conversations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a saved model folder (default: tiny)")
    parser.add_argument("--env", default="TextTicTacToe-LLM-Letters-v0")
    parser.add_argument("--games", type=int, default=256)
    parser.add_argument("--num-envs", type=int, default=64)
    args = parser.parse_args()
    path = args.model or build_tiny_model(tempfile.mkdtemp() + "/tiny", seed=0)
    saved = load_view(path) if args.model else None
    view = saved or View(args.env, system_prompt="", history="last", max_new_tokens=16)
    model, tokenizer = load_model(path)
    seeds = list(range(args.games))
    with gym.make(view.env_id) as probe:  # the opponent reads the agent's system prompt
        system = stack_system_prompt(probe, view.system_prompt)

    def policy(seed: int) -> Counted:
        return Counted(
            HFPolicy(
                model, tokenizer, temperature=1.0, max_new_tokens=view.max_new_tokens, seed=seed
            )
        )

    rows = []
    for mode in ("per turn", "rounds", "self-play"):
        agent = policy(1)
        other = agent if mode == "self-play" else policy(2)
        start = time.perf_counter()
        if mode == "per turn":  # outside a rollout's rounds the batcher calls at once
            seat = OpponentBatcher(other, system_prompt=system)
            make = lambda seat=seat: gym.make(view.env_id, opponent=seat)  # noqa: E731
            # the agent still batches its own turns: only the opponent is one call a turn
            episodes = rollout(agent, make, seeds, num_envs=args.num_envs)
        else:
            episodes = rollout(
                agent,
                view,
                seeds,
                num_envs=args.num_envs,
                opponent=other,
                opponent_system_prompt=system,
            )
        seconds = time.perf_counter() - start
        calls = agent.calls + (other.calls if other is not agent else 0)
        answers = agent.answers + (other.answers if other is not agent else 0)
        assert len(episodes) == args.games
        rows.append((mode, args.games / seconds, calls, answers))
    base = rows[0][1]
    print(f"{view.env_id}, {args.games} games, {args.num_envs} at once, model {path}")
    print(f"{'mode':<10} {'games/s':>8} {'calls':>6} {'answers':>8} {'vs per turn':>12}")
    for mode, rate, calls, answers in rows:
        print(f"{mode:<10} {rate:8.2f} {calls:6d} {answers:8d} {rate / base:11.2f}x")


if __name__ == "__main__":
    main()
