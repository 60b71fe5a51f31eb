"""``HFPolicy``: a local Hugging Face causal LM answering many conversations in one batch.

Generation is a plain sampling loop over the model's KV cache on a left-padded batch, so
the policy knows exactly what it sampled: the prompt ids, the completion ids and the
log-probability of each sampled token under the sampling distribution. Those are what the
trainer trains on (never re-tokenized text).

Log-probs are those of ``softmax(logits / temperature)`` over the whole vocabulary; with
``top_p < 1`` the sample is drawn from the nucleus but the reported log-prob is still that
of the full tempered distribution (as vLLM reports them). With ``temperature == 0`` the
choice is greedy and the reported log-probs are those of ``softmax(logits)``.
"""

from __future__ import annotations

import inspect
import math
import os
import pickle
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from textgym.policies.base import Completion, Conversation
from textgym.utils import model_files


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
    or a GGUF file's metadata; see :func:`textgym.utils.model_files.config_parameters`).

    Raises:
        ModelFileError: (a ValueError) a header or config that is not what it claims.
    """
    path = Path(path)
    if path.is_file():
        stored, metadata = model_files.gguf_parameters(path)
        built = model_files.config_parameters(model_files.gguf_config(metadata), str(path))
        return max(stored, built or 0)
    stored = sum(model_files.safetensors_parameters(s) for s in path.glob("*.safetensors"))
    config = model_files.read_config(path)
    built = model_files.config_parameters(config, str(path / "config.json")) if config else None
    return max(stored, built or 0)


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


DTYPES = ("auto", "float32", "bfloat16", "float16")


def check_dtype(name: str) -> None:
    """One clear ValueError unless ``name`` is one of :data:`DTYPES`."""
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")


def resolve_dtype(name: str, device: str) -> torch.dtype:
    """``auto``: bfloat16 on a CUDA device that supports it, float32 otherwise; or the named
    dtype (``float32``, ``bfloat16``, ``float16``)."""
    check_dtype(name)
    if name == "auto":
        cuda = device.startswith("cuda") and torch.cuda.is_available()
        return torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, name)


def load_model(path: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """Load a causal LM and its tokenizer from a local folder or a GGUF file, with one
    clear error if it fails (a GGUF file is de-quantized: see :func:`load_gguf`; a LoRA
    adapter folder is merged into its base: see :mod:`textgym.lora`)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from textgym.lora import is_adapter, load_adapter

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
    from textgym.utils.files import check_writable, save_atomically

    check_model_path(path, "GGUF file")
    if not Path(path).is_file():
        raise ValueError(f"{str(path)!r} is a folder, not a .gguf file")
    check_writable(Path(out).parent, "output")
    model, tokenizer = load_model(path)

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return save_atomically(out, write)


def encode_chat(tokenizer: Any, conversation: Conversation) -> list[int]:
    """Token ids of ``conversation`` rendered by the chat template, assistant turn opened."""
    ids = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True)
    if hasattr(ids, "keys"):  # a BatchEncoding in recent transformers
        ids = ids["input_ids"]
    return list(ids)


