"""``textgym train sft`` and ``textgym train rl``: one training stage on any env."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from textgym.cli.common import (
    LORA_HELP,
    add_log_option,
    add_view_options,
    command_view,
    lora_rank,
    parse_curriculum,
)
from textgym.models.files import check_model_path
from textgym.models.saving import check_writable, save_model
from textgym.policies.by_name import check_policy_name, make_policy
from textgym.trainers.trackers import make_trackers, tracking
from textgym.view import (
    load_view,
)


def _cmd_train_sft(args: argparse.Namespace) -> int:
    from textgym.models.loading import load_model
    from textgym.trainers.sft import SFTConfig, sft_tokens, sft_train, teacher_episodes

    make_trackers(args.log, Path(args.out), check_only=True)
    config = SFTConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    if args.games < 1:
        raise ValueError(f"--games must be >= 1, got {args.games}")
    check_model_path(args.model, "--model")
    out = Path(args.out)
    state_dir = out.with_name(out.name + ".partial")  # epochs done so far, for a rerun
    check_writable(out.parent, "--out")
    curriculum = parse_curriculum(args.curriculum)
    model, tok = load_model(args.model)
    if args.lora is not None:  # before any work: a rank that does not fit stops here
        from textgym.models.lora import add_lora

        model = add_lora(model, args.lora, args.model, seed=args.seed)
    view = command_view(args, args.model, tok)
    check_policy_name(args.teacher, view.env_id)
    teacher = make_policy(args.teacher, view.env_id, seed=args.seed, base_url=args.base_url)
    kept, games = teacher_episodes(
        teacher,
        view.env_id,
        args.games,
        args.seed,
        curriculum=curriculum,
        history=view.history,
        system_prompt=view.system_prompt,
        min_reward=args.min_reward,
    )
    turns = sft_tokens(kept, tok)
    print(
        f"SFT on {len(kept)}/{len(games)} episodes with reward >= {args.min_reward:g} "
        f"({len(turns)} turns)",
        file=sys.stderr,
    )
    if (state_dir / "sft_state.pt").exists():
        print(f"continuing from the epochs saved in {state_dir}", file=sys.stderr)
    with tracking(args.log, out.with_name(out.name + ".logs"), prefix="sft/") as hook:
        on_step = None if hook is None else (lambda i, loss: hook({"step": i, "loss": loss}))
        losses = sft_train(
            model, tok, turns, config, on_step=on_step, state_dir=state_dir, progress=not args.quiet
        )
    save_model(out, model, tok, view)
    shutil.rmtree(state_dir, ignore_errors=True)
    print(f"final loss {losses[-1]:.4f}; model saved to {args.out} (view: {view.to_json()})")
    return 0


def _cmd_train_rl(args: argparse.Namespace) -> int:
    from textgym.trainers.rl import RLConfig, train_rl

    make_trackers(args.log, args.out, check_only=True)
    check_model_path(args.model, "--model")

    check_writable(args.out, "--out")
    tokenizer = None
    if args.max_new_tokens is None and load_view(args.model) is None:  # measure a budget
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.model)
    view = command_view(args, args.model, tokenizer)
    config = RLConfig(
        model=args.model,
        out_dir=args.out,
        steps=args.steps,
        games_per_batch=args.games_per_batch,
        group_size=args.group_size,
        advantage_scale=args.advantage_scale,
        lr=args.lr,
        temperature=args.temperature,
        curriculum=parse_curriculum(args.curriculum),
        replay_share=args.replay_share,
        eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every,
        eval_games=args.eval_games,
        num_envs=args.num_envs,
        env_id=view.env_id,
        system_prompt=view.system_prompt,
        history=view.history,
        max_new_tokens=view.max_new_tokens,
        lora_rank=args.lora,
        seed=args.seed,
    )
    with tracking(args.log, args.out) as hook:
        train_rl(config, resume=args.resume, progress=not args.quiet, on_metrics=hook)
    print(f"checkpoint: {config.out_dir}/checkpoint; metrics: {config.out_dir}/metrics.jsonl")
    return 0


def add_parser(sub: Any) -> None:
    """The subcommands ``train sft`` and ``train rl``."""
    p_train = sub.add_parser("train", help="run one training stage alone, on any env")
    stages = p_train.add_subparsers(dest="stage", required=True)
    p_sft = stages.add_parser("sft", help="imitate a teacher's good episodes")
    p_sft.add_argument("--model", required=True, help="saved model folder to start from")
    p_sft.add_argument("--out", required=True, help="where to save the trained model")
    add_view_options(p_sft)
    p_sft.add_argument(
        "--teacher", default="reference:0.7", help="reference:Q | hf:PATH | openai:MODEL | ..."
    )
    p_sft.add_argument("--base-url", default=None, help="server of an openai: teacher")
    p_sft.add_argument("--games", type=int, default=8000, help="teacher episodes")
    p_sft.add_argument(
        "--min-reward", type=float, default=0.5, help="keep teacher episodes scoring this or more"
    )
    p_sft.add_argument(
        "--curriculum",
        action="append",
        default=None,
        help="NAME=LOW:HIGH reset-option range (repeatable; none: no options; default: the "
        "env's declared ranges)",
    )
    p_sft.add_argument("--epochs", type=int, default=6)
    p_sft.add_argument("--batch-size", type=int, default=256)
    p_sft.add_argument("--lr", type=float, default=3e-3)
    p_sft.add_argument("--seed", type=int, default=0)
    p_sft.add_argument("--lora", type=lora_rank, default=None, metavar="RANK", help=LORA_HELP)
    p_sft.add_argument("--quiet", action="store_true", help="no progress bar")
    add_log_option(p_sft, "OUT.logs/tensorboard")
    p_sft.set_defaults(func=_cmd_train_sft)

    p_rl = stages.add_parser("rl", help="CISPO with a stratified curriculum")
    p_rl.add_argument("--model", required=True, help="saved model folder to start from")
    p_rl.add_argument("--out", required=True, help="checkpoints, metrics.jsonl, training.png")
    add_view_options(p_rl)
    p_rl.add_argument("--steps", type=int, default=30)
    p_rl.add_argument("--games-per-batch", type=int, default=256)
    p_rl.add_argument("--group-size", type=int, default=8)
    p_rl.add_argument(
        "--advantage-scale",
        choices=("none", "std"),
        default="none",
        help="std: divide each group's centred rewards by the group's std",
    )
    p_rl.add_argument("--lr", type=float, default=1e-3)
    p_rl.add_argument("--temperature", type=float, default=1.0)
    p_rl.add_argument(
        "--curriculum",
        action="append",
        default=None,
        help="NAME=LOW:HIGH reset-option range stratified in every batch (repeatable; none: "
        "no options; default: the env's declared ranges)",
    )
    p_rl.add_argument(
        "--replay-share",
        type=float,
        default=0.0,
        help="share of groups that restart where the policy lost recently",
    )
    p_rl.add_argument("--eval-every", type=int, default=10)
    p_rl.add_argument(
        "--checkpoint-every",
        type=int,
        default=10,
        help="steps between checkpoints (a killed run continues from the last one)",
    )
    p_rl.add_argument("--eval-games", type=int, default=100)
    p_rl.add_argument("--num-envs", type=int, default=64, help="episodes played at once")
    p_rl.add_argument("--seed", type=int, default=0)
    p_rl.add_argument("--lora", type=lora_rank, default=None, metavar="RANK", help=LORA_HELP)
    p_rl.add_argument("--resume", action="store_true", help="continue from --out/checkpoint")
    p_rl.add_argument("--quiet", action="store_true", help="no progress lines")
    add_log_option(p_rl, "OUT/tensorboard")
    p_rl.set_defaults(func=_cmd_train_rl)
