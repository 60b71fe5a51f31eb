"""``textgym pipeline``: the tic-tac-toe study (base evaluation, SFT, CISPO rounds, report)."""

from __future__ import annotations

import argparse
from typing import Any

from textgym.cli.common import LORA_HELP, lora_rank
from textgym.models.files import DTYPES
from textgym.recipes.tictactoe.pipeline import preset_config, run_pipeline


def _cmd_pipeline(args: argparse.Namespace) -> int:
    config = preset_config(
        args.preset,
        out_dir=args.out,
        model=args.model,
        teacher=args.teacher,
        base_url=args.base_url,
        seed=args.seed,
        rl1_steps=args.rl1_steps,
        rl2_steps=args.rl2_steps,
        games_per_batch=args.games_per_batch,
        teacher_games=args.teacher_games,
        sft_epochs=args.sft_epochs,
        sft_lr=args.sft_lr,
        sft_batch_size=args.sft_batch_size,
        micro_batch_tokens=args.micro_batch_tokens,
        eval_episodes=args.eval_episodes,
        eval_every=args.eval_every,
        keep_best=args.keep_best,
        opponent=args.opponent,
        lora_rank=args.lora,
        device=args.device,
        dtype=args.dtype,
        tag_tokens=True if args.tag_tokens else None,
    )
    report = run_pipeline(config, progress=not args.quiet)
    print(report.table())
    print(f"\nreport: {report.out_dir / 'report.md'}")
    return 0


def add_parser(sub: Any) -> None:
    """The subcommands ``pipeline`` (tic-tac-toe)."""
    p_pipe = sub.add_parser(
        "pipeline", help="tiny model -> teacher SFT -> two CISPO rounds -> report"
    )
    p_pipe.add_argument(
        "--preset",
        default="default",
        help="default | fast (the answer tags as single tokens: 2/3 of the time, a less "
        "sure result) | faithful (SFT on only 200 teacher games, longer RL) | quick (about "
        "a minute) | smollm2 (the talk's recipe on SmolLM2-135M-Instruct with LoRA; python "
        "scripts/fetch_smollm2.py first) | smollm2-cpu (SmolLM2 sized for a 2-core CPU: "
        "about 2 hours)",
    )
    p_pipe.add_argument("--out", default=None, help="report folder (default runs/pipeline)")
    p_pipe.add_argument(
        "--model", default=None, help="start from this saved model folder or .gguf file"
    )
    p_pipe.add_argument("--teacher", default=None, help="teacher:Q | minimax | openai:MODEL")
    p_pipe.add_argument("--base-url", default=None, help="server of an openai: teacher")
    p_pipe.add_argument("--seed", type=int, default=None)
    p_pipe.add_argument("--rl1-steps", type=int, default=None)
    p_pipe.add_argument("--rl2-steps", type=int, default=None)
    p_pipe.add_argument("--games-per-batch", type=int, default=None)
    p_pipe.add_argument("--teacher-games", type=int, default=None)
    p_pipe.add_argument("--sft-epochs", type=int, default=None)
    p_pipe.add_argument("--sft-lr", type=float, default=None, help="SFT learning rate")
    p_pipe.add_argument("--sft-batch-size", type=int, default=None, help="turns per SFT step")
    p_pipe.add_argument(
        "--micro-batch-tokens",
        type=int,
        default=None,
        help="most padded tokens per forward/backward pass (memory bound; default 4096)",
    )
    p_pipe.add_argument("--eval-episodes", type=int, default=None, help="games per opponent")
    p_pipe.add_argument(
        "--eval-every", type=int, default=None, help="steps between the checks of a CISPO round"
    )
    p_pipe.add_argument(
        "--keep-best",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="make each CISPO round's model its checkpoint with the lowest exact loss to "
        "perfect play, audited every --eval-every steps, the round's start included "
        "(default: the preset's; smollm2-cpu keeps the best)",
    )
    p_pipe.add_argument(
        "--opponent",
        default=None,
        metavar="self|snapshot:K",
        help="who plays the other seat in the CISPO rounds: the student itself (both seats "
        "trained) or frozen snapshots of it every K steps (default: the scripted minimax bot "
        "at each round's skills)",
    )
    p_pipe.add_argument("--lora", type=lora_rank, default=None, metavar="RANK", help=LORA_HELP)
    p_pipe.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N")
    p_pipe.add_argument(
        "--dtype",
        default=None,
        choices=DTYPES,
        help="auto: bfloat16 on a CUDA device that supports it, else float32; "
        "bfloat16-mixed: float32 weights computed in bfloat16 (about 2x faster on a CPU with "
        "AVX512-BF16)",
    )
    p_pipe.add_argument(
        "--tag-tokens",
        action="store_true",
        help="the tiny tokenizer's answer tags as single tokens (3 tokens per answer, not "
        "14); --preset fast is this with the SFT learning rate it needs",
    )
    p_pipe.add_argument("--quiet", action="store_true", help="no progress lines")
    p_pipe.set_defaults(func=_cmd_pipeline)
