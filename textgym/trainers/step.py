"""One CISPO optimizer step over many turns, with gradient accumulation.

Turns are split into micro-batches of at most ``micro_batch_tokens`` padded tokens
(:func:`~textgym.trainers.tokens.micro_batches`), so a step's peak memory is bounded by
that budget whatever the number of games. The loss of each micro-batch is normalised by
the token count of the **whole step**, so accumulating the micro-batch gradients gives
exactly the gradient of one big batch (contract 8).

Under ``torch.distributed`` (``torchrun``), pass the model wrapped in
``DistributedDataParallel``: each rank brings its own share of the turns, the token count
is summed over ranks first, micro-batches accumulate locally (``no_sync``) and only the
last backward of each rank all-reduces, so every rank applies the gradient of the whole
step and the parameters stay identical everywhere.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import torch
import torch.distributed as dist

from textgym.trainers.cispo import cispo_loss
from textgym.trainers.tokens import (
    TurnTokens,
    collate,
    micro_batches,
    padding_share,
    token_logprobs,
)


def cispo_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    turns: Sequence[TurnTokens],
    pad_id: int,
    *,
    micro_batch_tokens: int = 4096,
    clip_max: float = 5.0,
    grad_clip: float = 1.0,
    temperature: float = 1.0,
) -> dict[str, float]:
    """Accumulate the CISPO gradient over ``turns`` and take one optimizer step.

    ``temperature`` must be the one the turns were sampled at (the old log-probs are those
    of the tempered distribution). Returns the step's metrics (``loss/cispo``,
    ``loss/clip_frac``, ``loss/ratio_mean``, ``loss/entropy_proxy``, ``loss/grad_norm``,
    ``perf/tokens_per_s``, ``perf/padding``: the share of the forward passes' tokens that
    were padding, ``perf/micro_batches``).

    Raises:
        FloatingPointError: if the loss is not finite (the step is not applied).
    """
    if micro_batch_tokens < 1:
        raise ValueError(f"micro_batch_tokens must be >= 1, got {micro_batch_tokens}")
    if not turns:
        raise ValueError("no turns to train on")
    device = next(model.parameters()).device
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    ddp = isinstance(model, torch.nn.parallel.DistributedDataParallel)
    if world > 1 and not ddp:
        raise ValueError(
            "under torch.distributed, pass the model wrapped in DistributedDataParallel"
        )
    total_tokens = _step_tokens(turns, world, device)
    # DDP averages gradients over ranks; the step's gradient is their sum.
    scale = float(world) if ddp else 1.0
    start = time.perf_counter()
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    bad = False
    weighted: dict[str, float] = {
        "loss/clip_frac": 0.0,
        "loss/ratio_mean": 0.0,
        "loss/entropy_proxy": 0.0,
    }
    # Similar lengths share a micro-batch, so little compute goes to padding; the order of
    # the turns does not change the step's gradient (a sum over all of them).
    batches = micro_batches(turns, micro_batch_tokens)
    for k, part in enumerate(batches):
        batch = collate(part, pad_id, device)
        last = k == len(batches) - 1
        sync = model.no_sync() if ddp and not last else contextlib.nullcontext()
        with sync:
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
                bad = True
                if world == 1:  # under DDP every rank must still reach the all-reduce
                    break
            (loss * scale).backward()
        loss_sum += float(loss.detach())
        share = batch.num_tokens / max(total_tokens, 1)
        for k in weighted:
            weighted[k] += metrics[k] * share
    if world > 1:
        bad, loss_sum, weighted = _sum_over_ranks(bad, loss_sum, weighted, device)
    if bad:
        optimizer.zero_grad(set_to_none=True)
        raise FloatingPointError("CISPO loss became non-finite; step not applied")
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    model.eval()
    elapsed = time.perf_counter() - start
    return {
        "loss/cispo": loss_sum,
        **weighted,
        "loss/grad_norm": float(grad_norm),
        "perf/tokens_per_s": total_tokens / elapsed if elapsed > 0 else 0.0,
        "perf/padding": padding_share(batches),
        "perf/micro_batches": float(len(batches)),
    }


def _step_tokens(turns: Sequence[TurnTokens], world: int, device: torch.device) -> int:
    """Loss tokens of the whole step, over every rank (the loss's normaliser)."""
    local = sum(sum(t.loss_mask) for t in turns)
    if world == 1:
        return local
    count = torch.tensor([float(local)], device=device)
    dist.all_reduce(count)
    return int(count.item())


def _sum_over_ranks(
    bad: bool, loss_sum: float, weighted: dict[str, float], device: torch.device
) -> tuple[bool, float, dict[str, float]]:
    """Whether any rank saw a non-finite loss, and the loss and metrics summed over ranks."""
    summed = torch.tensor([float(bad), loss_sum, *weighted.values()], device=device)
    dist.all_reduce(summed)
    return (
        bool(summed[0] > 0),
        float(summed[1]),
        dict(zip(weighted, summed[2:].tolist(), strict=True)),
    )
