"""Rollout throughput with the tiny local model, next to raw ``model.generate``, in one run.

For N concurrent envs (default 1, 16, 64, 256) it plays max(4N, 64) games of
TextTicTacToe-LLM-v0 with ``HFPolicy`` (sampling, temperature 1; a finished slot starts the
next game at once, so the batch stays full) and reports games/s, generated tokens/s, and the
share of wall time spent outside the policy call (env + wrappers + bookkeeping). It also
times raw ``model.generate`` (sampling, same token budget, KV cache) on the first round's
prompt batch next to ``HFPolicy`` on the same batch.

Goals: games/s at N=64 >= 10x N=1; time outside generation <= 25 %. Usage:
    python benchmarks/rollout_throughput.py [--sizes 1,16,64,256] [--history last|full]
        [--env TextTicTacToe-LLM-Compact-v0] [--system-prompt TEXT]
        [--device cuda] [--dtype bfloat16] [--hidden 1024 --layers 16]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

import textgym  # noqa: F401
from textgym.models.tiny import build_tiny_model
from textgym.policies.hf import HFPolicy
from textgym.rollout import rollout
from textgym.view import View


class TimedPolicy:
    """Wraps a policy and accumulates the time spent inside ``complete``, the tokens it
    generated and the answers it gave."""

    def __init__(self, policy: HFPolicy) -> None:
        self.policy = policy
        self.seconds = 0.0
        self.tokens = 0
        self.answers = 0

    def complete(self, conversations):
        start = time.perf_counter()
        out = self.policy.complete(conversations)
        self.seconds += time.perf_counter() - start
        self.tokens += sum(len(c.completion_ids) for c in out)
        self.answers += len(out)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,16,64,256")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--min-games", type=int, default=64, help="games per size, at least")
    parser.add_argument(
        "--repeats", type=int, default=20, help="timed calls of each, for the generate ratio"
    )
    parser.add_argument(
        "--history",
        choices=["full", "last"],
        default="last",
        help="what the model sees each turn (see textgym.rollout.rollout)",
    )
    parser.add_argument(
        "--env",
        default="TextTicTacToe-LLM-v0",
        help="env id (TextTicTacToe-LLM-Compact-v0: one-line boards, short prompts)",
    )
    parser.add_argument(
        "--system-prompt", default=None, help="replace the env's system prompt (e.g. a short one)"
    )
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--dtype", default="float32", help="float32 | bfloat16 | ...")
    parser.add_argument("--hidden", type=int, default=64, help="model width")
    parser.add_argument("--layers", type=int, default=2, help="model depth")
    args = parser.parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    path = build_tiny_model(
        tempfile.mkdtemp() + "/tiny",
        seed=0,
        hidden_size=args.hidden,
        intermediate_size=2 * args.hidden,
        num_layers=args.layers,
        num_heads=max(4, args.hidden // 64),
        num_kv_heads=max(2, args.hidden // 128),
    )
    policy = HFPolicy(
        path,
        temperature=1.0,
        max_new_tokens=args.max_new_tokens,
        seed=0,
        batch_size=1024,
        device=args.device,
        dtype=args.dtype,
    )
    print(f"device {args.device}, dtype {args.dtype}, width {args.hidden}, {args.layers} layers")

    print(f"{'N':>5} {'games/s':>9} {'tokens/s':>9} {'outside policy':>15} {'vs N=1':>8}")
    base = None
    first_prompts = None
    for n in [int(x) for x in args.sizes.split(",")]:
        timed = TimedPolicy(policy)
        start = time.perf_counter()
        games_to_play = max(4 * n, args.min_games)
        episodes = rollout(
            timed,
            View(args.env, history=args.history, system_prompt=args.system_prompt),
            list(range(games_to_play)),
            num_envs=n,
        )
        wall = time.perf_counter() - start
        games = len(episodes) / wall
        base = base or games
        outside = (wall - timed.seconds) / wall
        print(
            f"{n:>5} {games:>9.2f} {timed.tokens / wall:>9.0f} {outside:>14.1%} "
            f"{games / base:>7.1f}x"
        )
        first_prompts = [e.turns[0].completion.prompt_ids for e in episodes[:n]]

    # Raw model.generate on the last size's first-round prompts, next to HFPolicy: each
    # timed --repeats times, alternating, and the medians compared (one call is a few ms).
    tok = policy.tokenizer
    batch = tok.pad({"input_ids": first_prompts}, return_tensors="pt", padding_side="left")
    batch = {k: v.to(policy.device) for k, v in batch.items()}

    def raw_generate() -> None:
        with torch.no_grad():
            policy.model.generate(
                **batch,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                max_new_tokens=args.max_new_tokens,
                min_new_tokens=args.max_new_tokens,
                pad_token_id=tok.pad_token_id,
            )
        if policy.device.type == "cuda":
            torch.cuda.synchronize()  # generate returns before the GPU is done

    raw_times, our_times = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        raw_generate()
        raw_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        policy.generate_ids(first_prompts)
        our_times.append(time.perf_counter() - start)
    raw, ours = statistics.median(raw_times), statistics.median(our_times)
    print(
        f"\nraw model.generate on {len(first_prompts)} prompts x {args.max_new_tokens} tokens"
        f" (median of {args.repeats}): {raw:.4f}s; HFPolicy (with log-probs): {ours:.4f}s;"
        f" ratio {ours / raw:.2f}"
    )


if __name__ == "__main__":
    main()
