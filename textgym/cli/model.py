"""``textgym model convert``, ``merge`` and ``tiny``: model files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from textgym.models.tiny import build_tiny_model


def _cmd_model_convert(args: argparse.Namespace) -> int:
    from textgym.models.loading import convert_gguf

    out = convert_gguf(args.gguf, args.out)
    print(f"{args.gguf} -> {out} (load it with --model {out} or hf:{out})")
    return 0


def _cmd_model_merge(args: argparse.Namespace) -> int:
    from textgym.models.lora import merge_lora

    out = merge_lora(args.adapter, args.out)
    print(f"{args.adapter} merged -> {out} (load it with --model {out} or hf:{out})")
    return 0


def _cmd_model_tiny(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty: give a new folder for the tiny model")
    build_tiny_model(
        out,
        hidden_size=args.hidden,
        num_layers=args.layers,
        intermediate_size=2 * args.hidden,
        seed=args.seed,
    )
    print(f"tiny model -> {out} (train it with --model {out}; play it with hf:{out})")
    return 0


def add_parser(sub: Any) -> None:
    """The subcommands ``model convert``, ``model merge`` and ``model tiny``."""
    p_model = sub.add_parser(
        "model", help="model files: convert a GGUF file, merge a LoRA adapter, build a tiny model"
    )
    actions = p_model.add_subparsers(dest="action", required=True)
    p_convert = actions.add_parser(
        "convert", help="write a .gguf file as a plain Hugging Face model folder"
    )
    p_convert.add_argument("gguf", help="the .gguf file (pip install 'textgym[gguf]')")
    p_convert.add_argument("out", help="the folder to write (model, tokenizer, chat template)")
    p_convert.set_defaults(func=_cmd_model_convert)
    p_merge = actions.add_parser(
        "merge", help="write a LoRA adapter folder merged into its base as a plain folder"
    )
    p_merge.add_argument("adapter", help="a folder trained with --lora (pip install peft)")
    p_merge.add_argument("out", help="the folder to write")
    p_merge.set_defaults(func=_cmd_model_merge)
    p_tiny = actions.add_parser(
        "tiny",
        help="build a tiny random model with a character tokenizer and a chat template "
        "(seconds to train on a CPU: for trying an env end to end)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p_tiny.add_argument("out", help="the folder to write (new or empty)")
    p_tiny.add_argument("--hidden", type=int, default=64, help="hidden size")
    p_tiny.add_argument("--layers", type=int, default=2, help="decoder layers")
    p_tiny.add_argument("--seed", type=int, default=0, help="seeds the random weights")
    p_tiny.set_defaults(func=_cmd_model_tiny)
