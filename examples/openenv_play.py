"""Play a textgym env over OpenEnv: ``textgym serve`` on one side, OpenEnv's own client on
the other, as any OpenEnv consumer (TRL, SkyRL, verifiers' OpenEnv taskset) would.

The client keeps the conversation the way textgym's rollout does (the system prompt from
the reset observation, then observation / answer turns) and asks a textgym policy for
each answer; the server plays the env and scores it. ``pip install 'textgym[openenv]'``.

Usage:
    python examples/openenv_play.py [--env TextTicTacToe-LLM-v0] [--policy reference:0.7]
        [--episodes 20] [--url http://127.0.0.1:8000]   (no --url: starts its own server)
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from openenv.core import GenericEnvClient

from textgym.policies.by_name import scripted_policy


@contextmanager
def served(env_id: str) -> Iterator[str]:
    """``textgym serve --env env_id`` on a free loopback port, stopped on exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "textgym.cli", "serve", "--env", env_id, "--port", str(port)]
    proc = subprocess.Popen(cmd)
    try:
        for _ in range(300):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                raise SystemExit(f"textgym serve exited with {proc.returncode}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def play(url: str, policy_name: str, env_id: str, episodes: int) -> list[float]:
    """The return of each episode, played over the server."""
    policy = scripted_policy(policy_name, env_id, seed=0)
    returns = []
    with GenericEnvClient(base_url=url).sync() as client:
        for seed in range(episodes):
            result = client.reset(seed=seed)
            obs = result.observation
            conversation = [{"role": "system", "content": obs["system_prompt"]}] * bool(
                obs["system_prompt"]
            ) + [{"role": "user", "content": obs["text"]}]
            total = 0.0
            while not result.done:
                answer = policy.complete([conversation])[0].text
                result = client.step({"text": answer})
                total += float(result.reward or 0.0)
                conversation += [
                    {"role": "assistant", "content": answer},
                    {"role": "user", "content": result.observation["text"]},
                ]
            returns.append(total)
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="TextTicTacToe-LLM-v0")
    parser.add_argument("--policy", default="reference:0.7", help="a textgym policy name")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--url", default=None, help="a running textgym serve (default: start one)")
    args = parser.parse_args()
    if args.url:
        returns = play(args.url, args.policy, args.env, args.episodes)
    else:
        with served(args.env) as url:
            returns = play(url, args.policy, args.env, args.episodes)
    mean = sum(returns) / len(returns)
    print(
        f"{args.env}, {args.policy}, {len(returns)} episodes over OpenEnv: mean return {mean:.3f}"
    )


if __name__ == "__main__":
    main()
