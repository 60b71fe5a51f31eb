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

import json
from pathlib import Path
from typing import Any

import torch

ADAPTER_CONFIG = "adapter_config.json"


def is_adapter(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a LoRA adapter (``adapter_config.json``)."""
    return (Path(path) / ADAPTER_CONFIG).is_file()


def _import_peft() -> Any:
    try:
        import peft
    except ImportError:
        raise ValueError("LoRA needs peft: pip install 'textgym[lora]'") from None
    return peft


#: The longest chain of adapters trained on adapters that loads.
MAX_ADAPTER_CHAIN = 8


def _named_base(path: Path) -> Path:
    """The base ``path``'s adapter config names (relative names count from ``path``)."""
    config_file = path / ADAPTER_CONFIG
    try:
        config = json.loads(config_file.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the adapter config {str(config_file)!r}: {exc}") from None
    name = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    if not name or not isinstance(name, str):
        raise ValueError(f"the adapter in {str(path)!r} names no base model")
    base = Path(name)
    return base if base.is_absolute() else path / base


def adapter_base(path: str | Path) -> Path:
    """The base model an adapter folder was trained on (a path relative to the adapter
    folder counts from there). The base may itself be an adapter (trained on an adapter):
    the whole chain is followed here, so a chain that loops is refused before anything
    loads.

    Raises:
        ValueError: if a config names no base or cannot be read, a base is not there,
            adapters name themselves or each other, or the chain is longer than
            :data:`MAX_ADAPTER_CHAIN`.
    """
    from textgym.policies.hf import is_model_path

    path = Path(path)
    chain = [path]
    while is_adapter(chain[-1]):
        base = _named_base(chain[-1])
        if not is_model_path(base):
            raise ValueError(
                f"the adapter in {str(chain[-1])!r} was trained on {str(base)!r}, which is not "
                f"there (put the base model back, or edit base_model_name_or_path in "
                f"{ADAPTER_CONFIG})"
            )
        if base.resolve() in {p.resolve() for p in chain}:
            loop = " -> ".join(str(p) for p in [*chain, base])
            raise ValueError(f"adapters name themselves or each other as base model: {loop}")
        chain.append(base)
        if len(chain) > MAX_ADAPTER_CHAIN + 1:
            raise ValueError(
                f"the adapter in {str(path)!r} stacks more than {MAX_ADAPTER_CHAIN} adapters "
                f"(merge some with textgym model merge)"
            )
    return chain[1]


def lora_targets(model: torch.nn.Module) -> list[tuple[str, torch.nn.Linear]]:
    """The linear layers an adapter goes on: every one but the output head."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and m is not head
    ]


def check_rank_value(rank: Any, name: str = "lora_rank") -> None:
    """One clear ValueError unless ``rank`` is a whole number >= 1 (before any model is
    loaded; :func:`check_lora_rank` also checks it against the model's layers)."""
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {rank!r}")


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
    peft = _import_peft()
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


def load_adapter(
    path: str | Path,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    trainable: bool = False,
) -> tuple[Any, Any]:
    """Load an adapter folder on its base model; (model, tokenizer).

    ``trainable=False`` merges the adapter into the base (a plain model, as fast as the
    base); ``trainable=True`` returns the peft model with only the adapter trainable (to
    continue training it).
    """
    from transformers import AutoTokenizer

    from textgym.policies.hf import load_model

    peft = _import_peft()
    model, tokenizer = load_model(adapter_base(path), device, dtype)
    try:
        wrapped = peft.PeftModel.from_pretrained(model, str(path), is_trainable=trainable)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ValueError(f"cannot load the LoRA adapter in {str(path)!r}: {exc}") from None
    if (Path(path) / "tokenizer_config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(path)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
    if trainable:
        return wrapped.to(device), tokenizer
    return wrapped.merge_and_unload().to(device).eval(), tokenizer


def merge_lora(path: str | Path, out: str | Path) -> Path:
    """Write adapter folder ``path`` merged into its base as a plain model folder."""
    from textgym.trainers.saving import check_writable, save_model
    from textgym.view import load_view

    if not is_adapter(path):
        raise ValueError(f"{str(path)!r} is not a LoRA adapter folder (no {ADAPTER_CONFIG})")
    check_writable(Path(out).parent, "output")
    model, tokenizer = load_adapter(path)
    return save_model(out, model, tokenizer, load_view(path))


def trainable_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters an optimizer should update (all of them without an adapter)."""
    return [p for p in model.parameters() if p.requires_grad]
