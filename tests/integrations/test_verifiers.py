"""textgym envs as a verifiers taskset, evaluated by verifiers' own ``vf-eval`` against a
scripted OpenAI-compatible stub on 127.0.0.1.

verifiers 0.4 pins ``mcp==2.0.0`` and ``openai<3``, so these tests run in their own
virtual environment: ``bash scripts/isolated_tests.sh verifiers`` (part of the README's
test command), which sets ``TEXTGYM_ISOLATED=verifiers`` so that a missing verifiers
fails here instead of skipping. vf-eval runs its chat harness as a uv script: uv comes
with the extra, and the script's packages come from PyPI on first use.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gymnasium as gym
import pytest

if os.environ.get("TEXTGYM_ISOLATED") != "verifiers":
    pytest.importorskip(
        "verifiers", reason="runs in its own venv: bash scripts/isolated_tests.sh verifiers"
    )

import textgym  # noqa: F401
from textgym.integrations.verifiers import (
    TASKSET_ID,
    TextgymTaskset,
    TextgymTasksetConfig,
    load_environment,
)

pytestmark = pytest.mark.server

ENV = "TextTicTacToe-LLM-v0"


def scripted(conversation: list[dict]) -> str:
    """The stub model: its 2nd answer is not a cell (the invalid-move penalty, within
    tolerance); every other answer is the first legal move the last message lists."""
    turn = sum(m["role"] == "assistant" for m in conversation)
    if turn == 1:
        return "<move>0</move>"
    last = conversation[-1]["content"]
    if isinstance(last, list):
        last = "".join(part.get("text", "") for part in last)
    legal = re.search(r"Legal moves: ([\d, ]+)", last)
    return f"<move>{legal.group(1).split(',')[0].strip()}</move>"


class StubServer:
    """An OpenAI-compatible chat server on 127.0.0.1 answering with :func:`scripted`
    (streamed or not), recording every request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                models = {"object": "list", "data": [{"id": "stub", "object": "model"}]}
                self._send(json.dumps(models).encode(), "application/json")

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(request)
                content = scripted(request["messages"])
                usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
                if not request.get("stream"):
                    body = {
                        "id": "c",
                        "object": "chat.completion",
                        "created": 0,
                        "model": "stub",
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content},
                            }
                        ],
                        "usage": usage,
                    }
                    self._send(json.dumps(body).encode(), "application/json")
                    return
                chunks = [
                    {"delta": {"role": "assistant", "content": content}, "finish_reason": None},
                    {"delta": {}, "finish_reason": "stop"},
                ]
                events = b""
                for i, choice in enumerate(chunks):
                    event = {
                        "id": "c",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": "stub",
                        "choices": [{"index": 0, **choice}],
                    }
                    if i == len(chunks) - 1:
                        event["usage"] = usage
                    events += b"data: " + json.dumps(event).encode() + b"\n\n"
                self._send(events + b"data: [DONE]\n\n", "text/event-stream")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def stub() -> Iterator[StubServer]:
    server = StubServer()
    yield server
    server.close()


def in_process(seed: int, options: dict | None = None) -> tuple[list[dict], float, dict, dict]:
    """The same episode played here with the same scripted model: the conversation, the
    return, the summed reward components and the last info."""
    env = gym.make(ENV)
    obs, _ = env.reset(seed=seed, options=options)
    conversation = [
        {"role": "system", "content": env.get_wrapper_attr("system_prompt")},
        {"role": "user", "content": obs},
    ]
    total, components = 0.0, {}
    while True:
        answer = scripted(conversation)
        conversation.append({"role": "assistant", "content": answer})
        obs, reward, terminated, truncated, info = env.step(answer)
        total += float(reward)
        for name, value in info["reward_components"].items():
            components[name] = components.get(name, 0.0) + float(value)
        if terminated or truncated:
            return conversation, total, components, info
        conversation.append({"role": "user", "content": obs})


