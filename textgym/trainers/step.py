"""One CISPO optimizer step over many turns, with gradient accumulation.

Turns are split into micro-batches to bound memory. The loss of each micro-batch is
normalised by the token count of the **whole step**, so accumulating the micro-batch
gradients gives exactly the gradient of one big batch (contract 8).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from textgym.trainers.cispo import cispo_loss
from textgym.trainers.tokens import TurnTokens, collate, token_logprobs


def cispo_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    turns: Sequence[TurnTokens],
    pad_id: int,
    *,
    micro_batch_size: int = 32,
    clip_max: float = 5.0,
    grad_clip: float = 1.0,
    temperature: float = 1.0,
) -> dict[str, float]:
    """Accumulate the CISPO gradient over ``turns`` and take one optimizer step.

    ``temperature`` must be the one the turns were sampled at (the old log-probs are those
    of the tempered distribution). Returns the step's metrics (``loss/cispo``,
    ``loss/clip_frac``, ``loss/ratio_mean``, ``loss/entropy_proxy``, ``loss/grad_norm``,
    ``perf/tokens_per_s``).

    Raises:
        FloatingPointError: if the loss is not finite (the step is not applied).
    """
    if micro_batch_size < 1:
        raise ValueError(f"micro_batch_size must be >= 1, got {micro_batch_size}")
    if not turns:
        raise ValueError("no turns to train on")
    device = next(model.parameters()).device
    total_tokens = sum(sum(t.loss_mask) for t in turns)
    start = time.perf_counter()
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    weighted: dict[str, float] = {
        "loss/clip_frac": 0.0,
        "loss/ratio_mean": 0.0,
        "loss/entropy_proxy": 0.0,
    }
    for lo in range(0, len(turns), micro_batch_size):
        batch = collate(turns[lo : lo + micro_batch_size], pad_id, device)
        logp = token_logprobs(model, batch, temperature)  # (B, T-1)
        loss, metrics = cispo_loss(
            logp,
            batch.old_logprobs,
            batch.advantages,
            batch.loss_mask,
            clip_max=clip_max,
            num_tokens=total_tokens,
        )
        if not torch.isfinite(loss):
            optimizer.zero_grad(set_to_none=True)
            raise FloatingPointError(f"CISPO loss became {loss.item()}; step not applied")
        loss.backward()
        loss_sum += float(loss.detach())
        share = batch.num_tokens / max(total_tokens, 1)
        for k in weighted:
            weighted[k] += metrics[k] * share
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    model.eval()
    elapsed = time.perf_counter() - start
    return {
        "loss/cispo": loss_sum,
        **weighted,
        "loss/grad_norm": float(grad_norm),
        "perf/tokens_per_s": total_tokens / elapsed if elapsed > 0 else 0.0,
    }
