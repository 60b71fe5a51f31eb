"""Episodes -> training tensors, from the exact token ids the policy sampled.

Every model turn becomes one sequence ``prompt_ids + completion_ids`` (the ids returned by
the policy, never re-tokenized text). Only the sampled completion tokens enter the loss;
the prompt (system prompt, environment text, earlier turns) and padding are masked out.
Each turn carries the advantage of its episode.

With ``merge=True``, an episode whose every prompt starts with the exact ids of the
previous prompt plus the previous completion (full history under a chat template that
keeps earlier turns as they were sampled) becomes **one** sequence: the last prompt and
completion, with every sampled completion in the loss and the environment text between
them masked. The loss is the same (it is a sum over the same completion tokens, each
scored with the same context); the compute is one forward pass instead of one per turn.
An episode where the template re-renders history, or a ``history="last"`` episode, falls
back to one sequence per turn; :func:`prefix_report` says which happened.

Causal-LM alignment: the logits at position ``t`` score token ``t + 1``, so every per-token
tensor of a :class:`TokenBatch` has length ``T - 1`` and refers to tokens ``1..T-1``.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

from textgym.models.loading import compute_precision
from textgym.rollout import Episode


@dataclass
class TurnTokens:
    """One model turn as training tokens."""

    input_ids: list[int]
    """``prompt_ids + completion_ids``."""
    loss_mask: list[int]
    """1 on completion tokens, 0 on prompt tokens (same length as ``input_ids``)."""
    old_logprobs: list[float]
    """Sampling log-prob of each completion token, 0.0 on prompt tokens."""
    advantage: float


def episode_tokens(episode: Episode, advantage: float, merge: bool = False) -> list[TurnTokens]:
    """The training tokens of every model turn of ``episode``.

    ``merge``: one sequence for the whole episode where its prompts keep the exact prefix
    (see the module docstring), else one per turn.

    Raises:
        ValueError: if a turn lacks token ids or log-probs (e.g. a scripted player or a
            server that returns neither).
    """
    out = []
    for k, turn in enumerate(episode.turns):
        c = turn.completion
        if not c.prompt_ids or not c.completion_ids or c.logprobs is None:
            raise ValueError(
                f"episode {episode.index} turn {k} has no token ids or log-probs; train on "
                "episodes from a policy that returns them (HFPolicy)"
            )
        if len(c.logprobs) != len(c.completion_ids):
            raise ValueError(
                f"episode {episode.index} turn {k}: {len(c.logprobs)} log-probs for "
                f"{len(c.completion_ids)} completion tokens"
            )
        out.append(
            TurnTokens(
                input_ids=list(c.prompt_ids) + list(c.completion_ids),
                loss_mask=[0] * len(c.prompt_ids) + [1] * len(c.completion_ids),
                old_logprobs=[0.0] * len(c.prompt_ids) + [float(x) for x in c.logprobs],
                advantage=float(advantage),
            )
        )
    if merge and len(out) > 1 and all(prefix_kept(episode)):
        return [_merge(out)]
    return out


def prefix_kept(episode: Episode) -> list[bool]:
    """For each turn after the first: does its prompt start with the exact ids of the
    previous prompt plus the previous completion?"""
    kept = []
    for before, after in zip(episode.turns, episode.turns[1:], strict=False):
        head = list(before.completion.prompt_ids or []) + list(
            before.completion.completion_ids or []
        )
        kept.append(bool(head) and list(after.completion.prompt_ids or [])[: len(head)] == head)
    return kept


def prefix_report(episodes: Sequence[Episode]) -> dict[str, float]:
    """How often the chat template kept the conversation as an exact prefix.

    ``prefix/turns_kept``: share of later turns whose prompt extends the previous prompt
    and completion; ``prefix/episodes_merged``: share of multi-turn episodes that
    ``merge=True`` trains as one sequence (nan when there are none).
    """
    later = [k for e in episodes for k in prefix_kept(e)]
    multi = [all(prefix_kept(e)) for e in episodes if len(e.turns) > 1]
    return {
        "prefix/turns_kept": sum(later) / len(later) if later else float("nan"),
        "prefix/episodes_merged": sum(multi) / len(multi) if multi else float("nan"),
    }


def _merge(turns: list[TurnTokens]) -> TurnTokens:
    """The last turn's sequence with every earlier turn's completion put back in the loss
    (each earlier sequence is a prefix of the last one)."""
    last = turns[-1]
    mask = list(last.loss_mask)
    old = list(last.old_logprobs)
    for t in turns[:-1]:
        for i, (m, lp) in enumerate(zip(t.loss_mask, t.old_logprobs, strict=True)):
            if m:
                mask[i] = 1
                old[i] = lp
    return TurnTokens(last.input_ids, mask, old, last.advantage)


@dataclass
class TokenBatch:
    """Right-padded tensors for one (micro-)batch of turns."""

    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T)
    loss_mask: torch.Tensor  # (B, T-1), for tokens 1..T-1
    old_logprobs: torch.Tensor  # (B, T-1)
    advantages: torch.Tensor  # (B,)

    @property
    def num_tokens(self) -> int:
        """Tokens in the loss."""
        return int(self.loss_mask.sum())


def collate(turns: Sequence[TurnTokens], pad_id: int, device: str | torch.device = "cpu"):
    """Right-pad turns into a :class:`TokenBatch` (padding is never in the loss)."""
    if not turns:
        raise ValueError("cannot collate an empty list of turns")
    width = max(len(t.input_ids) for t in turns)
    b = len(turns)
    ids = torch.full((b, width), pad_id, dtype=torch.long)
    attn = torch.zeros((b, width), dtype=torch.long)
    mask = torch.zeros((b, width), dtype=torch.float32)
    old = torch.zeros((b, width), dtype=torch.float32)
    for row, t in enumerate(turns):
        n = len(t.input_ids)
        ids[row, :n] = torch.tensor(t.input_ids)
        attn[row, :n] = 1
        mask[row, :n] = torch.tensor(t.loss_mask, dtype=torch.float32)
        old[row, :n] = torch.tensor(t.old_logprobs, dtype=torch.float32)
    return TokenBatch(
        input_ids=ids.to(device),
        attention_mask=attn.to(device),
        loss_mask=mask[:, 1:].to(device),
        old_logprobs=old[:, 1:].to(device),
        advantages=torch.tensor([t.advantage for t in turns], dtype=torch.float32).to(device),
    )


def micro_batches(turns: Sequence[TurnTokens], max_tokens: int) -> list[list[TurnTokens]]:
    """Split turns into micro-batches of at most ``max_tokens`` padded tokens each.

    Turns are sorted by length, so the rows of a micro-batch have similar lengths and
    little compute goes to padding; a micro-batch takes turns while its rows times its
    longest row stays within ``max_tokens``. A turn longer than ``max_tokens`` goes alone.
    This bounds a forward/backward pass's activation memory by the token budget, whatever
    the number of turns.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    out: list[list[TurnTokens]] = []
    current: list[TurnTokens] = []
    for turn in sorted(turns, key=lambda t: len(t.input_ids)):
        if current and (len(current) + 1) * len(turn.input_ids) > max_tokens:
            out.append(current)
            current = []
        current.append(turn)
    if current:
        out.append(current)
    return out


