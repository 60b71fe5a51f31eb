"""One way to write a model folder: atomically, with the view it was trained on.

A folder is written under a temporary name and renamed into place, so a run killed while
saving leaves either the previous folder or the new one, never half of one.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textgym.view import View, save_view


def save_atomically(final: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a fresh temporary folder, then put it in place of ``final``."""
    final = Path(final)
    tmp = final.with_name(final.name + ".tmp")
    old = final.with_name(final.name + ".old")
    for leftover in (tmp, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    tmp.mkdir(parents=True)
    write(tmp)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)
    return final


def save_model(
    final: str | Path,
    model: Any,
    tokenizer: Any,
    view: View | None = None,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Save a model, its tokenizer, its view and anything ``extra`` writes, atomically."""

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if view is not None:
            save_view(tmp, view)
        if extra is not None:
            extra(tmp)

    return save_atomically(final, write)
