"""TRL's GRPOTrainer (loss_type="cispo") on a textgym env, with the tiny model, on CPU.

The dataset's prompts are episode seeds; ``make_rollout_func`` plays those episodes with
the trainer's own model (full history: each episode is one sequence, the env's text
masked) and hands TRL the exact sampled ids and log-probs; the reward is the env's return.
A short SFT on teacher games comes first, so the rewards of a group differ.
``pip install 'textgym[hf,trl]'``.

Usage:
    python examples/trl_grpo.py [--steps 10] [--out runs/trl-grpo]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from textgym.envs.tictactoe.players import teacher_policy
from textgym.integrations.trl import episode_return, make_rollout_func, seed_dataset
from textgym.models.loading import load_model
from textgym.models.tiny import build_tiny_model
from textgym.trainers.sft import SFTConfig, sft_tokens, sft_train, teacher_games
from textgym.view import View

ENV = "TextTicTacToe-LLM-v0"


def main() -> None:
    from trl import GRPOConfig, GRPOTrainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default="runs/trl-grpo")
    args = parser.parse_args()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    out = Path(args.out)

    model, tok = load_model(build_tiny_model(out / "tiny", seed=0))
    kept, _ = teacher_games(teacher_policy(0.9), View(ENV, history="full"), list(range(200)))
    sft_train(model, tok, sft_tokens(kept, tok), SFTConfig(epochs=4, batch_size=32, lr=1e-2))

    config = GRPOConfig(
        output_dir=str(out / "grpo"),
        use_cpu=True,
        loss_type="cispo",
        epsilon_high=5.0,  # CISPO's cap on the importance weight (TRL's default is 0.2)
        per_device_train_batch_size=32,
        num_generations=8,
        max_completion_length=16,
        max_steps=args.steps,
        learning_rate=1e-3,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
    )
    trainer = GRPOTrainer(
        model=model,
        processing_class=tok,
        reward_funcs=[episode_return],
        args=config,
        train_dataset=seed_dataset(10_000),
        rollout_func=make_rollout_func(View(ENV, history="full")),
    )
    trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    print("mean episode return per step:", " ".join(f"{r:+.2f}" for r in rewards))


if __name__ == "__main__":
    main()
