"""Scale-out measurements, each next to its own baseline in the same run.

Part 1 (this file so far): **OpenAIPolicy under load.** A loopback OpenAI-compatible stub
(a threading HTTP server that answers each chat completion with a tag naming the
conversation, after a fixed service delay) is asked N conversations at once with
``OpenAIPolicy(concurrency=C)``. Reported: the time of one request alone (median), the
wall time and time per request for each N, requests per second, and the answers
checked one by one: every conversation must get its own answer, none dropped, none
duplicated. No super-linear growth means the time per request stays flat as N grows
(NeMo-Gym saw its client go quadratic at 16,000 concurrent requests).

Usage:
    python benchmarks/scale_out.py [--sizes 1,100,1000] [--concurrency 256] [--delay 0.005]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from textgym.policies.openai_policy import OpenAIPolicy


class EchoServer:
    """A loopback chat-completions stub: the answer names the last message's content
    (``<answer>CONTENT</answer>``), after ``delay`` seconds; counts requests."""

    def __init__(self, delay: float = 0.0) -> None:
        self.requests = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with server._lock:
                    server.requests += 1
                if delay:
                    time.sleep(delay)
                content = body["messages"][-1]["content"]
                data = json.dumps(
                    {
                        "id": "stub",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "stub"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {
                                    "role": "assistant",
                                    "content": f"<answer>{content}</answer>",
                                },
                            }
                        ],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            request_queue_size = 4096  # the listen backlog: the default 5 drops SYNs
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


def conversations(n: int) -> list[list[dict[str, str]]]:
    """``n`` conversations, each naming itself."""
    return [[{"role": "user", "content": f"conversation {i}"}] for i in range(n)]


def check_answers(texts: Sequence[str], n: int) -> dict[str, int]:
    """How many answers are right (each conversation's own), wrong, missing or repeated."""
    expected = [f"<answer>conversation {i}</answer>" for i in range(n)]
    right = sum(a == b for a, b in zip(texts, expected, strict=False))
    return {
        "right": right,
        "wrong": len(texts) - right,
        "missing": max(n - len(texts), 0),
        "repeated": len(texts) - len(set(texts)),
    }


def measure(sizes: Sequence[int], concurrency: int, delay: float) -> dict[str, Any]:
    """The load test: one request alone, then each size at once."""
    server = EchoServer(delay)
    try:
        policy = OpenAIPolicy(
            "stub", base_url=server.url, api_key="stub", concurrency=concurrency, timeout=60.0
        )
        alone = []
        for _ in range(10):
            start = time.perf_counter()
            policy.complete(conversations(1))
            alone.append(time.perf_counter() - start)
        single = statistics.median(alone)
        rows = []
        for n in sizes:
            before = server.requests
            start = time.perf_counter()
            answers = policy.complete(conversations(n))
            wall = time.perf_counter() - start
            rows.append(
                {
                    "conversations": n,
                    "wall_s": wall,
                    "per_request_s": wall / n,
                    "requests_per_s": n / wall,
                    "server_requests": server.requests - before,
                    **check_answers([a.text for a in answers], n),
                }
            )
    finally:
        server.close()
    return {"concurrency": concurrency, "delay_s": delay, "single_s": single, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--delay", type=float, default=0.005, help="stub service time, s")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    result = measure(sizes, args.concurrency, args.delay)
    print(
        f"OpenAIPolicy against a loopback stub ({args.delay * 1000:.0f} ms a request), "
        f"concurrency {args.concurrency}; one request alone: {result['single_s'] * 1000:.1f} ms"
    )
    print(f"{'at once':>8} {'wall s':>8} {'ms/request':>11} {'req/s':>8} {'vs alone':>9}  answers")
    for r in result["rows"]:
        ratio = r["per_request_s"] / result["single_s"]
        checks = f"{r['right']} right, {r['wrong']} wrong, {r['missing']} missing, " + (
            f"{r['repeated']} repeated"
        )
        print(
            f"{r['conversations']:>8} {r['wall_s']:8.2f} {r['per_request_s'] * 1000:11.2f} "
            f"{r['requests_per_s']:8.0f} {ratio:8.2f}x  {checks}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