def vf_eval(stub: StubServer, out: Path, *args: str) -> list[dict]:
    """Run verifiers' own ``vf-eval`` on the textgym taskset; the finished episodes."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "STUB_KEY": "x"}
    command = [
        str(bin_dir / "vf-eval"),
        TASKSET_ID,
        "--env.player.harness.id",
        "null",
        "--env.player.runtime.type",
        "subprocess",
        "--client.base-url",
        stub.url,
        "--client.api-key-var",
        "STUB_KEY",
        "-m",
        "stub",
        "--no-push",
        "-o",
        str(out),
        *args,
    ]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (traces,) = out.glob("*/traces.jsonl")
    return [json.loads(line) for line in traces.read_text().splitlines()]


def _messages(trace: dict) -> list[dict]:
    return [
        {"role": node["message"]["role"], "content": node["message"]["content"]}
        for node in trace["nodes"]
    ]


def test_vf_eval_plays_textgym_episodes_as_textgym_scores_them(stub, tmp_path):
    """Three tic-tac-toe episodes through vf-eval: each conversation, return (the
    invalid-move penalty included), reward component and episode metric is what the
    same answers earn in process, and every episode ran to its end."""
    episodes = vf_eval(stub, tmp_path, "--env.taskset.num-episodes", "3")
    assert len(episodes) == 3
    seeds = set()
    for episode in episodes:
        assert episode["ok"], episode["errors"]
        (trace,) = episode["traces"]
        seed = episode["task"]["data"]["info"]["seed"]
        seeds.add(seed)
        conversation, total, components, info = in_process(seed)
        assert _messages(trace) == conversation
        assert trace["rewards"]["episode_return"]["score"] == pytest.approx(total)
        metrics = trace["metrics"]
        assert metrics["reward_invalid"] == pytest.approx(-0.1)
        assert metrics["episode_done"] == 1.0
        assert metrics["steps"] == sum(m["role"] == "assistant" for m in conversation)
        for name, value in components.items():
            assert metrics[f"reward_{name}"] == pytest.approx(value)
        for name, value in info["episode_metrics"].items():
            assert metrics[name] == pytest.approx(value)
    assert seeds == {0, 1, 2}
    assert len(stub.requests) == sum(
        len(e["traces"][0]["calls"]) for e in episodes
    )  # every model answer came from the stub


def test_taskset_options_and_seeds_reach_the_env(stub, tmp_path):
    """Reset options (a random opponent) and the first seed go through vf-eval's flags."""
    options = {"random_move_prob": 1.0}
    episodes = vf_eval(
        stub,
        tmp_path,
        "--env.taskset.num-episodes",
        "1",
        "--env.taskset.seed-start",
        "40",
        "--env.taskset.options",
        json.dumps(options),
    )
    (episode,) = episodes
    assert episode["task"]["data"]["info"] == {"env_id": ENV, "seed": 40, "options": options}
    conversation, total, _, _ = in_process(40, options)
    assert _messages(episode["traces"][0]) == conversation
    assert episode["traces"][0]["rewards"]["episode_return"]["score"] == pytest.approx(total)


def test_load_environment_builds_the_tasks():
    env = load_environment(ENV, num_episodes=2, seed_start=5)
    tasks = list(env.taskset)
    assert [t.data.info["seed"] for t in tasks] == [5, 6]
    obs, _ = gym.make(ENV).reset(seed=5)
    assert tasks[0].data.prompt == obs
    assert tasks[0].data.system_prompt == gym.make(ENV).get_wrapper_attr("system_prompt")


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="unknown env 'Nope-v0'"):
        load_environment("Nope-v0")
    with pytest.raises(ValueError, match="num_episodes"):
        load_environment(ENV, num_episodes=0)
    with pytest.raises(ValueError, match="seed_start"):
        load_environment(ENV, seed_start=-1)
    config = TextgymTasksetConfig(id=TASKSET_ID, env_id="Nope-v0")
    with pytest.raises(ValueError, match="unknown env"):
        list(TextgymTaskset(config))
