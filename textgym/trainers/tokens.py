"""Episodes -> training tensors, from the exact token ids the policy sampled.

Every model turn becomes one sequence ``prompt_ids + completion_ids`` (the ids returned by
the policy, never re-tokenized text). Only the sampled completion tokens enter the loss;
the prompt (system prompt, environment text, earlier turns) and padding are masked out.
Each turn carries the advantage of its episode.

Causal-LM alignment: the logits at position ``t`` score token ``t + 1``, so every per-token
tensor of a :class:`TokenBatch` has length ``T - 1`` and refers to tokens ``1..T-1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

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


def episode_tokens(episode: Episode, advantage: float) -> list[TurnTokens]:
    """The training tokens of every model turn of ``episode``.

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
    return out


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


def token_logprobs(model: torch.nn.Module, batch: TokenBatch, temperature: float = 1.0):
    """``(B, T-1)`` log-probs of tokens ``1..T-1`` under ``model`` (scaled by temperature)."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    logits = logits[:, :-1, :].float()
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    logp = torch.log_softmax(logits, dim=-1)
    return logp.gather(-1, batch.input_ids[:, 1:, None]).squeeze(-1)
