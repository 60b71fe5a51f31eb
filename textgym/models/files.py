"""Model files on disk, read without loading them: which paths hold a model, which
dtypes textgym loads, and how many parameters a model's files describe, from headers
alone and bounded (no torch here).

A model is sized before it is allocated (see :func:`textgym.models.loading.check_fits`), from
three sources, each read without trusting the file:

- the safetensors headers (the shapes of the stored tensors);
- a folder's ``config.json`` (layers, hidden size, vocabulary), which is what
  transformers allocates from, whatever the weights on disk hold;
- a GGUF file's header (its tensor shapes and its architecture's metadata).

Every count is checked (whole numbers, header lengths within the file, within
:data:`MAX_HEADER_BYTES`), and a file that is not what it claims is one
:class:`ModelFileError` naming it.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

#: The longest header read (safetensors JSON, a GGUF string or array); the safetensors
#: library caps its own header at 100 MB too.
MAX_HEADER_BYTES = 100_000_000


class ModelFileError(ValueError):
    """A model file or config that cannot be sized: the message names the file and why."""


def safetensors_parameters(path: str | Path) -> int:
    """The number of parameters stored in one ``.safetensors`` file, from its header."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 2 <= length <= min(MAX_HEADER_BYTES, path.stat().st_size - 8):
            raise ModelFileError(
                f"{str(path)!r} is not a safetensors file: its header length {length} does "
                f"not fit the file"
            )
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{str(path)!r} is not a safetensors file: its header is not JSON ({exc})"
        ) from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{str(path)!r} is not a safetensors file: its header is no object")
    params = 0
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        shape = meta.get("shape") if isinstance(meta, dict) else None
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise ModelFileError(
                f"{str(path)!r} is not a safetensors file: tensor {name!r} has no shape of "
                f"whole numbers"
            )
        params += math.prod(shape)
    return params


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _field(config: Mapping[str, Any], names: tuple[str, ...], where: str) -> int | None:
    for name in names:
        if name in config and config[name] is not None:
            value = config[name]
            if not _is_count(value) or value == 0:
                raise ModelFileError(f"{where}: {name} must be a whole number >= 1, got {value!r}")
            return value
    return None


