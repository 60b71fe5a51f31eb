"""``textgym serve`` under load: N concurrent WebSocket sessions, each playing whole
episodes, next to the same episodes played in-process, in one run.

For each N (default 100, 1,000, 2,000) a fresh ``textgym serve --env TextTicTacToe-v0
--max-sessions N`` starts on loopback; N asyncio WebSocket clients connect at once and
each plays ``--episodes`` games (reset, then the first legal move until the game ends).
Reported: sessions that played (and how the others failed), steps per second, the p50
and p99 latency of a step seen by the client, the server's resident memory before and
with the N sessions open (per session), and the in-process steps per second of the same
games (``gymnasium.make``, no server) as the baseline.

With ``--servers K`` (e.g. ``1,2``) each N also runs on K server processes, the clients
spread over them in turn as a round-robin load balancer spreads new connections (without
the balancer's own hop); memory is summed over the processes.

Needs the ``openenv`` extra (it runs in its own venv here):
    .venv-openenv/bin/python benchmarks/serve_load.py [--sizes 100,1000,2000] [--episodes 3]
        [--servers 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import gymnasium as gym
import websockets

import textgym  # noqa: F401

ENV = "TextTicTacToe-v0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start(sessions: int) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    cmd = [sys.executable, "-m", "textgym.cli", "serve", "--env", ENV, "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--max-sessions", str(sessions)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("textgym serve did not start: " + proc.stderr.read().decode()[-2000:])


async def _session(
    port: int,
    seed: int,
    episodes: int,
    opened: asyncio.Event,
    go: asyncio.Event,
    latencies: list[float],
) -> str:
    """One client: connect, wait for every client to be connected, play; "ok" or why not."""
    try:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws", open_timeout=120, max_size=1 << 22, ping_interval=None
        ) as ws:
            opened.set()
            await go.wait()
            for episode in range(episodes):
                start = time.perf_counter()
                await ws.send(
                    json.dumps({"type": "reset", "data": {"seed": seed * 1000 + episode}})
                )
                reply = json.loads(await ws.recv())
                latencies.append(time.perf_counter() - start)
                while True:
                    if reply.get("type") != "observation":
                        return "error: " + str(reply.get("data", {}).get("code", reply))
                    data = reply["data"]
                    if data["done"] if "done" in data else data["observation"]["terminated"]:
                        break
                    move = data["observation"]["info"]["legal_actions"][0]
                    start = time.perf_counter()
                    await ws.send(json.dumps({"type": "step", "data": {"text": move}}))
                    reply = json.loads(await ws.recv())
                    latencies.append(time.perf_counter() - start)
            return "ok"
    except Exception as exc:  # counted: where the server breaks
        opened.set()
        return f"failed: {type(exc).__name__}"


async def _load(ports: list[int], n: int, episodes: int, pids: list[int]) -> dict:
    latencies: list[float] = []
    go = asyncio.Event()
    events = [asyncio.Event() for _ in range(n)]
    tasks = [
        asyncio.create_task(_session(ports[i % len(ports)], i, episodes, events[i], go, latencies))
        for i in range(n)
    ]
    await asyncio.gather(*(e.wait() for e in events))
    held = sum(_rss_mb(pid) for pid in pids)
    start = time.perf_counter()
    go.set()
    outcomes = await asyncio.gather(*tasks)
    wall = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "sessions": n,
        "played": outcomes.count("ok"),
        "failures": {o: outcomes.count(o) for o in set(outcomes) if o != "ok"},
        "steps": len(latencies),
        "steps_per_s": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(ordered) if ordered else float("nan"),
        "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))] if ordered else float("nan"),
        "rss_open_mb": held,
    }


def in_process(games: int) -> float:
    """Steps (resets included) per second of the same games without a server."""
    env = gym.make(ENV)
    steps, start = 0, time.perf_counter()
    for seed in range(games):
        _, info = env.reset(seed=seed)
        steps += 1
        while True:
            _, _, terminated, truncated, info = env.step(info["legal_actions"][0])
            steps += 1
            if terminated or truncated:
                break
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,2000")
    parser.add_argument("--episodes", type=int, default=3, help="games per session")
    parser.add_argument("--servers", default="1", help="server processes, e.g. 1,2")
    args = parser.parse_args()
    baseline = in_process(2000)
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        for k in (int(x) for x in args.servers.split(",")):
            started = [_start(-(-n // k)) for _ in range(k)]
            pids = [proc.pid for proc, _ in started]
            try:
                idle = sum(_rss_mb(pid) for pid in pids)
                row = asyncio.run(_load([port for _, port in started], n, args.episodes, pids))
                row["rss_idle_mb"], row["servers"] = idle, k
                rows.append(row)
            finally:
                for proc, _ in started:
                    proc.terminate()
                for proc, _ in started:
                    proc.wait(timeout=30)
    print(
        f"{ENV}, {args.episodes} games a session; in-process (no server): {baseline:,.0f} steps/s"
    )
    print(
        f"{'sessions':>8} {'servers':>7} {'played':>7} {'steps/s':>8} {'vs in-process':>13} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'RSS idle MB':>11} {'RSS open MB':>11} "
        f"{'MB/session':>10}  failures"
    )
    for r in rows:
        per = (r["rss_open_mb"] - r["rss_idle_mb"]) / r["sessions"]
        print(
            f"{r['sessions']:>8} {r['servers']:>7} {r['played']:>7} {r['steps_per_s']:8.0f} "
            f"{r['steps_per_s'] / baseline:12.3f}x {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} "
            f"{r['rss_idle_mb']:11.0f} {r['rss_open_mb']:11.0f} {per:10.3f}  {r['failures'] or '-'}"
        )


if __name__ == "__main__":
    main()
