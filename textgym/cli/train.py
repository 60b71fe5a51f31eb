"""``textgym train sft`` and ``textgym train rl``: one training stage on any env."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from textgym.cli.common import (
    add_log_option,
    add_ray_options,
    add_view_options,
    command_view,
    config_option,
    lora_rank,
    parse_curriculum,
    ray_pool,
)
from textgym.models.files import DTYPES, check_model_path
from textgym.models.saving import check_writable
from textgym.trainers.config import RLConfig, SFTConfig
from textgym.trainers.trackers import make_trackers, tracking


def _cmd_train_sft(args: argparse.Namespace) -> int:
    from textgym.models.loading import load_tokenizer
    from textgym.trainers.sft import train_sft

    make_trackers(args.log, Path(args.out), check_only=True)
    check_model_path(args.model, "--model")
    check_writable(Path(args.out).parent, "--out")
    # the tokenizer measures the answer budget: given, recorded or to be chosen
    view = command_view(args, args.model, load_tokenizer(args.model))
    config = SFTConfig(
        model=args.model,
        out_dir=args.out,
        teacher=args.teacher,
        games=args.games,
        min_reward=args.min_reward,
        curriculum=parse_curriculum(args.curriculum),
        **view.to_json(),  # env_id, system_prompt, history, max_new_tokens
        base_url=args.base_url,
        lora_rank=args.lora_rank,
        device=args.device,
        dtype=args.dtype,
        epochs=args.epochs,
        batch_size=args.batch_size,
        micro_batch_tokens=args.micro_batch_tokens,
        lr=args.lr,
        seed=args.seed,
    )
    out = Path(args.out)
    with tracking(args.log, out.with_name(out.name + ".logs"), prefix="sft/") as hook:
        on_step = None if hook is None else (lambda i, loss: hook({"step": i, "loss": loss}))
        result = train_sft(
            config,
            on_step=on_step,
            progress=not args.quiet,
            log=lambda line: print(line, file=sys.stderr),
        )
    print(
        f"final loss {result.losses[-1]:.4f}; model saved to {args.out} "
        f"(view: {config.view.to_json()})"
    )
    return 0


def _cmd_train_rl(args: argparse.Namespace) -> int:
    from textgym.models.loading import load_tokenizer
    from textgym.trainers.rl import read_best, train_rl

    make_trackers(args.log, args.out, check_only=True)
    check_model_path(args.model, "--model")
    check_writable(args.out, "--out")
    view = command_view(args, args.model, load_tokenizer(args.model))
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
        keep_best=args.keep_best,
        keep_best_mode=args.keep_best_mode,
        opponent=args.opponent,
        opponent_pool=args.opponent_pool,
        checkpoint_every=args.checkpoint_every,
        eval_games=args.eval_games,
        num_envs=args.num_envs,
        micro_batch_tokens=args.micro_batch_tokens,
        **view.to_json(),  # env_id, system_prompt, history, max_new_tokens
        lora_rank=args.lora_rank,
        device=args.device,
        dtype=args.dtype,
        seed=args.seed,
    )
    if args.ray is not None and config.opponent is not None:
        raise ValueError("--ray plays one seat: it cannot take --opponent")
    with ray_pool(args, view, config.num_envs) as pool, tracking(args.log, args.out) as hook:
        train_rl(config, resume=args.resume, progress=not args.quiet, on_metrics=hook, pool=pool)
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return 0
    print(f"checkpoint: {config.out_dir}/checkpoint; metrics: {config.out_dir}/metrics.jsonl")
    if config.keep_best is not None:
        best = read_best(config.out_dir)
        print(
            f"best: {config.out_dir}/best (step {best['step']}, "
            f"{config.keep_best} {best['value']:.4g})"
        )
    return 0


def add_parser(sub: Any) -> None:
    """The subcommands ``train sft`` and ``train rl``: each option fills the config field
    of its name, with the field's default and doc (:func:`config_option`)."""
    p_train = sub.add_parser("train", help="run one training stage alone, on any env")
    stages = p_train.add_subparsers(dest="stage", required=True)
    p_sft = stages.add_parser("sft", help="imitate a teacher's good episodes")
    p_sft.add_argument("--model", required=True, help="saved model folder to start from")
    p_sft.add_argument("--out", required=True, help="where to save the trained model")
    add_view_options(p_sft)
    config_option(p_sft, SFTConfig, "teacher")
    config_option(p_sft, SFTConfig, "base_url", type=str)
    config_option(p_sft, SFTConfig, "games")
    config_option(p_sft, SFTConfig, "min_reward")
    p_sft.add_argument(
        "--curriculum",
        action="append",
        default=None,
        help="NAME=LOW:HIGH reset-option range (repeatable; none: no options; default: the "
        "env's declared ranges)",
    )
    for name in ("epochs", "batch_size", "micro_batch_tokens", "lr", "seed"):
        config_option(p_sft, SFTConfig, name)
    config_option(p_sft, SFTConfig, "lora_rank", "--lora", type=lora_rank, metavar="RANK")
    config_option(p_sft, SFTConfig, "device")
    config_option(p_sft, SFTConfig, "dtype", choices=DTYPES)
    p_sft.add_argument("--quiet", action="store_true", help="no progress bar")
    add_log_option(p_sft, "OUT.logs/tensorboard")
    p_sft.set_defaults(func=_cmd_train_sft)

    p_rl = stages.add_parser("rl", help="CISPO with a stratified curriculum")
    p_rl.add_argument("--model", required=True, help="saved model folder to start from")
    p_rl.add_argument("--out", required=True, help="checkpoints, metrics.jsonl, training.png")
    add_view_options(p_rl)
    for name in ("steps", "games_per_batch", "group_size"):
        config_option(p_rl, RLConfig, name)
    config_option(p_rl, RLConfig, "advantage_scale", choices=("none", "std"))
    for name in ("lr", "temperature"):
        config_option(p_rl, RLConfig, name)
    p_rl.add_argument(
        "--curriculum",
        action="append",
        default=None,
        help="NAME=LOW:HIGH reset-option range stratified in every batch (repeatable; none: "
        "no options; default: the env's declared ranges)",
    )
    for name in (
        "replay_share",
        "eval_every",
        "checkpoint_every",
        "eval_games",
        "num_envs",
        "micro_batch_tokens",
    ):
        config_option(p_rl, RLConfig, name)
    config_option(p_rl, RLConfig, "keep_best", type=str, metavar="METRIC")
    config_option(p_rl, RLConfig, "keep_best_mode", choices=("max", "min"))
    config_option(p_rl, RLConfig, "opponent", type=str, metavar="self|snapshot:K")
    config_option(p_rl, RLConfig, "opponent_pool")
    config_option(p_rl, RLConfig, "seed")
    config_option(p_rl, RLConfig, "lora_rank", "--lora", type=lora_rank, metavar="RANK")
    config_option(p_rl, RLConfig, "device")
    config_option(p_rl, RLConfig, "dtype", choices=DTYPES)
    add_ray_options(p_rl)
    p_rl.add_argument("--resume", action="store_true", help="continue from --out/checkpoint")
    p_rl.add_argument("--quiet", action="store_true", help="no progress lines")
    add_log_option(p_rl, "OUT/tensorboard")
    p_rl.set_defaults(func=_cmd_train_rl)