def config_parameters(config: Mapping[str, Any], where: str = "config.json") -> int | None:
    """A lower bound of the parameters a transformers ``config.json`` makes the model
    allocate (the embedding once, each layer's attention and two MLP matrices; norms,
    biases, an untied head and a third gated-MLP matrix are left out, so a model is
    never refused for more than it needs). None when the config does not say its layers,
    width and vocabulary (a multimodal model's ``text_config`` is read when present).

    Raises:
        ModelFileError: a size that is not a whole number >= 1 (``where`` names the file).
    """
    if isinstance(config.get("text_config"), Mapping):
        config = config["text_config"]
    hidden = _field(config, ("hidden_size", "n_embd", "d_model", "embedding_length"), where)
    layers = _field(config, ("num_hidden_layers", "n_layer", "num_layers", "block_count"), where)
    vocab = _field(config, ("vocab_size",), where)
    if hidden is None or layers is None or vocab is None:
        return None
    inner = _field(config, ("intermediate_size", "n_inner", "ffn_dim"), where) or 4 * hidden
    heads = _field(config, ("num_attention_heads", "n_head", "head_count"), where) or 1
    kv_heads = _field(config, ("num_key_value_heads", "head_count_kv"), where) or heads
    head_dim = _field(config, ("head_dim",), where) or max(1, hidden // heads)
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim
    return vocab * hidden + layers * (attention + 2 * hidden * inner)


def read_config(folder: str | Path) -> dict[str, Any] | None:
    """A model folder's ``config.json`` as a dict, or None when there is none."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_HEADER_BYTES:
        raise ModelFileError(f"{str(path)!r} is larger than any model config")
    try:
        config = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{str(path)!r} is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"{str(path)!r} holds no JSON object")
    return config


# GGUF value types (ggml's gguf.h): scalar sizes in bytes; 8 is a string, 9 an array.
_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q"}
_GGUF_SCALARS |= {11: "q", 12: "d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
#: Arrays of arrays are read this deep at most.
_GGUF_MAX_NESTING = 4


class GGUFArray(int):
    """A GGUF metadata array, kept as its length only (its items are skipped)."""


class _GGUFHeader:
    """A bounded reader of a GGUF file's header: every length is checked against the
    bytes left in the file before it is used."""

    def __init__(self, f: BinaryIO, size: int, path: Path) -> None:
        self.f, self.size, self.path = f, size, path

    def fail(self, why: str) -> ModelFileError:
        return ModelFileError(f"{str(self.path)!r} is not a GGUF file: {why}")

    def take(self, n: int) -> bytes:
        if n < 0 or n > min(MAX_HEADER_BYTES, self.size - self.f.tell()):
            raise self.fail(f"a length of {n} bytes runs past the end of the file")
        return self.f.read(n)

    def scalar(self, fmt: str) -> Any:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.take(self.scalar("Q")).decode("utf-8", errors="replace")

    def value(self, kind: int, depth: int = 0) -> Any:
        if kind in _GGUF_SCALARS:
            return self.scalar(_GGUF_SCALARS[kind])
        if kind == _GGUF_STRING:
            return self.string()
        if kind == _GGUF_ARRAY:
            if depth >= _GGUF_MAX_NESTING:
                raise self.fail(f"arrays nested more than {_GGUF_MAX_NESTING} deep")
            item, count = self.scalar("I"), self.scalar("Q")
            if count > self.size - self.f.tell():  # every item takes a byte at least
                raise self.fail(f"an array of {count} items runs past the end of the file")
            if item in _GGUF_SCALARS:  # skipped: only its length is kept
                self.take(count * struct.calcsize(_GGUF_SCALARS[item]))
            else:
                for _ in range(count):
                    self.value(item, depth + 1)
            return GGUFArray(count)
        raise self.fail(f"unknown value type {kind}")


def gguf_parameters(path: str | Path) -> tuple[int, dict[str, Any]]:
    """(parameters the tensors hold, metadata) of a GGUF file, from its header alone.

    The metadata keeps scalars and strings; an array is kept as its length
    (:class:`GGUFArray`).
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        reader = _GGUFHeader(f, size, path)
        if reader.take(4) != b"GGUF":
            raise reader.fail("it does not start with GGUF")
        version = reader.scalar("I")
        if version not in (2, 3):
            raise reader.fail(f"version {version} (textgym reads versions 2 and 3)")
        n_tensors, n_fields = reader.scalar("Q"), reader.scalar("Q")
        if n_tensors + n_fields > size:
            raise reader.fail(f"it claims {n_tensors} tensors and {n_fields} fields")
        metadata: dict[str, Any] = {}
        for _ in range(n_fields):
            key = reader.string()
            metadata[key] = reader.value(reader.scalar("I"))
        params = 0
        for _ in range(n_tensors):
            reader.string()
            n_dims = reader.scalar("I")
            if n_dims > 8:
                raise reader.fail(f"a tensor with {n_dims} dimensions")
            params += math.prod(reader.scalar("Q") for _ in range(n_dims))
            reader.scalar("I"), reader.scalar("Q")  # its type and offset
    return params, metadata


def gguf_config(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The sizes a GGUF file's metadata gives its architecture, under the names
    :func:`config_parameters` reads (the vocabulary from the token list when the
    architecture does not say it)."""
    arch = metadata.get("general.architecture")
    prefix = f"{arch}." if isinstance(arch, str) else ""
    names = {
        "block_count": "block_count",
        "embedding_length": "embedding_length",
        "ffn_dim": "feed_forward_length",
        "head_count": "attention.head_count",
        "head_count_kv": "attention.head_count_kv",
        "vocab_size": "vocab_size",
    }
    # Per-layer arrays (some architectures give head counts per layer) are left out.
    config = {
        name: value
        for name, key in names.items()
        if not isinstance(value := metadata.get(prefix + key), GGUFArray)
    }
    tokens = metadata.get("tokenizer.ggml.tokens")
    if config.get("vocab_size") is None and isinstance(tokens, GGUFArray):
        config["vocab_size"] = int(tokens)
    return config


def is_model_path(path: str | Path) -> bool:
    """Whether ``path`` names a model textgym can load: a ``save_pretrained`` folder or a
    ``.gguf`` file."""
    path = Path(path)
    return path.is_dir() or (path.is_file() and path.suffix.lower() == ".gguf")


def check_model_path(path: str | Path, what: str = "model") -> None:
    """Raise one clear ValueError unless ``path`` is a loadable model (see
    :func:`is_model_path`)."""
    if not is_model_path(path):
        raise ValueError(
            f"{what} {str(path)!r} is neither a folder with a saved model nor a .gguf file"
        )


def estimate_parameters(path: str | Path) -> int:
    """How many parameters the model at ``path`` allocates once loaded, from its headers
    alone (nothing is allocated): the larger of what its weights hold (safetensors or
    GGUF tensor shapes) and what its config makes transformers build (``config.json``,
    or a GGUF file's metadata; see :func:`textgym.utils.config_parameters`).

    Raises:
        ModelFileError: (a ValueError) a header or config that is not what it claims.
    """
    path = Path(path)
    if path.is_file():
        stored, metadata = gguf_parameters(path)
        built = config_parameters(gguf_config(metadata), str(path))
        return max(stored, built or 0)
    stored = sum(safetensors_parameters(s) for s in path.glob("*.safetensors"))
    config = read_config(path)
    built = config_parameters(config, str(path / "config.json")) if config else None
    return max(stored, built or 0)


#: Weights' dtypes by name. ``bfloat16-mixed``: float32 weights, computed in bfloat16
#: under ``torch.autocast`` (on a CPU with AVX512-BF16, about 2x faster to train and 2.7x
#: to sample than float32; see :func:`textgym.models.loading.compute_precision`).
DTYPES = ("auto", "float32", "bfloat16", "float16", "bfloat16-mixed")


def check_dtype(name: str) -> None:
    """One clear ValueError unless ``name`` is one of :data:`DTYPES`."""
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")


def check_rank_value(rank: Any, name: str = "lora_rank") -> None:
    """One clear ValueError unless ``rank`` is a whole number >= 1 (before any model is
    loaded; :func:`check_lora_rank` also checks it against the model's layers)."""
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {rank!r}")


__all__ = [
    "DTYPES",
    "MAX_HEADER_BYTES",
    "GGUFArray",
    "ModelFileError",
    "check_dtype",
    "check_model_path",
    "check_rank_value",
    "config_parameters",
    "estimate_parameters",
    "gguf_config",
    "gguf_parameters",
    "is_model_path",
    "read_config",
    "safetensors_parameters",
]
