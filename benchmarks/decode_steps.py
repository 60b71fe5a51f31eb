"""Forward passes per answer, before and after the answer tags became single tokens, in one run.

Each answer costs one forward pass per generated token (the prompt's prefill yields the
first). With a character-only tokenizer ``<move>5</move>`` plus the end-of-turn token is
15 passes for one digit of information; with ``<move>`` and ``</move>`` as single tokens
(:data:`textgym.models.tiny.TAG_TOKENS`) it is 4. The answer text and the format check are
the same in both.

For each tokenizer this builds the pipeline's tiny model (same size, same seed), teaches
it the format with the same short SFT on the same teacher games (the pipeline's env and
view: ``TextTicTacToe-LLM-Letters-v0``, no system message, latest observation only), then
plays ``--games`` games with ``HFPolicy`` (temperature 1, 64 envs at once) and reports
generated tokens (= forward passes) per answer, games per second, the format rate, and
the ratios. Goal: at most 5 forward passes per answer on average.

    python benchmarks/decode_steps.py [--games 256] [--sft-games 400] [--epochs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rollout_throughput import TimedPolicy  # this folder's script: counts tokens and answers

import textgym  # noqa: F401
from textgym.envs.tictactoe.players import teacher_policy
from textgym.models.loading import load_model
from textgym.models.tiny import TAG_TOKENS, build_tiny_model
from textgym.policies.hf import HFPolicy
from textgym.recipes.tictactoe.pipeline import ENV_ID, SYSTEM_PROMPT
from textgym.rollout import rollout
from textgym.trainers.sft import SFTConfig, sft_tokens, sft_train, teacher_games
from textgym.view import View


def measure(name: str, tags: tuple[str, ...], work: Path, args: argparse.Namespace) -> dict:
    """Build, teach the format, play; the numbers of one tokenizer."""
    model, tok = load_model(build_tiny_model(work / name, seed=0, tag_tokens=tags))
    kept, _ = teacher_games(
        teacher_policy(0.9),
        View(ENV_ID, history="last", system_prompt=SYSTEM_PROMPT),
        list(range(args.sft_games)),
    )
    sft_train(model, tok, sft_tokens(kept, tok), SFTConfig(epochs=args.epochs, lr=1e-2))
    policy = TimedPolicy(HFPolicy(model, tok, temperature=1.0, max_new_tokens=16, seed=0))
    start = time.perf_counter()
    games = rollout(
        policy,
        View(ENV_ID, history="last", system_prompt=SYSTEM_PROMPT),
        list(range(10000, 10000 + args.games)),
        num_envs=64,
    )
    seconds = time.perf_counter() - start
    turns = [t for g in games for t in g.turns]
    return {
        "name": name,
        "passes": policy.tokens / policy.answers,
        "games_s": len(games) / seconds,
        "policy_s": policy.seconds,
        "format": sum(bool(t.info.get("format_ok")) for t in turns) / len(turns),
        "answer_tokens": len(tok("<move>5</move>", add_special_tokens=False).input_ids),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=256)
    parser.add_argument("--sft-games", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    rows = [measure("characters", (), work, args), measure("tag tokens", TAG_TOKENS, work, args)]
    print(f"{ENV_ID}, {args.games} games at T=1, after {args.epochs} SFT epochs")
    print(
        f"{'tokenizer':<12} {'<move>5</move>':>15} {'passes/answer':>14} {'games/s':>8} "
        f"{'format':>7}"
    )
    for r in rows:
        print(
            f"{r['name']:<12} {r['answer_tokens']:>15} {r['passes']:>14.2f} {r['games_s']:>8.2f} "
            f"{r['format']:>7.1%}"
        )
    before, after = rows
    print(f"forward passes per answer: {before['passes'] / after['passes']:.2f}x fewer")
    print(f"games per second: {after['games_s'] / before['games_s']:.2f}x")


if __name__ == "__main__":
    main()
