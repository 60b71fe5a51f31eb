"""Loading a model for textgym: a ``save_pretrained`` folder, a GGUF file (de-quantized)
or a LoRA adapter folder (merged into its base, or trainable), sized before it is
allocated (:mod:`textgym.models.files`), with one clear error when it cannot be.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from textgym.models.files import (
    DTYPES,
    check_dtype,
    check_model_path,
    estimate_parameters,
    is_model_path,
)
from textgym.utils.files import check_writable, save_atomically

ADAPTER_CONFIG = "adapter_config.json"


def is_adapter(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a LoRA adapter (``adapter_config.json``)."""
    return (Path(path) / ADAPTER_CONFIG).is_file()


def require_peft() -> Any:
    """The peft module, or one clear ValueError saying how to install it."""
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


def estimate_bytes(path: str | Path, dtype: torch.dtype = torch.float32) -> int:
    """The memory the model at ``path`` takes once loaded in ``dtype``
    (:func:`estimate_parameters` times the dtype's size)."""
    return estimate_parameters(path) * torch.tensor([], dtype=dtype).element_size()


def _available_bytes(device: str) -> int | None:
    if device.startswith("cuda") and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    if device == "cpu" and hasattr(os, "sysconf"):
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            return None
    return None


def check_fits(path: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32) -> None:
    """Refuse, before loading, a model whose weights alone exceed the device's free memory."""
    need, free = estimate_bytes(path, dtype), _available_bytes(device)
    if free is not None and need > free:
        raise ValueError(
            f"the model {str(path)!r} needs about {need / 2**30:.1f} GiB as {dtype} but "
            f"{device} has {free / 2**30:.1f} GiB free (a smaller dtype or device=cuda?)"
        )


def model_context(model: Any) -> int | None:
    """The longest sequence ``model`` takes (``max_position_embeddings`` or ``n_positions``
    of its config), or None when its config does not say."""
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def resolve_dtype(name: str, device: str) -> torch.dtype:
    """The weights' dtype: ``auto``: bfloat16 on a CUDA device that supports it, float32
    otherwise; ``bfloat16-mixed``: float32 (computed in bfloat16); or the named dtype
    (``float32``, ``bfloat16``, ``float16``)."""
    check_dtype(name)
    if name == "bfloat16-mixed":
        return torch.float32
    if name == "auto":
        cuda = device.startswith("cuda") and torch.cuda.is_available()
        return torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, name)


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer of the model at ``path`` without loading its weights: a folder's, a
    GGUF file's, or an adapter folder's (its own when saved with it, else its base's)."""
    from transformers import AutoTokenizer

    check_model_path(path)
    path = Path(path)
    estimate_parameters(path)  # a config that is not what it claims: one clear error
    try:
        if is_adapter(path) and not (path / "tokenizer_config.json").is_file():
            return load_tokenizer(adapter_base(path))
        if path.is_file():
            return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, TypeError) as exc:  # TypeError: a config field's type
        raise ValueError(f"cannot load a tokenizer from {str(path)!r}: {exc}") from None


# Models whose forward passes run under torch.autocast, and in which dtype.
_COMPUTE: weakref.WeakKeyDictionary[torch.nn.Module, torch.dtype] = weakref.WeakKeyDictionary()


def _unwrapped(model: Any) -> Any:
    """The model inside a DistributedDataParallel and a PEFT wrapper."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        model = model.module
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def set_compute_dtype(model: torch.nn.Module, dtype: torch.dtype | None) -> None:
    """Run ``model``'s forward passes in ``dtype`` under ``torch.autocast`` wherever textgym
    runs it (sampling, training); None: in the weights' own dtype. Kept through a LoRA
    adapter added later; a copy of the model (``copy.deepcopy``) does not inherit it."""
    if dtype is None:
        _COMPUTE.pop(_unwrapped(model), None)
    else:
        _COMPUTE[_unwrapped(model)] = dtype


def compute_dtype(model: Any) -> torch.dtype | None:
    """The dtype ``model`` computes in under :func:`compute_precision`, or ``None`` when it
    computes in its weights' dtype."""
    return _COMPUTE.get(_unwrapped(model))


@contextmanager
def compute_precision(model: Any) -> Iterator[None]:
    """The autocast context of ``model`` (see :func:`set_compute_dtype`); nothing when it
    computes in its weights' dtype."""
    dtype = compute_dtype(model)
    if dtype is None:
        yield
        return
    device = next(model.parameters()).device.type
    with torch.autocast(device_type=device, dtype=dtype):
        yield


