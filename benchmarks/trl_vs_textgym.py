"""textgym's own CISPO loop next to TRL's GRPOTrainer (loss_type="cispo"), in one run.

Both start from the same tiny model after the same SFT on full-history teacher games of
``TextTicTacToe-LLM-v0`` and train on the same env (full history, the env's default
opponent, no curriculum) with the same games per step (``--games``, groups of 8), the same
number of steps, learning rate, answer budget (16 tokens), temperature 1, CISPO cap 5, no
advantage scaling by the group's std, a constant learning rate and no KL term. TRL plays
through :func:`textgym.integrations.trl.make_rollout_func` (one sequence per episode, the
env's text masked), textgym through :func:`textgym.trainers.rl.train_rl` (merged episodes
too). Printed per step: mean episode return and seconds; then the means and the ratio of
seconds per step. The two draw different games (different seeds and sampling streams), so
compare the curves, not single steps.

    python benchmarks/trl_vs_textgym.py [--steps 10] [--games 64] [--lr 1e-3] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from textgym.view import View

ENV = "TextTicTacToe-LLM-v0"


def warm_model(folder: Path, games: int) -> Path:
    """The tiny model after a short SFT on the teacher's full-history games."""
    from textgym.envs.tictactoe.players import teacher_policy
    from textgym.models.loading import load_model
    from textgym.models.saving import save_model
    from textgym.models.tiny import build_tiny_model
    from textgym.trainers.sft import SFTConfig, sft_tokens, sft_train, teacher_games

    model, tok = load_model(build_tiny_model(folder / "tiny", seed=0))
    kept, _ = teacher_games(teacher_policy(0.9), View(ENV, history="full"), list(range(games)))
    sft_train(model, tok, sft_tokens(kept, tok), SFTConfig(epochs=4, batch_size=32, lr=1e-2))
    return save_model(folder / "warm", model, tok)


def run_textgym(model: Path, out: Path, args: argparse.Namespace) -> list[tuple[float, float]]:
    from textgym.trainers.rl import RLConfig, train_rl

    config = RLConfig(
        model=str(model),
        out_dir=str(out),
        steps=args.steps,
        games_per_batch=args.games,
        group_size=8,
        lr=args.lr,
        warmup_steps=0,
        max_new_tokens=16,
        history="full",
        curriculum={},
        num_envs=args.games,
        eval_every=0,
        checkpoint_every=args.steps,
        env_id=ENV,
        device="cpu",
        seed=args.seed,
    )
    records = train_rl(config, progress=False)
    times = [r["time/elapsed_s"] for r in records]
    steps = [t - s for s, t in zip([0.0, *times], times, strict=False)]
    return [(r["reward/total"], s) for r, s in zip(records, steps, strict=True)]


def run_trl(model: Path, out: Path, args: argparse.Namespace) -> list[tuple[float, float]]:
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from textgym.integrations.trl import episode_return, make_rollout_func, seed_dataset
    from textgym.models.loading import load_model

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    lm, tok = load_model(model)
    config = GRPOConfig(
        output_dir=str(out),
        use_cpu=True,
        loss_type="cispo",
        epsilon_high=5.0,
        scale_rewards="none",
        beta=0.0,
        per_device_train_batch_size=args.games,
        num_generations=8,
        max_completion_length=16,
        temperature=1.0,
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        max_steps=args.steps,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
        seed=args.seed,
    )
    trainer = GRPOTrainer(
        model=lm,
        processing_class=tok,
        reward_funcs=[episode_return],
        args=config,
        train_dataset=seed_dataset(
            args.steps * args.games // 8 + 8, start=1_000_000 * (args.seed + 1)
        ),
        rollout_func=make_rollout_func(View(ENV, history="full"), num_envs=args.games),
    )

    class Clock(TrainerCallback):
        """Wall time of each whole step (TRL's step_time leaves out the optimizer step)."""

        def __init__(self) -> None:
            self.marks: list[float] = []

        def on_step_begin(self, *_: object, **__: object) -> None:
            self.marks.append(time.perf_counter())

        def on_step_end(self, *_: object, **__: object) -> None:
            self.marks[-1] = time.perf_counter() - self.marks[-1]

    clock = Clock()
    trainer.add_callback(clock)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "reward" in h]
    return [(h["reward"], s) for h, s in zip(logs, clock.marks, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--games", type=int, default=64, help="episodes per step")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--sft-games", type=int, default=400)
    parser.add_argument(
        "--seed", type=int, default=0, help="seeds both loops' games and sampling (not the SFT)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    started = time.perf_counter()
    model = warm_model(work, args.sft_games)
    print(f"SFT warm-up: {time.perf_counter() - started:.0f} s", flush=True)
    results = {
        "textgym": run_textgym(model, work / "textgym", args),
        "trl": run_trl(model, work / "trl", args),
    }
    print(f"{args.steps} steps of {args.games} episodes, {ENV}, full history, seed {args.seed}")
    print(f"{'step':>4} {'textgym reward':>15} {'s':>6} {'TRL reward':>11} {'s':>6}")
    for k, (a, b) in enumerate(zip(results["textgym"], results["trl"], strict=True), 1):
        print(f"{k:>4} {a[0]:>15.3f} {a[1]:>6.2f} {b[0]:>11.3f} {b[1]:>6.2f}")
    mean = {
        name: (sum(r for r, _ in rows) / len(rows), sum(s for _, s in rows) / len(rows))
        for name, rows in results.items()
    }
    for name, (reward, seconds) in mean.items():
        print(f"{name}: mean reward {reward:+.3f}, {seconds:.2f} s/step")
    print(f"seconds per step, TRL / textgym: {mean['trl'][1] / mean['textgym'][1]:.2f}x")
    print(json.dumps({k: [list(r) for r in v] for k, v in results.items()}))


if __name__ == "__main__":
    main()
