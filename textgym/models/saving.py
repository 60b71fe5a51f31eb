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

__all__ = [
    "VIEW_FILE",
    "SaveError",
    "check_writable",
    "load_state",
    "recover",
    "repair_jsonl",
    "save_atomically",
    "save_model",
    "write_text_atomically",
]


class StateError(ValueError):
    """A trainer state file that is not plain data textgym wrote (it is never run)."""


def load_state(path: str | Path) -> dict[str, Any]:
    """Load a trainer state (``torch.save`` of tensors, numbers, strings, lists and dicts)
    as data only: ``torch.load(weights_only=True)``, which refuses any other object, so a
    crafted file cannot run code when a run resumes.

    Raises:
        StateError: the file holds anything else, is cut off, or is not a dict; the
            message names the file.
    """
    import pickle

    import torch  # the [hf] extra: every trainer needs it

    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StateError(
            f"{path} is not a trainer state textgym can load as plain data, so it was not "
            f"loaded ({first[:200]}); delete it to start over"
        ) from None
    if not isinstance(state, dict):
        raise StateError(f"{path} holds a {type(state).__name__}, not a trainer state")
    return state


#: The file in a model folder that records the view it was trained with (written and read
#: by :mod:`textgym.view`; the models layer only carries it along, e.g. when merging).
VIEW_FILE = "textgym_view.json"


def save_model(
    final: str | Path,
    model: Any,
    tokenizer: Any,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Save a model, its tokenizer and anything ``extra`` writes into the folder (its view:
    ``extra=view.save``), atomically."""

    def write(tmp: Path) -> None:
        if hasattr(model, "peft_config"):  # a LoRA adapter: only its own weights
            model.save_pretrained(tmp, save_embedding_layers=False)
        else:
            model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if extra is not None:
            extra(tmp)

    return save_atomically(final, write)
