"""LoRA or full fine-tuning for SmolLM2 on this CPU: which learns more per CPU second.

Both arms run the SFT stage of the ``smollm2-cpu`` preset (its view, teacher, batch size,
micro-batch token budget and compute dtype) on the same teacher games, each in a fresh
process so that its time and peak memory are its own; each at its own learning rate
(``--lora-lr``, the preset's; ``--full-lr``, lower, as full fine-tuning needs). Then each
trained model plays greedily against every line of perfect play (the exact audit, no
sampling error). Printed per arm: wall and CPU time of the training, peak resident
memory, the last epoch's mean loss, and the exact loss % against the perfect player.

    python benchmarks/lora_vs_full.py [--model DIR] [--games 600] [--json OUT.json]
    python benchmarks/lora_vs_full.py --smoke      # the tiny model, a few games (a test)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_MODEL = ".cache/models/smollm2-135m-instruct"


def train_arm(args: argparse.Namespace) -> dict[str, Any]:
    """One arm, in this process: train, then audit; return its measurements."""
    from textgym.models.loading import load_model
    from textgym.policies.hf import HFPolicy
    from textgym.recipes.tictactoe.audit import audit_perfect_lines
    from textgym.recipes.tictactoe.pipeline import preset_config
    from textgym.trainers.sft import SFTConfig, train_sft

    preset = preset_config("smollm2-cpu")
    lora = args.arm == "lora"
    out = Path(args.work) / args.arm
    start, cpu0 = time.perf_counter(), _cpu_seconds()
    result = train_sft(
        SFTConfig(
            model=args.model,
            out_dir=str(out),
            teacher=preset.teacher,
            games=args.games,
            **preset.view.to_json(),
            lora_rank=preset.lora_rank if lora else None,
            dtype=preset.dtype,
            epochs=args.epochs,
            batch_size=preset.sft_batch_size,
            micro_batch_tokens=preset.micro_batch_tokens,
            lr=args.lora_lr if lora else args.full_lr,
            seed=preset.seed,
        )
    )
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model, tok = load_model(out, "cpu", preset.dtype)
    policy = HFPolicy(model, tok, temperature=0.0, max_new_tokens=preset.max_new_tokens)
    audit = audit_perfect_lines(policy, preset.view)
    per_epoch = max(1, len(result.losses) // args.epochs)
    last = [x for x in result.losses[-per_epoch:] if x == x]
    return {
        "arm": args.arm,
        "lr": args.lora_lr if lora else args.full_lr,
        "turns": result.turns,
        "steps": len(result.losses),
        "train_wall_s": round(wall, 1),
        "train_cpu_s": round(cpu, 1),
        "peak_mb": round(peak_mb, 1),
        "last_epoch_loss": round(sum(last) / len(last), 4) if last else None,
        "exact_loss_pct": round(100 * audit.loss, 2),
        "positions": audit.positions,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both arms, each in a fresh process, on the same teacher games."""
    model = args.model
    if args.smoke:
        from textgym.models.tiny import build_tiny_model

        model = str(build_tiny_model(tempfile.mkdtemp() + "/tiny", seed=0))
    work = tempfile.mkdtemp()
    arms = []
    for arm in ("lora", "full"):
        cmd = [sys.executable, __file__, "--arm", arm, "--work", work, "--model", model]
        cmd += ["--games", str(args.games), "--epochs", str(args.epochs)]
        cmd += ["--lora-lr", str(args.lora_lr), "--full-lr", str(args.full_lr)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"arm {arm} failed:\n{proc.stderr[-3000:]}")
        arms.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {"model": model, "games": args.games, "epochs": args.epochs, "arms": arms}


def show(report: dict[str, Any]) -> None:
    """Print the report as a table."""
    print(f"model {report['model']}, {report['games']} teacher games, {report['epochs']} epoch(s)")
    print(
        f"{'arm':<5} {'lr':>8} {'steps':>6} {'train s':>8} {'cpu s':>8} {'peak MB':>8} "
        f"{'loss':>7} {'exact loss %':>13}"
    )
    for a in report["arms"]:
        print(
            f"{a['arm']:<5} {a['lr']:>8g} {a['steps']:>6} {a['train_wall_s']:>8} "
            f"{a['train_cpu_s']:>8} {a['peak_mb']:>8} {a['last_epoch_loss']!s:>7} "
            f"{a['exact_loss_pct']:>13}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a converted model folder")
    parser.add_argument("--games", type=int, default=600, help="teacher games")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lora-lr", type=float, default=5e-4)
    parser.add_argument("--full-lr", type=float, default=5e-5)
    parser.add_argument("--smoke", action="store_true", help="the tiny model, a few games")
    parser.add_argument("--json", default=None, help="also write the report here")
    parser.add_argument("--arm", choices=("lora", "full"), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm is not None:
        print(json.dumps(train_arm(args)))
        return
    if args.smoke:
        args.games = 8
    report = run(args)
    show(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
