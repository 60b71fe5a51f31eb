"""A tiny real causal LM built locally: character-level tokenizer + small Llama/Qwen3/LFM2.

Nothing is downloaded. :func:`build_tiny_model` creates the tokenizer with the ``tokenizers``
library (one token per printable ASCII character, ChatML special tokens registered, the
answer-format tags as single tokens, a decoder that inserts no spaces) and a randomly
initialised model from a config, and saves both with ``save_pretrained`` so that
``AutoTokenizer``/``AutoModelForCausalLM.from_pretrained(path)`` and ``transformers serve``
load them like any hub model.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD = "<|endoftext|>"
UNK = "<unk>"
SPECIAL_TOKENS = (PAD, IM_START, IM_END, UNK)

#: The answer-format tags textgym's wrappers and envs use, each one token (as real
#: tokenizers have ``<think>`` and ``<tool_call>``): ``<move>5</move>`` is 3 tokens, not 14.
#: They are ordinary text (decoded, never skipped), matched before the characters.
TAG_TOKENS = tuple(
    f"<{close}{tag}>" for tag in ("think", "move", "answer", "tool_call") for close in ("", "/")
)

#: ChatML: ``<|im_start|>role\ncontent<|im_end|>\n`` per message.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

Architecture = Literal["llama", "qwen3", "lfm2"]


def build_char_tokenizer(tag_tokens: Sequence[str] = TAG_TOKENS):  # -> PreTrainedTokenizerFast
    """A character-level fast tokenizer over printable ASCII with ChatML special tokens and
    each of ``tag_tokens`` as one token (``()``: characters only)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in string.printable:
        vocab.setdefault(ch, len(vocab))
    # BPE without merges splits every word into characters; no pre-tokenizer, so spaces and
    # newlines are ordinary characters, and the Fuse decoder joins tokens without spaces.
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK, fuse_unk=False))
    core.decoder = decoders.Fuse()
    core.add_special_tokens(list(SPECIAL_TOKENS))
    for tag in tag_tokens:
        if not isinstance(tag, str) or len(tag) < 2 or not set(tag) <= set(string.printable):
            raise ValueError(f"a tag token must be printable text of 2+ characters, got {tag!r}")
    core.add_tokens([AddedToken(t, normalized=False, special=False) for t in tag_tokens])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token=UNK,
        pad_token=PAD,
        eos_token=IM_END,
        bos_token=None,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(
    path: str | Path,
    architecture: Architecture = "llama",
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    max_positions: int = 4096,
    seed: int = 0,
    tag_tokens: Sequence[str] = TAG_TOKENS,
) -> Path:
    """Create, initialise (seeded) and save a tiny causal LM and its tokenizer at ``path``.

    Returns the path. ``tag_tokens`` are the tokenizer's single-token tags
    (:data:`TAG_TOKENS`; ``()`` for characters only). ``architecture`` picks the
    ``AutoConfig`` model type. (Qwen2 is left out on purpose: transformers 5 replaces any
    tokenizer saved next to a ``qwen2`` config with its byte-level Qwen2 tokenizer, which
    would drop this tokenizer's whitespace.)
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if architecture not in ("llama", "qwen3", "lfm2"):
        raise ValueError(f"architecture must be 'llama', 'qwen3' or 'lfm2', got {architecture!r}")
    for name, value in (
        ("hidden_size", hidden_size),
        ("num_layers", num_layers),
        ("num_heads", num_heads),
        ("num_kv_heads", num_kv_heads),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if hidden_size % num_heads or num_heads % num_kv_heads:
        raise ValueError(
            f"hidden_size ({hidden_size}) must divide by num_heads ({num_heads}), which must "
            f"divide by num_kv_heads ({num_kv_heads})"
        )
    tokenizer = build_char_tokenizer(tag_tokens)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    if architecture == "lfm2":
        common["layer_types"] = [
            "conv" if i % 2 == 0 else "full_attention" for i in range(num_layers)
        ]
    config = AutoConfig.for_model(architecture, **common)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    model.generation_config.save_pretrained(out)
    return out