def _cache_of(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


class HFPolicy:
    """Batched sampling from a local causal LM with exact token ids and log-probs.

    Args:
        model: a ``transformers`` causal LM, or a path to load one from.
        tokenizer: its tokenizer (with a chat template); loaded with the model from a path.
        temperature: 0 for greedy decoding, else the sampling temperature.
        top_p: nucleus sampling mass (1.0 = off).
        max_new_tokens: answer budget; an answer that reaches it ends with ``"length"``.
        batch_size: most conversations per forward batch.
        seed: seeds the sampling generator.
        device: where the model runs.
        min_shared_prefix: encode a common prompt prefix of at least this many tokens once
            per batch and share its KV cache (0 = off).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 32,
        batch_size: int = 64,
        seed: int = 0,
        device: str | None = None,
        min_shared_prefix: int = 32,
    ) -> None:
        if not (isinstance(temperature, (int, float)) and math.isfinite(temperature)) or (
            temperature < 0
        ):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        if isinstance(model, (str, Path)):
            model, tokenizer = load_model(model, device or "cpu")
        if tokenizer is None:
            raise ValueError("a tokenizer is needed when the model is given as an object")
        context = model_context(model)
        if context is not None and max_new_tokens >= context:
            raise ValueError(
                f"max_new_tokens ({max_new_tokens}) must be below the model's context of "
                f"{context} tokens (the prompt needs room too)"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.max_new_tokens = int(max_new_tokens)
        self.batch_size = int(batch_size)
        self.device = torch.device(device) if device else next(model.parameters()).device
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.eos_ids = self._eos_ids()
        self.min_shared_prefix = int(min_shared_prefix)
        # transformers 5.x renamed ``past_key_values`` to ``cache``; accept both.
        inner = self.model.get_base_model() if hasattr(self.model, "get_base_model") else model
        params = inspect.signature(inner.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._last_logits_only = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if isinstance(gen_eos, int):
            ids.add(gen_eos)
        elif isinstance(gen_eos, (list, tuple)):
            ids.update(gen_eos)
        return {i for i in ids if i is not None}

    def encode(self, conversation: Conversation) -> list[int]:
        """The prompt ids of a conversation, with the assistant turn opened."""
        return encode_chat(self.tokenizer, conversation)

    def complete(self, conversations: Sequence[Conversation]) -> list[Completion]:
        """Sample one answer per conversation, in batches of ``batch_size``."""
        prompts = [self.encode(c) for c in conversations]
        out: list[Completion] = []
        for start in range(0, len(prompts), self.batch_size):
            out.extend(self.generate_ids(prompts[start : start + self.batch_size]))
        return out

    @torch.no_grad()
    def generate_ids(self, prompts: list[list[int]]) -> list[Completion]:
        """Sample completions for already-tokenized prompts (one left-padded batch)."""
        if not prompts:
            return []
        if any(len(p) == 0 for p in prompts):
            raise ValueError("every prompt needs at least one token")
        device, pad = self.device, self.pad_id
        n = len(prompts)
        shared, prefix_cache = self._shared_prefix(prompts)
        suffixes = [p[shared:] for p in prompts]
        width = max(len(s) for s in suffixes)
        # built as Python lists and turned into tensors once (one small tensor a row cost
        # more than the tiny model's forward pass at 256 rows)
        input_ids = torch.tensor(
            [[pad] * (width - len(ids)) + list(ids) for ids in suffixes], device=device
        )
        attention = torch.tensor(
            [[1] * shared + [0] * (width - len(ids)) + [1] * len(ids) for ids in suffixes],
            device=device,
        )
        positions = (attention.cumsum(-1) - 1).clamp(min=0)[:, shared:]

        extra = {self._cache_arg: prefix_cache} if prefix_cache is not None else {}
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention,
            position_ids=positions,
            use_cache=True,
            **self._last_logits_only,  # the prompt's other positions need no logits
            **extra,
        )
        cache = _cache_of(out)
        logits = out.logits[:, -1, :].float()
        done = torch.zeros(n, dtype=torch.bool, device=device)
        # one tensor per step, read back once at the end: per-row Python work in the decode
        # loop cost more than the tiny model's forward pass
        tokens: list[torch.Tensor] = []
        logps: list[torch.Tensor] = []
        eos = torch.tensor(sorted(self.eos_ids), device=device)
        next_pos = positions[:, -1] + 1
        lengths = torch.zeros(n, dtype=torch.long, device=device)
        for step in range(self.max_new_tokens):
            token, logp = self._sample(logits)
            tokens.append(token)
            logps.append(logp)
            lengths += ~done  # a row's tokens end with its first end-of-sequence token
            done = done | torch.isin(token, eos)
            if step == self.max_new_tokens - 1 or bool(done.all()):
                break  # no forward pass for logits nobody samples from
            token = torch.where(done, torch.full_like(token, pad), token)
            attention = torch.cat([attention, (~done).long()[:, None]], dim=1)
            out = self.model(
                input_ids=token[:, None],
                attention_mask=attention,
                position_ids=next_pos[:, None],
                use_cache=True,
                **{self._cache_arg: cache},
            )
            cache = _cache_of(out)
            logits = out.logits[:, -1, :].float()
            next_pos = next_pos + 1

        all_ids = torch.stack(tokens, dim=1).tolist()
        all_logps = torch.stack(logps, dim=1).float().tolist()
        results = []
        for row, length in enumerate(lengths.tolist()):
            ids = all_ids[row][:length]
            stopped = bool(ids) and ids[-1] in self.eos_ids
            text_ids = ids[:-1] if stopped else ids
            results.append(
                Completion(
                    text=self.tokenizer.decode(text_ids, skip_special_tokens=True),
                    prompt_ids=list(prompts[row]),
                    completion_ids=ids,
                    logprobs=all_logps[row][:length],
                    finish_reason="stop" if stopped else "length",
                )
            )
        return results

    def _shared_prefix(self, prompts: list[list[int]]) -> tuple[int, Any]:
        """Length and KV cache of the prompts' common prefix, computed once for the batch.

        Chat prompts share a long system prompt; encoding it once and repeating its cache
        across the batch saves most of the prefill. Used for batches of 2 or more when the
        prefix has at least ``min_shared_prefix`` tokens and the model's cache is a plain
        key/value cache; otherwise ``(0, None)``.
        """
        if len(prompts) < 2 or self.min_shared_prefix <= 0:
            return 0, None
        first = prompts[0]
        shared = min(len(p) for p in prompts) - 1  # every row keeps >= 1 token to prefill
        for p in prompts[1:]:
            k = 0
            limit = min(shared, len(p))
            while k < limit and p[k] == first[k]:
                k += 1
            shared = k
            if shared < self.min_shared_prefix:
                return 0, None
        ids = torch.tensor([first[:shared]], device=self.device)
        out = self.model(input_ids=ids, use_cache=True)
        cache = _cache_of(out)
        from transformers.cache_utils import DynamicLayer

        layers = getattr(cache, "layers", None)
        if not layers or any(type(layer) is not DynamicLayer for layer in layers):
            self.min_shared_prefix = 0  # e.g. convolution state (LFM2): do not share
            return 0, None
        cache.batch_repeat_interleave(len(prompts))
        return shared, cache

    def _sample(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pick one token per row; return it and its log-prob under the sampling distribution."""
        if self.temperature == 0.0:
            logprobs = torch.log_softmax(logits, dim=-1)
            token = logits.argmax(dim=-1)
        else:
            logprobs = torch.log_softmax(logits / self.temperature, dim=-1)
            probs = logprobs.exp()
            if self.top_p < 1.0:
                sorted_p, order = probs.sort(dim=-1, descending=True)
                keep = sorted_p.cumsum(-1) - sorted_p < self.top_p
                sorted_p = sorted_p * keep
                probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
            token = torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)
        return token, logprobs.gather(-1, token[:, None]).squeeze(-1)
