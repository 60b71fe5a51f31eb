"""``HFPolicy``: a local Hugging Face causal LM answering many conversations in one batch.

Generation is a plain sampling loop over the model's KV cache on a left-padded batch, so
the policy knows exactly what it sampled: the prompt ids, the completion ids and the
log-probability of each sampled token under the sampling distribution. Those are what the
trainer trains on (never re-tokenized text).

Log-probs are those of ``softmax(logits / temperature)`` over the whole vocabulary; with
``top_p < 1`` the sample is drawn from the nucleus but the reported log-prob is still that
of the full tempered distribution (as vLLM reports them). With ``temperature == 0`` the
choice is greedy and the reported log-probs are those of ``softmax(logits)``.

Prefill is spent only on what is new: the prompts' common prefix is computed once per batch
and, with ``reuse_cache``, each prompt starts from the KV cache of its longest common prefix
with a row of the previous call (the previous turn of the same conversation, or the system
prompt of an earlier episode; see :mod:`textgym.policies.prefix_cache`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from textgym.core import Completion, Conversation
from textgym.models.loading import compute_precision, load_model, model_context
from textgym.policies.prefix_cache import Prefix, TurnCache, plain_kv_layers, weights_stamp


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
        device: where the model runs (a model loaded from a path: cpu by default).
        dtype: a model loaded from a path: its dtype, a name of
            :data:`~textgym.models.files.DTYPES` (``bfloat16-mixed``: float32 weights that
            compute in bfloat16).
        min_shared_prefix: encode a common prompt prefix of at least this many tokens once
            per batch and share its KV cache (0 = off).
        reuse_cache: keep each call's KV cache for the next call, so a conversation's next
            turn prefills only its new messages (the cache is dropped when the weights
            change, and by :meth:`clear_cache`).
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
        reuse_cache: bool = True,
        dtype: str = "float32",
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
            model, tokenizer = load_model(model, device or "cpu", dtype)
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
        self.reuse_cache = bool(reuse_cache)
        self.turn_cache = TurnCache()
        #: prompt tokens prefilled and taken from a cache, since construction
        self.prefill_tokens = 0
        self.reused_tokens = 0

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
        self.turn_cache.start_call()
        for start in range(0, len(prompts), self.batch_size):
            out.extend(self._generate_batch(prompts[start : start + self.batch_size]))
        return out

    def generate_ids(self, prompts: list[list[int]]) -> list[Completion]:
        """Sample completions for already-tokenized prompts (one left-padded batch)."""
        self.turn_cache.start_call()
        return self._generate_batch(prompts)

    def clear_cache(self) -> None:
        """Drop the KV caches kept for the next call (a rollout does when it ends)."""
        self.turn_cache.clear()

    def _generate_batch(self, prompts: list[list[int]]) -> list[Completion]:
        with torch.no_grad(), compute_precision(self.model):
            return self._generate_ids(prompts)

    def _generate_ids(self, prompts: list[list[int]]) -> list[Completion]:
        if not prompts:
            return []
        if any(len(p) == 0 for p in prompts):
            raise ValueError("every prompt needs at least one token")
        device, pad = self.device, self.pad_id
        n = len(prompts)
        stamp = weights_stamp(self.model) if self.reuse_cache else ()
        prefix = self._prefix(prompts, stamp)
        reused = prefix.lengths if prefix is not None else [0] * n
        cached = prefix.width if prefix is not None else 0
        suffixes = [p[c:] for p, c in zip(prompts, reused, strict=True)]
        width = max(len(s) for s in suffixes)
        self.reused_tokens += sum(reused)
        self.prefill_tokens += sum(len(s) for s in suffixes)
        # built as Python lists and turned into tensors once (one small tensor a row cost
        # more than the tiny model's forward pass at 256 rows)
        input_ids = torch.tensor(
            [[pad] * (width - len(ids)) + list(ids) for ids in suffixes], device=device
        )
        attention = torch.tensor(
            [
                [0] * (cached - c) + [1] * c + [0] * (width - len(ids)) + [1] * len(ids)
                for c, ids in zip(reused, suffixes, strict=True)
            ],
            device=device,
        )
        positions = (attention.cumsum(-1) - 1).clamp(min=0)[:, cached:]

        extra = {self._cache_arg: prefix.cache} if prefix is not None else {}
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
        if self.reuse_cache:  # the cache holds each prompt and its answer but the last token
            rows = zip(prompts, all_ids, lengths.tolist(), strict=True)
            kept = [p + ids[: k - 1] for p, ids, k in rows]
            self.turn_cache.keep(stamp, cache, attention, kept)
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

    def _prefix(self, prompts: list[list[int]], stamp: tuple) -> Prefix | None:
        """The cached prefix each prompt starts from: kept rows of the previous call when
        they cover more tokens than the batch's common prefix, else that common prefix."""
        shared = self._shared_length(prompts)
        if self.reuse_cache:
            kept = self.turn_cache.lookup(stamp, prompts)
            if kept is not None and sum(kept.lengths) > shared * len(prompts):
                return kept
        return self._shared_prefix(prompts, shared) if shared else None

    def _shared_length(self, prompts: list[list[int]]) -> int:
        """Length of the prompts' common prefix if it is worth sharing (batches of 2 or
        more, at least ``min_shared_prefix`` tokens), else 0."""
        if len(prompts) < 2 or self.min_shared_prefix <= 0:
            return 0
        first = prompts[0]
        shared = min(len(p) for p in prompts) - 1  # every row keeps >= 1 token to prefill
        for p in prompts[1:]:
            k = 0
            limit = min(shared, len(p))
            while k < limit and p[k] == first[k]:
                k += 1
            shared = k
            if shared < self.min_shared_prefix:
                return 0
        return shared

    def _shared_prefix(self, prompts: list[list[int]], shared: int) -> Prefix | None:
        """The KV cache of the prompts' first ``shared`` tokens (their common prefix),
        computed once and repeated for every row; ``None`` for a model whose cache is not a
        plain key/value cache (e.g. convolution state, LFM2), which then shares nothing."""
        ids = torch.tensor([prompts[0][:shared]], device=self.device)
        out = self.model(input_ids=ids, use_cache=True)
        cache = _cache_of(out)
        if plain_kv_layers(cache) is None:
            self.min_shared_prefix = 0  # do not share, and do not keep caches either
            self.reuse_cache = False
            return None
        cache.batch_repeat_interleave(len(prompts))
        return Prefix([shared] * len(prompts), shared, cache)

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
