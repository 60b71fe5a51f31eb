"""``textgym model convert`` and ``textgym model merge``: model files."""

from __future__ import annotations

import argparse
from typing import Any


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


def add_parser(sub: Any) -> None:
    """The subcommands ``model convert`` and ``model merge``."""
    p_model = sub.add_parser("model", help="model files: convert a GGUF file, merge a LoRA adapter")
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
