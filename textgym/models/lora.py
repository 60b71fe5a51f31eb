"""LoRA adapters (peft): train a few low-rank matrices instead of the whole model.

``add_lora(model, rank, base=PATH)`` freezes the model and adds a rank-``rank`` adapter to
every linear layer but the output head. Saved (``save_pretrained`` of the wrapped model,
as SFT and RL checkpoints do), the folder holds only the adapter, its config, the
tokenizer and the view; the config names the base model it was trained on. Such an
**adapter folder** loads everywhere a model folder does (``hf:PATH``, ``--model``): the
base is loaded and the adapter merged into it. The base may itself be a GGUF file or
another adapter folder (RL on top of a LoRA SFT stage). ``merge_lora`` writes the merged
model as a plain folder (``textgym model merge``).

Adapter dropout is 0: the log-probs the trainer computes must equal the sampling ones.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from textgym.models.files import check_rank_value
from textgym.models.loading import ADAPTER_CONFIG, is_adapter, load_adapter, require_peft
from textgym.models.saving import VIEW_FILE, check_writable, save_model


def lora_targets(model: torch.nn.Module) -> list[tuple[str, torch.nn.Linear]]:
    """The linear layers an adapter goes on: every one but the output head."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and m is not head
    ]


def check_lora_rank(model: torch.nn.Module, rank: Any) -> None:
    """One clear ValueError unless ``rank`` is a whole number in ``1..min(in, out)`` of
    every target layer (a larger rank adds parameters without adding expressiveness)."""
    check_rank_value(rank, "LoRA rank")
    targets = lora_targets(model)
    if not targets:
        raise ValueError("the model has no linear layers to put a LoRA adapter on")
    name, smallest = min(targets, key=lambda t: min(t[1].in_features, t[1].out_features))
    limit = min(smallest.in_features, smallest.out_features)
    if rank > limit:
        raise ValueError(
            f"LoRA rank {rank} does not fit: layer {name!r} is "
            f"{smallest.in_features}x{smallest.out_features}, so the rank can be at most {limit}"
        )


def add_lora(
    model: torch.nn.Module,
    rank: int,
    base: str | Path,
    alpha: float | None = None,
    seed: int = 0,
) -> Any:
    """Freeze ``model`` and wrap it with a fresh LoRA adapter of ``rank`` (alpha defaults
    to ``2 * rank``); ``base`` is the path the model was loaded from, recorded in the
    adapter's config. The adapter's initial weights depend only on ``seed``."""
    peft = require_peft()
    check_lora_rank(model, rank)
    config = peft.LoraConfig(
        r=rank,
        lora_alpha=float(alpha if alpha is not None else 2 * rank),
        lora_dropout=0.0,
        target_modules=sorted({name.rsplit(".", 1)[-1] for name, _ in lora_targets(model)}),
        bias="none",
        task_type="CAUSAL_LM",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        wrapped = peft.get_peft_model(model, config)
    wrapped.peft_config["default"].base_model_name_or_path = str(Path(base).resolve())
    return wrapped


def merge_lora(path: str | Path, out: str | Path) -> Path:
    """Write adapter folder ``path`` merged into its base as a plain model folder (the
    adapter's recorded view comes along)."""
    if not is_adapter(path):
        raise ValueError(f"{str(path)!r} is not a LoRA adapter folder (no {ADAPTER_CONFIG})")
    check_writable(Path(out).parent, "output")
    model, tokenizer = load_adapter(path)
    view_file = Path(path) / VIEW_FILE

    def carry_view(tmp: Path) -> None:
        if view_file.is_file():
            shutil.copyfile(view_file, tmp / VIEW_FILE)

    return save_model(out, model, tokenizer, carry_view)


def trainable_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters an optimizer should update (all of them without an adapter)."""
    return [p for p in model.parameters() if p.requires_grad]
