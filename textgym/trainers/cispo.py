r"""The CISPO policy-gradient loss, as a pure function of tensors.

CISPO (Clipped IS-weight Policy Optimization, MiniMax-M1, arXiv:2506.13585) keeps a
gradient for *every* sampled token: instead of clipping the update of tokens whose
importance ratio left the trust region (PPO/GRPO, which zero their gradient), it clips
and detaches the importance weight itself:

.. math::

    \mathcal{L} = -\frac{1}{N} \sum_{b,t} \operatorname{sg}\big(\min(r_{b,t}, c)\big)\,
        A_b \, \log \pi_\theta(y_{b,t} \mid \cdot) \, m_{b,t},
    \qquad r_{b,t} = \exp\big(\log\pi_\theta - \log\pi_{\text{old}}\big)

with ``c = clip_max``, ``sg`` stop-gradient, ``A_b`` the advantage of the sequence the token
belongs to, ``m`` the loss mask (1 on sampled completion tokens), and ``N`` the number of
masked tokens of the whole optimizer step.

Departures from the paper, all deliberate:

* **Absolute upper cap.** The paper clips ``r`` to ``[1 - eps_low, 1 + eps_high]``; here the
  weight is capped from above at ``clip_max`` (default 5.0) and there is **no lower clip**
  (the paper sets ``eps_low`` large enough to make it inactive, too).
* **No token mask for out-of-range ratios**: the paper's optional mask ``M`` that drops
  tokens outside the trust region is not used; every sampled token keeps its gradient.
* **No KL penalty** and no entropy bonus.
* **Normalisation over the optimizer step.** ``N`` is the masked token count of the whole
  step (pass ``num_tokens`` when accumulating gradients over micro-batches), so splitting
  a batch changes nothing.
* **Sequence-level advantages**, group-relative (reward minus the mean of the rollouts of
  the same seed), computed by the caller and broadcast over the sequence's tokens.
"""

from __future__ import annotations

import math

import torch


def cispo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_max: float = 5.0,
    num_tokens: int | float | torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """CISPO loss and metrics for one (micro-)batch.

    Args:
        logprobs: ``(B, T)`` log-probs of the sampled tokens under the current policy
            (carries the gradient).
        old_logprobs: ``(B, T)`` log-probs of the same tokens when they were sampled.
        advantages: ``(B,)`` advantage of each sequence.
        mask: ``(B, T)`` 1 for tokens in the loss (sampled completion tokens), 0 elsewhere.
        clip_max: absolute upper cap of the detached importance weight (> 0).
        num_tokens: token count ``N`` to normalise by (that of the whole optimizer step when
            accumulating); defaults to ``mask.sum()``.

    Returns:
        ``(loss, metrics)`` with metrics ``loss/clip_frac`` (share of masked tokens whose
        ratio exceeds the cap), ``loss/ratio_mean`` (mean ratio over masked tokens) and
        ``loss/entropy_proxy`` (mean negative log-prob of the masked tokens).
    """
    if logprobs.dim() != 2:
        raise ValueError(f"logprobs must be (B, T), got shape {tuple(logprobs.shape)}")
    if old_logprobs.shape != logprobs.shape or mask.shape != logprobs.shape:
        raise ValueError(
            f"logprobs {tuple(logprobs.shape)}, old_logprobs {tuple(old_logprobs.shape)} and "
            f"mask {tuple(mask.shape)} must have the same (B, T) shape"
        )
    if advantages.shape != logprobs.shape[:1]:
        raise ValueError(
            f"advantages must be (B,) = ({logprobs.shape[0]},), got {tuple(advantages.shape)}"
        )
    if not (isinstance(clip_max, (int, float)) and math.isfinite(clip_max) and clip_max > 0):
        raise ValueError(f"clip_max must be a finite number > 0, got {clip_max!r}")

    mask = mask.to(logprobs.dtype)  # (B, T)
    masked = mask.sum()
    n = masked if num_tokens is None else torch.as_tensor(num_tokens, dtype=logprobs.dtype)
    if float(n) <= 0:
        # Nothing to learn from: a zero loss that still belongs to the graph.
        return (logprobs * 0.0).sum(), {
            "loss/clip_frac": 0.0,
            "loss/ratio_mean": 0.0,
            "loss/entropy_proxy": 0.0,
        }

    log_ratio = (logprobs - old_logprobs.to(logprobs.dtype)) * mask  # (B, T)
    ratio = torch.exp(log_ratio.detach())  # (B, T)
    weight = torch.clamp(ratio, max=clip_max)  # (B, T), detached
    per_token = weight * advantages.to(logprobs.dtype)[:, None] * logprobs * mask  # (B, T)
    loss = -per_token.sum() / n

    with torch.no_grad():
        denom = masked.clamp(min=1.0)
        metrics = {
            "loss/clip_frac": float(((ratio > clip_max).to(mask.dtype) * mask).sum() / denom),
            "loss/ratio_mean": float((ratio * mask).sum() / denom),
            "loss/entropy_proxy": float((-logprobs.detach() * mask).sum() / denom),
        }
    return loss, metrics