def load_model(path: str | Path, device: str = "cpu", dtype: torch.dtype | str = torch.float32):
    """Load a causal LM and its tokenizer from a local folder or a GGUF file, with one
    clear error if it fails (a GGUF file is de-quantized: see :func:`load_gguf`; a LoRA
    adapter folder is merged into its base: see :func:`load_adapter`).

    ``dtype``: a torch dtype, or a name of :data:`~textgym.models.files.DTYPES`
    (``bfloat16-mixed`` loads float32 weights that compute in bfloat16)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if isinstance(dtype, str):
        model, tokenizer = load_model(path, device, resolve_dtype(dtype, device))
        set_compute_dtype(model, torch.bfloat16 if dtype == "bfloat16-mixed" else None)
        return model, tokenizer
    hf_logging.disable_progress_bar()
    check_model_path(path)
    if is_adapter(path):  # a LoRA adapter folder: its base with the adapter merged in
        return load_adapter(path, device, dtype)
    check_fits(path, device, dtype)
    if Path(path).is_file():
        model, tokenizer = load_gguf(path, dtype)
    else:
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            with warnings.catch_warnings():  # torch warns of a pickle protocol it reads
                warnings.filterwarnings("ignore", "Detected pickle protocol")
                model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        except pickle.UnpicklingError:
            # transformers reads a pickled .bin with torch.load(weights_only=True): a file
            # holding more than tensors stops there, before any of its code runs.
            raise ValueError(
                f"cannot load a causal LM from {str(path)!r}: its pickled weights hold objects "
                f"other than tensors, so they were refused unrun (save the model as "
                f"safetensors where it came from)"
            ) from None
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot load a causal LM from {str(path)!r}: {exc}") from None
    if tokenizer.chat_template is None:
        raise ValueError(f"the tokenizer in {str(path)!r} has no chat template")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device).eval(), tokenizer


def load_gguf(path: str | Path, dtype: torch.dtype = torch.float32):
    """Load a GGUF file (``pip install 'textgym[gguf]'``) as a plain, de-quantized causal LM
    and its tokenizer (with the chat template the file carries).

    transformers de-quantizes GGUF weights but marks the model as quantized, which it then
    refuses to save; the model returned here is rebuilt from the config with the loaded
    weights, so it trains, saves and serves like any other.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        import gguf  # noqa: F401
    except ImportError:
        raise ValueError(
            "loading a .gguf file needs the gguf package: pip install 'textgym[gguf]'"
        ) from None
    path = Path(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype)
    except Exception as exc:  # gguf and transformers raise many kinds for a bad file
        raise ValueError(
            f"cannot load {str(path)!r} as a GGUF causal LM: {type(exc).__name__}: {str(exc)[:300]}"
        ) from None
    config = loaded.config
    for attribute in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attribute):
            delattr(config, attribute)
    config.architectures = [type(loaded).__name__]
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    return model, tokenizer


def convert_gguf(path: str | Path, out: str | Path) -> Path:
    """Write a GGUF file as a plain Hugging Face folder (model, tokenizer, chat template,
    generation config) that every textgym command and ``transformers serve`` can load."""
    check_model_path(path, "GGUF file")
    if not Path(path).is_file():
        raise ValueError(f"{str(path)!r} is a folder, not a .gguf file")
    check_writable(Path(out).parent, "output")
    model, tokenizer = load_model(path)

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return save_atomically(out, write)


def load_adapter(
    path: str | Path,
    device: str = "cpu",
    dtype: torch.dtype | str = torch.float32,
    trainable: bool = False,
) -> tuple[Any, Any]:
    """Load an adapter folder on its base model; (model, tokenizer).

    ``trainable=False`` merges the adapter into the base (a plain model, as fast as the
    base); ``trainable=True`` returns the peft model with only the adapter trainable (to
    continue training it).
    """
    from transformers import AutoTokenizer

    peft = require_peft()
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


__all__ = [
    "ADAPTER_CONFIG",
    "DTYPES",
    "MAX_ADAPTER_CHAIN",
    "adapter_base",
    "check_dtype",
    "check_fits",
    "check_model_path",
    "compute_precision",
    "convert_gguf",
    "estimate_bytes",
    "estimate_parameters",
    "is_adapter",
    "is_model_path",
    "load_adapter",
    "load_gguf",
    "load_model",
    "load_tokenizer",
    "model_context",
    "require_peft",
    "resolve_dtype",
    "set_compute_dtype",
]
