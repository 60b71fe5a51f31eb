"""CISPO step throughput next to a bare forward + backward on the same batch, in one run.

Plays ``--games`` games of the pipeline's env (TextTicTacToe-LLM-Letters-v0) with the
pipeline's tiny model (64 wide, 2 layers; sampling, no system message), turns them
into training turns with group advantages, and then times, on exactly those turns:

- **bare**: ``model(input_ids, attention_mask)``, mean cross-entropy over the completion
  tokens, ``backward``, AdamW step — the least any trainer must do — on the same
  length-sorted micro-batches as the CISPO step;
- **bare-unsorted**: the same with the turns in rollout order (more padding);
- **cispo**: :func:`textgym.trainers.step.cispo_step` (collation, temperature-scaled
  log-probs, the CISPO loss with its metrics, step-level token normalisation, gradient
  clipping, AdamW step).

Each variant runs in a fresh subprocess (so peak memory is its own): trained tokens/s
(every token of the batch, prompt included, goes through forward and backward; completion
tokens are the ones in the loss), and peak memory (``ru_maxrss`` on CPU,
``torch.cuda.max_memory_allocated`` on CUDA). Goal: CISPO overhead <= 20 % of bare time.

``--hidden``, ``--layers`` and ``--dtype`` build a larger model of the same shape from
its config (random weights; the rollouts are then mostly invalid answers, which is fine
for timing): the CUDA check of a bigger model in bfloat16 is

    python benchmarks/train_throughput.py --device cuda --dtype bfloat16 --hidden 1024 \
        --layers 16 --micro-batch-tokens 8192

    python benchmarks/train_throughput.py [--games 256] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from textgym.view import View


def make_batch(model_dir: Path, games: int, out: Path, args: argparse.Namespace) -> None:
    """Play the games and pickle the training turns."""
    from textgym.models.loading import load_model
    from textgym.models.tiny import build_tiny_model
    from textgym.policies.hf import HFPolicy
    from textgym.recipes.tictactoe.pipeline import ENV_ID, SYSTEM_PROMPT
    from textgym.rollout import rollout
    from textgym.trainers.groups import group_advantages
    from textgym.trainers.tokens import episode_tokens

    build_tiny_model(
        model_dir,
        hidden_size=args.hidden,
        intermediate_size=2 * args.hidden,
        num_layers=args.layers,
        seed=0,
    )
    model, tok = load_model(model_dir, args.device, _dtype(args))
    policy = HFPolicy(model, tok, temperature=1.0, max_new_tokens=16, seed=0)
    seeds = [s for s in range(games // 8) for _ in range(8)]
    episodes = rollout(policy, View(ENV_ID, history="last", system_prompt=SYSTEM_PROMPT), seeds)
    adv = group_advantages([e.total_reward for e in episodes], [e.seed for e in episodes])
    turns = [t for e, a in zip(episodes, adv, strict=True) for t in episode_tokens(e, a)]
    out.write_bytes(pickle.dumps(turns))


def bare_step(model, optimizer, turns, pad_id, micro_batch_tokens, device, sort=True) -> None:
    """Forward + backward + AdamW with a plain masked cross-entropy: the baseline.

    With ``sort`` it uses the same length-sorted micro-batches as ``cispo_step``, so the
    difference is CISPO's own work; without, the turns stay in rollout order, cut into
    micro-batches of the same row count (what a naive trainer pays in padding).
    """
    from textgym.trainers.tokens import collate, micro_batches

    batches = micro_batches(turns, micro_batch_tokens)
    if not sort:
        sizes = [len(b) for b in batches]
        starts = [sum(sizes[:k]) for k in range(len(sizes))]
        batches = [turns[lo : lo + n] for lo, n in zip(starts, sizes, strict=True)]
    model.train()
    optimizer.zero_grad(set_to_none=True)
    total = sum(sum(t.loss_mask) for t in turns)
    for part in batches:
        batch = collate(part, pad_id, device)
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        ce = torch.nn.functional.cross_entropy(
            logits[:, :-1].flatten(0, 1).float(), batch.input_ids[:, 1:].flatten(), reduction="none"
        )
        (ce * batch.loss_mask.flatten()).sum().div(total).backward()
    optimizer.step()


def _dtype(args: argparse.Namespace) -> torch.dtype:
    from textgym.models.loading import resolve_dtype

    return resolve_dtype(args.dtype, args.device)


def run_variant(variant: str, model_dir: Path, batch: Path, args: argparse.Namespace) -> dict:
    """Time one variant (in this process) and return its numbers."""
    from textgym.models.loading import load_model
    from textgym.trainers.step import cispo_step

    device = args.device
    model, tok = load_model(model_dir, device, _dtype(args))
    turns = pickle.loads(batch.read_bytes())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tokens = sum(len(t.input_ids) for t in turns)
    completion = sum(sum(t.loss_mask) for t in turns)

    def step() -> None:
        if variant.startswith("bare"):
            sort = variant == "bare"
            bare_step(
                model, optimizer, turns, tok.pad_token_id, args.micro_batch_tokens, device, sort
            )
        else:
            cispo_step(
                model,
                optimizer,
                turns,
                tok.pad_token_id,
                micro_batch_tokens=args.micro_batch_tokens,
                grad_clip=1.0,
            )
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    step()  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = sorted(times)[len(times) // 2]
    if device.startswith("cuda"):
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "variant": variant,
        "seconds": seconds,
        "turns": len(turns),
        "tokens_per_s": tokens / seconds,
        "completion_tokens_per_s": completion / seconds,
        "peak_mb": peak_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps (median)")
    parser.add_argument("--micro-batch-tokens", type=int, default=4096)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", help="float32 | bfloat16 | auto")
    parser.add_argument("--hidden", type=int, default=64, help="model width")
    parser.add_argument("--layers", type=int, default=2, help="model depth")
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant is not None:
        work = Path(args.work)
        print(json.dumps(run_variant(args.variant, work / "model", work / "turns.pkl", args)))
        return
    work = Path(tempfile.mkdtemp())
    make_batch(work / "model", args.games, work / "turns.pkl", args)
    results = {}
    for variant in ("bare", "bare-unsorted", "cispo"):
        cmd = [sys.executable, __file__, "--variant", variant, "--work", str(work)]
        cmd += ["--repeats", str(args.repeats), "--device", args.device]
        cmd += ["--micro-batch-tokens", str(args.micro_batch_tokens), "--dtype", args.dtype]
        cmd += ["--hidden", str(args.hidden), "--layers", str(args.layers)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    bare, cispo = results["bare"], results["cispo"]
    print(
        f"{bare['turns']} turns from {args.games} games, device {args.device}, "
        f"{args.hidden} wide x {args.layers} layers in {args.dtype}, median of "
        f"{args.repeats} steps"
    )
    print(f"{'variant':<14} {'s/step':>8} {'tokens/s':>10} {'loss tokens/s':>14} {'peak MB':>8}")
    for r in (bare, results["bare-unsorted"], cispo):
        print(
            f"{r['variant']:<14} {r['seconds']:>8.2f} {r['tokens_per_s']:>10,.0f} "
            f"{r['completion_tokens_per_s']:>14,.0f} {r['peak_mb']:>8,.0f}"
        )
    overhead = cispo["seconds"] / bare["seconds"] - 1
    print(f"CISPO overhead vs bare forward+backward: {overhead:+.1%} (goal <= +20%)")


if __name__ == "__main__":
    main()
