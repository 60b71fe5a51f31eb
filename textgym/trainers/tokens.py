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


def token_logprobs(model: torch.nn.Module, batch: TokenBatch, temperature: float = 1.0):
    """``(B, T-1)`` log-probs of tokens ``1..T-1`` under ``model`` (scaled by temperature)."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    logits = logits[:, :-1, :].float()
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    # x_t - logsumexp(x) keeps no (B, T, vocab) log-softmax for the backward pass: with a
    # real vocabulary (49k for SmolLM2) that is the largest tensor of the step.
    picked = logits.gather(-1, batch.input_ids[:, 1:, None]).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)
