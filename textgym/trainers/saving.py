"""Saving a model folder atomically, with the view it was trained on (the file-safety
helpers live in :mod:`textgym.utils.files` and are re-exported here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textgym.utils.files import (
    SaveError,
    check_writable,
    recover,
    repair_jsonl,
    save_atomically,
    write_text_atomically,
)
from textgym.view import View, save_view

__all__ = [
    "SaveError",
    "check_writable",
    "recover",
    "repair_jsonl",
    "save_atomically",
    "save_model",
    "write_text_atomically",
]


def save_model(
    final: str | Path,
    model: Any,
    tokenizer: Any,
    view: View | None = None,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Save a model, its tokenizer, its view and anything ``extra`` writes, atomically."""

    def write(tmp: Path) -> None:
        if hasattr(model, "peft_config"):  # a LoRA adapter: only its own weights
            model.save_pretrained(tmp, save_embedding_layers=False)
        else:
            model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if view is not None:
            save_view(tmp, view)
        if extra is not None:
            extra(tmp)

    return save_atomically(final, write)