def padding_share(batches: Sequence[Sequence[TurnTokens]]) -> float:
    """Share of the padded tokens of ``batches`` that are padding (0 when there are none)."""
    padded = sum(len(b) * max(len(t.input_ids) for t in b) for b in batches if b)
    real = sum(len(t.input_ids) for b in batches for t in b)
    return 1.0 - real / padded if padded else 0.0


#: Loss positions scored per pass of the output layer. The vocabulary-sized logits of at
#: most this many positions exist at once (SmolLM2: 1024 x 49,152 floats, 200 MB), and
#: they are recomputed in the backward pass instead of being kept for it.
HEAD_CHUNK = 1024

# Whether a model's output layer may be applied to its last hidden states alone (checked
# once per model against its own logits; see _output_layer).
_SPLIT_OK: weakref.WeakKeyDictionary[torch.nn.Module, bool] = weakref.WeakKeyDictionary()


def token_logprobs(
    model: torch.nn.Module, batch: TokenBatch, temperature: float = 1.0
) -> torch.Tensor:
    """``(B, T-1)`` log-probs of tokens ``1..T-1`` under ``model`` (scaled by temperature)
    where ``batch.loss_mask`` is set, and 0 elsewhere.

    Only the positions in the loss go through the output layer, :data:`HEAD_CHUNK` at a
    time and recomputed for the backward pass: a prompt of 200 tokens before an answer of
    7 costs no vocabulary-sized logits, and no ``(B, T, vocab)`` tensor is ever held. A
    model whose logits are not its output layer applied to its last hidden state (a check
    on its first use) is scored the plain way, from its full logits.
    """
    with compute_precision(model):
        return _token_logprobs(model, batch, temperature)


