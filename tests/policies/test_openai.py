"""OpenAIPolicy against a real ``transformers serve`` and against faulty loopback servers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("openai")

from textgym.evaluation import evaluate, read_records
from textgym.policies.openai_policy import OpenAIPolicy, PolicyError
from textgym.rollout import rollout

CONV = [[{"role": "user", "content": "Your move"}]]


def reply(content: str = "<move>5</move>") -> bytes:
    return json.dumps(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                }
            ],
        }
    ).encode()


class FaultServer:
    """A loopback server whose answer to the n-th request is chosen by ``script(n)``."""

    def __init__(self, script) -> None:
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests += 1
                status, body, delay, *declared = script(server.requests)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(declared[0] if declared else len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


ERROR = json.dumps({"error": {"message": "nope", "type": "x"}}).encode()


def policy(url: str, **kw) -> OpenAIPolicy:
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 2.0)
    return OpenAIPolicy("m", base_url=url, api_key="test", **kw)


def test_retries_429_then_succeeds() -> None:
    server = FaultServer(lambda n: (429, ERROR, 0) if n <= 2 else (200, reply(), 0))
    try:
        p = policy(server.url, max_retries=3)
        assert p.complete(CONV)[0].text == "<move>5</move>"
        assert server.requests == 3 and p.attempts == 3
    finally:
        server.close()


def test_persistent_500_gives_one_clear_error_after_retries() -> None:
    server = FaultServer(lambda n: (500, ERROR, 0))
    try:
        p = policy(server.url, max_retries=2)
        with pytest.raises(PolicyError, match=r"failed after 3 attempts: InternalServerError"):
            p.complete(CONV)
        assert server.requests == 3
    finally:
        server.close()


def test_hanging_server_times_out_and_retries() -> None:
    server = FaultServer(
        lambda n: (200, reply(), 3.0) if n == 1 else (200, reply("<move>2</move>"), 0)
    )
    try:
        p = policy(server.url, timeout=0.5, max_retries=1)
        # Only the retry answers <move>2</move>: waiting out the first reply would give
        # the other text.
        assert p.complete(CONV)[0].text == "<move>2</move>"
        assert server.requests == 2
    finally:
        server.close()


@pytest.mark.parametrize(("status", "needle"), [(401, "API key"), (404, "does not know model")])
def test_non_retryable_errors_are_not_retried(status: int, needle: str) -> None:
    server = FaultServer(lambda n: (status, ERROR, 0))
    try:
        with pytest.raises(PolicyError, match=needle):
            policy(server.url, max_retries=3).complete(CONV)
        assert server.requests == 1
    finally:
        server.close()


@pytest.mark.parametrize(
    ("failure", "needle"),
    [((503, ERROR, 0), "InternalServerError"), ((200, b"[]", 0), "no choices")],
    ids=["server-dies", "broken-bodies"],
)
def test_a_failure_mid_evaluation_keeps_finished_episodes(tmp_path, failure, needle) -> None:
    server = FaultServer(lambda n: (200, reply(), 0) if n <= 40 else failure)
    out = tmp_path / "r.jsonl"
    try:
        with pytest.raises(PolicyError, match=needle):
            evaluate(
                "openai:m",
                "random",
                episodes=50,
                out=out,
                num_envs=4,
                policy_obj=policy(server.url, max_retries=1),
            )
    finally:
        server.close()
    kept = read_records(out)
    assert 0 < len(kept) < 50
    assert len({r["index"] for r in kept}) == len(kept)


def completion_body(**fields) -> bytes:
    base = {"id": "c1", "object": "chat.completion", "created": 0, "model": "m"}
    return json.dumps(base | fields).encode()


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        ((200, b'{"id": "c1", "choices": [{"mess', 0), "not a chat completion"),
        # the body ends early and the connection drops
        ((200, reply()[:40], 0, len(reply())), r"APIConnectionError \(.*complete message body"),
        ((200, b"", 0), "not a chat completion"),
        ((200, b"<html>502 Bad Gateway</html>", 0), "not a chat completion"),
        ((200, completion_body(choices=[]), 0), "no choices"),
        ((200, completion_body(), 0), "no choices"),
        ((200, b"[1, 2]", 0), "no choices"),
        ((200, completion_body(choices=[{"index": 0, "message": None}]), 0), "no message"),
    ],
    ids=["malformed", "cut-off", "empty", "html", "no-choices", "missing", "list", "null"],
)
def test_a_broken_body_is_retried_then_one_clear_error(answer, needle) -> None:
    server = FaultServer(lambda n: answer)
    try:
        with pytest.raises(PolicyError, match=f"failed after 2 attempts: .*{needle}"):
            policy(server.url, max_retries=1).complete(CONV)
        assert server.requests == 2
    finally:
        server.close()


def test_a_broken_body_then_a_good_one_is_answered() -> None:
    server = FaultServer(lambda n: (200, b"{", 0) if n == 1 else (200, reply(), 0))
    try:
        assert policy(server.url, max_retries=1).complete(CONV)[0].text == "<move>5</move>"
    finally:
        server.close()


def test_an_answer_far_longer_than_asked_is_cut() -> None:
    server = FaultServer(lambda n: (200, reply("x" * 100_000), 0))
    try:
        done = policy(server.url, max_tokens=8).complete(CONV)[0]
        assert done.text == "x" * 8 * 32 and done.finish_reason == "length"
        assert done.completion_ids == [] and done.logprobs is None
    finally:
        server.close()


def test_token_ids_from_a_vllm_style_server() -> None:
    seen = []
    body = json.loads(reply("<move>5</move>"))
    body["prompt_token_ids"] = [1, 2, 3]
    body["choices"][0]["token_ids"] = [7, 8]
    body["choices"][0]["logprobs"] = {
        "content": [
            {"token": "a", "logprob": -0.5, "bytes": None, "top_logprobs": []},
            {"token": "b", "logprob": -0.25, "bytes": None, "top_logprobs": []},
        ]
    }

    def script(n):
        return 200, json.dumps(body).encode(), 0

    server = FaultServer(script)
    original = server.httpd.RequestHandlerClass.do_POST

    def spy(handler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        raw = handler.rfile.read(length)
        seen.append(json.loads(raw))
        handler.headers.replace_header("Content-Length", "0")
        original(handler)

    server.httpd.RequestHandlerClass.do_POST = spy
    try:
        out = policy(server.url, token_ids=True).complete(CONV)[0]
        assert seen[0]["return_token_ids"] is True
        assert (out.prompt_ids, out.completion_ids, out.logprobs) == (
            [1, 2, 3],
            [7, 8],
            [-0.5, -0.25],
        )
        plain = policy(server.url).complete(CONV)[0]
        assert "return_token_ids" not in seen[1]
        assert plain.text == "<move>5</move>"
    finally:
        server.close()


def test_bad_arguments() -> None:
    for kwargs in ({"concurrency": 0}, {"timeout": 0}, {"max_retries": -1}, {"max_tokens": 0}):
        with pytest.raises(ValueError):
            OpenAIPolicy("m", **kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_model(tmp_path_factory):
    """``transformers serve`` of the tiny model on 127.0.0.1, stopped after the module."""
    pytest.importorskip("fastapi")
    from textgym.models.tiny import build_tiny_model

    path = build_tiny_model(tmp_path_factory.mktemp("served") / "tiny", seed=0)
    exe = shutil.which("transformers") or os.path.join(
        os.path.dirname(sys.executable), "transformers"
    )
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [exe, "serve", str(path), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail("transformers serve exited during start-up")
            try:
                with urllib.request.urlopen(url + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("transformers serve did not become healthy")
        yield url + "/v1", str(path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.server
@pytest.mark.slow
def test_plays_against_a_real_transformers_serve(served_model) -> None:
    url, model = served_model
    p = OpenAIPolicy(model, base_url=url, api_key="unused", max_tokens=8, concurrency=4)
    episodes = rollout(p, "TextTicTacToe-LLM-v0", [0, 1, 2, 3], num_envs=4)
    assert len(episodes) == 4
    for e in episodes:
        assert e.terminated or e.truncated
        assert all(isinstance(t.completion.text, str) for t in e.turns)
        assert e.final_info["result"] in ("win", "draw", "loss")