def _token_logprobs(model: torch.nn.Module, batch: TokenBatch, temperature: float) -> torch.Tensor:
    head = _output_layer(model, batch)
    if head is None:
        return _full_logprobs(model, batch, temperature) * (batch.loss_mask > 0)
    hidden = _last_hidden(model, batch)[:, :-1]  # (B, T-1, H)
    where = batch.loss_mask > 0  # (B, T-1)
    selected = hidden[where]  # (N, H)
    targets = batch.input_ids[:, 1:][where]  # (N,)
    pieces = []
    for lo in range(0, selected.shape[0], HEAD_CHUNK):
        args = (head, selected[lo : lo + HEAD_CHUNK], targets[lo : lo + HEAD_CHUNK], temperature)
        if torch.is_grad_enabled():
            pieces.append(checkpoint(_scored, *args, use_reentrant=False))
        else:
            pieces.append(_scored(*args))
    values = torch.cat(pieces) if pieces else _at_least_float32(selected.new_zeros(0))
    out = torch.zeros(where.shape, dtype=values.dtype, device=where.device)
    return out.masked_scatter(where, values)


def _scored(
    head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Log-prob of each target under the output layer applied to its hidden state."""
    logits = _at_least_float32(head(hidden))  # (n, vocab)
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    # x_t - logsumexp(x) keeps no (n, vocab) log-softmax for the backward pass
    return logits.gather(-1, targets[:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def _full_logprobs(model: torch.nn.Module, batch: TokenBatch, temperature: float) -> torch.Tensor:
    """Log-probs at every position, from the model's full ``(B, T, vocab)`` logits."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    logits = _at_least_float32(logits[:, :-1, :])
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    picked = logits.gather(-1, batch.input_ids[:, 1:, None]).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32, or as it is when it is wider (float64)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _inner(model: torch.nn.Module) -> Any:
    """The model inside a DistributedDataParallel wrapper (else the model)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def _last_hidden(model: torch.nn.Module, batch: TokenBatch) -> torch.Tensor:
    """The last hidden states ``(B, T, H)``, from the model's own forward (so wrappers
    such as DDP and PEFT see the call); the output layer runs on one position only."""
    inner = _inner(model)
    base = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    extra = (
        {"logits_to_keep": 1}
        if "logits_to_keep" in inspect.signature(base.forward).parameters
        else {}
    )
    out = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        output_hidden_states=True,
        **extra,
    )
    return out.hidden_states[-1]


def _output_layer(model: torch.nn.Module, batch: TokenBatch) -> torch.nn.Module | None:
    """The model's output layer when its logits are that layer applied to the last hidden
    state, else None. Checked on the first use of each model, on a few tokens of
    ``batch`` (a model that scales or caps its logits fails the check)."""
    inner = _inner(model)
    get = getattr(inner, "get_output_embeddings", None)
    head = get() if callable(get) else None
    if not isinstance(head, torch.nn.Module):
        return None
    ok = _SPLIT_OK.get(inner)
    if ok is None:
        ok = _same_logits(model, head, batch)
        _SPLIT_OK[inner] = ok
    return head if ok else None


def _same_logits(model: torch.nn.Module, head: torch.nn.Module, batch: TokenBatch) -> bool:
    """Whether ``head`` on the last hidden states gives the model's logits (eval mode, no
    gradient, the first row's first 16 tokens)."""
    width = int(batch.attention_mask[0].sum().clamp(max=16))
    probe = TokenBatch(
        input_ids=batch.input_ids[:1, :width],
        attention_mask=batch.attention_mask[:1, :width],
        loss_mask=batch.loss_mask[:1, : width - 1],
        old_logprobs=batch.old_logprobs[:1, : width - 1],
        advantages=batch.advantages[:1],
    )
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            full = model(input_ids=probe.input_ids, attention_mask=probe.attention_mask).logits
            try:
                split = head(_last_hidden(model, probe))
            except (AttributeError, TypeError, IndexError):
                return False
    finally:
        model.train(training)
    if split.shape != full.shape:
        return False
    scale = float(full.float().abs().max().clamp(min=1.0))
    return bool(torch.allclose(split.float(), full.float(), rtol=1e-3, atol=1e-4 * scale))
