"""SFT warm-up: imitate a teacher's good episodes, on the assistant tokens only.

The teacher is any policy (an env's imperfect reference player ``reference:Q``, an API
model through ``OpenAIPolicy``, ...). It plays episodes of any env with options drawn
uniformly over the env's curriculum; episodes whose total reward is below a threshold are
dropped (the teacher's failures are not worth copying). Its answers are text, so they
are tokenized here, once: the prompt is the chat template of exactly the conversation the
teacher saw, the target is the answer followed by EOS.

**Resume.** With ``state_dir``, :func:`sft_train` saves the model, the optimizer and the
shuffling generator after every epoch (atomically); started again on the same turns and
settings it continues after the last saved epoch and ends exactly where an uninterrupted
run ends. A run killed mid-epoch loses that epoch's steps, no more.
"""

from __future__ import annotations

import hashlib
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textgym.core import Policy
from textgym.models.files import check_model_path
from textgym.models.loading import load_model
from textgym.models.lora import add_lora, trainable_parameters
from textgym.models.saving import check_writable, load_state, recover, save_model
from textgym.policies.by_name import check_policy_name, make_policy
from textgym.policies.hf import encode_chat
from textgym.rollout import Episode, rollout
from textgym.trainers.config import SFT_TRAINING_FIELDS, SFTConfig
from textgym.trainers.groups import resolve_curriculum
from textgym.trainers.tokens import TurnTokens, collate, micro_batches, token_logprobs
from textgym.utils.files import save_atomically
from textgym.utils.progress import progress_bar
from textgym.view import View, as_view


def teacher_games(
    teacher: Policy,
    view: View | str,
    seeds: Sequence[int],
    *,
    options: Sequence[dict[str, Any] | None] | None = None,
    num_envs: int = 64,
    min_reward: float = 0.5,
) -> tuple[list[Episode], list[Episode]]:
    """Play the teacher; return (kept episodes: total reward >= ``min_reward``, all).

    ``view`` sets the env and what the conversations hold (see
    :func:`textgym.rollout.rollout`); train the student on the same view it will play with.
    The default threshold keeps tic-tac-toe's wins and draws (a draw in format scores 0.7,
    a loss at most 0.2) and the episodes of the 0/1 tasks that were solved.
    """
    games = rollout(teacher, view, seeds, num_envs=num_envs, options=options)
    kept = [g for g in games if g.total_reward >= min_reward]
    return kept, games


def curriculum_draws(
    curriculum: dict[str, tuple[float, float, bool]], n: int, seed: int
) -> tuple[list[int], list[dict[str, Any] | None]]:
    """``n`` episode seeds and reset options drawn uniformly over ``curriculum``
    (``{name: (low, high, integer)}``; see :func:`textgym.trainers.rl.resolve_curriculum`)."""
    rng = np.random.default_rng([seed, 2])
    columns = {
        name: (
            [int(v) for v in rng.integers(int(low), int(high) + 1, n)]
            if integer
            else [float(v) for v in rng.uniform(low, high, n)]
        )
        for name, (low, high, integer) in curriculum.items()
    }
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, n)]
    options = [{name: col[i] for name, col in columns.items()} or None for i in range(n)]
    return seeds, options


def teacher_episodes(
    teacher: Policy,
    view: View | str,
    episodes: int,
    seed: int,
    *,
    curriculum: dict[str, tuple[float, float]] | None = None,
    min_reward: float = 0.5,
    num_envs: int = 64,
) -> tuple[list[Episode], list[Episode]]:
    """The teacher plays ``episodes`` episodes of the view's env with options drawn
    uniformly over the curriculum (None: the env's declared ranges); seeds and options
    derive from ``seed``. Returns (kept, all) as :func:`teacher_games`."""
    view = as_view(view)
    seeds, options = curriculum_draws(resolve_curriculum(view.env_id, curriculum), episodes, seed)
    return teacher_games(
        teacher, view, seeds, options=options, num_envs=num_envs, min_reward=min_reward
    )


def sft_tokens(episodes: Sequence[Episode], tokenizer: Any) -> list[TurnTokens]:
    """Every turn of every episode as (prompt -> answer + EOS), loss on the answer only."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no EOS token to end answers with")
    out = []
    for e in episodes:
        for turn in e.turns:
            prompt = encode_chat(tokenizer, turn.messages)
            answer = tokenizer(turn.completion.text, add_special_tokens=False)["input_ids"]
            answer = [*answer, eos]
            out.append(
                TurnTokens(
                    input_ids=[*prompt, *answer],
                    loss_mask=[0] * len(prompt) + [1] * len(answer),
                    old_logprobs=[0.0] * (len(prompt) + len(answer)),
                    advantage=1.0,
                )
            )
    return out


def _fingerprint(turns: Sequence[TurnTokens], config: SFTConfig) -> str:
    """What a saved SFT state must match to be continued: the turns and the settings."""
    settings = {name: getattr(config, name) for name in SFT_TRAINING_FIELDS}
    h = hashlib.sha256(repr(sorted(settings.items())).encode())
    for turn in turns:
        h.update(repr((list(turn.input_ids), list(turn.loss_mask))).encode())
    return h.hexdigest()


_STATE = "sft_state.pt"


def _load_state(state_dir: Path | None, fingerprint: str) -> dict[str, Any] | None:
    if state_dir is None:
        return None
    recover(state_dir)
    if not (state_dir / _STATE).exists():
        return None
    state = load_state(state_dir / _STATE)
    if state.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{state_dir} holds an SFT run on other turns or settings; delete it to start "
            "over, or run with the settings it was started with"
        )
    return state


def _weights(model: torch.nn.Module) -> dict[str, Any]:
    """What an SFT state keeps of the model: everything, or with LoRA only the adapter."""
    frozen = any(not p.requires_grad for p in model.parameters())
    if not frozen:
        return {"model": model.state_dict(), "strict": True}
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    return {
        "model": {k: v for k, v in model.state_dict().items() if k in trained},
        "strict": False,
    }


def sft_train(
    model: torch.nn.Module,
    tokenizer: Any,
    turns: Sequence[TurnTokens],
    config: SFTConfig | None = None,
    on_step: Callable[[int, float], None] | None = None,
    state_dir: str | Path | None = None,
    progress: bool = False,
) -> list[float]:
    """Train ``model`` to maximise the log-likelihood of the answer tokens; return losses.

    ``progress`` shows a bar (steps, rate, ETA, loss) on a terminal's stderr.

    The loss of a step is the mean negative log-likelihood over the answer tokens of its
    batch (prompt and padding excluded). With ``state_dir``, the run is saved there after
    every epoch and continued from there when started again (see the module docstring);
    the returned losses then include those of the earlier epochs. Only the parameters
    that require gradients train: with a LoRA adapter (:func:`textgym.models.lora.add_lora`) those
    are the adapter's, and the saved state holds only them.
    """
    config = config or SFTConfig()
    if not turns:
        raise ValueError(
            "no SFT examples: no teacher episode reached the reward threshold, or none were "
            "played (lower the threshold, play more episodes or use a better teacher)"
        )
    device = next(model.parameters()).device
    params = trainable_parameters(model)  # only the adapter's, with LoRA
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    losses: list[float] = []
    first_epoch = 0
    state_dir = Path(state_dir) if state_dir is not None else None
    fingerprint = _fingerprint(turns, config) if state_dir is not None else ""
    state = _load_state(state_dir, fingerprint)
    if state is not None:
        model.load_state_dict(state["model"], strict=state.get("strict", True))
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        losses, first_epoch = list(state["losses"]), int(state["epoch"])
    total = config.epochs * -(-len(turns) // config.batch_size)
    bar = progress_bar(total, "sft", unit="step", enabled=progress)
    bar.update(len(losses))
    model.train()
    opt.zero_grad(set_to_none=True)
    for epoch in range(first_epoch, config.epochs):
        order = torch.randperm(len(turns), generator=gen).tolist()
        for start in range(0, len(order), config.batch_size):
            if config.schedule == "cosine":
                for group in opt.param_groups:
                    group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * len(losses) / total))
            step_turns = [turns[i] for i in order[start : start + config.batch_size]]
            loss = _accumulate(model, step_turns, pad, device, config.micro_batch_tokens)
            if not math.isfinite(loss):
                opt.zero_grad(set_to_none=True)
                raise FloatingPointError(f"SFT loss became {loss} at step {len(losses)}")
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss)
            bar.update(1)
            bar.set_postfix_str(f"loss {losses[-1]:.4f}")
            if on_step is not None:
                on_step(len(losses), losses[-1])
        if state_dir is not None and epoch + 1 < config.epochs:
            saved = {
                **_weights(model),
                "optimizer": opt.state_dict(),
                "generator": gen.get_state(),
                "epoch": epoch + 1,
                "losses": losses,
                "fingerprint": fingerprint,
            }
            save_atomically(state_dir, lambda tmp, saved=saved: torch.save(saved, tmp / _STATE))
    bar.close()
    model.eval()
    return losses


def _accumulate(
    model: torch.nn.Module,
    turns: Sequence[TurnTokens],
    pad: int,
    device: torch.device,
    max_tokens: int,
) -> float:
    """Backward the mean negative log-likelihood of the answer tokens of ``turns``, in
    micro-batches of at most ``max_tokens`` padded tokens; return the loss (nan when a
    micro-batch's is not finite, which stops the accumulation)."""
    total = sum(sum(t.loss_mask) for t in turns)
    loss_sum = 0.0
    for part in micro_batches(turns, max_tokens):
        batch = collate(part, pad, device)
        logp = token_logprobs(model, batch)  # (B, T-1)
        loss = -(logp * batch.loss_mask).sum() / max(total, 1)
        if not torch.isfinite(loss):
            return float("nan")
        loss.backward()
        loss_sum += float(loss.detach())
    return loss_sum


@dataclass
class SFTResult:
    """What :func:`train_sft` did."""

    out_dir: Path
    """The saved model (with its view)."""
    losses: list[float]
    """The loss of every optimizer step (earlier epochs of a continued run included)."""
    kept: int
    """Teacher episodes trained on (reward >= ``min_reward``)."""
    games: int
    """Teacher episodes played."""
    turns: int
    """Answers trained on."""


def train_sft(
    config: SFTConfig,
    *,
    teacher: Policy | None = None,
    on_step: Callable[[int, float], None] | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> SFTResult:
    """The SFT stage, the counterpart of :func:`textgym.trainers.rl.train_rl`: the teacher
    plays ``config.games`` episodes of the view's env, the model (with a fresh LoRA
    adapter when ``lora_rank`` is set) imitates the answers of those with at least
    ``min_reward``, and is saved in ``out_dir`` with its view.

    A run killed mid-way continues from its last finished epoch when started again with
    the same settings (they are kept in ``OUT_DIR.partial``, removed once the model is
    saved). Everything that can be checked is checked before the teacher plays.

    Args:
        config: the stage's settings (``model`` and ``out_dir`` are required here).
        teacher: a policy to use instead of ``config.teacher`` (e.g. one already made).
        on_step: called with (step, loss) after every optimizer step.
        progress: show progress bars on a terminal's stderr.
        log: called with a line saying what is being trained on and whether an earlier
            run is continued.
    """
    if config.model is None or config.out_dir is None:
        raise ValueError("train_sft needs config.model and config.out_dir")
    check_model_path(config.model, "model")
    out = Path(config.out_dir)
    check_writable(out.parent, "out_dir")
    view = config.view
    resolve_curriculum(view.env_id, config.curriculum)  # an unknown option fails here
    if teacher is None:
        check_policy_name(config.teacher, view.env_id)
        teacher = make_policy(
            config.teacher,
            view.env_id,
            seed=config.seed,
            max_new_tokens=view.max_new_tokens,
            base_url=config.base_url,
        )
    device = config.device
    model, tokenizer = load_model(config.model, device, config.dtype)
    if config.lora_rank is not None:  # before the teacher plays: a rank that does not fit
        model = add_lora(model, config.lora_rank, config.model, seed=config.seed)
    kept, games = teacher_episodes(
        teacher,
        view,
        config.games,
        config.seed,
        curriculum=config.curriculum,
        min_reward=config.min_reward,
    )
    turns = sft_tokens(kept, tokenizer)
    partial = out.with_name(out.name + ".partial")
    if log is not None:
        log(
            f"SFT on {len(kept)}/{len(games)} episodes with reward >= {config.min_reward:g} "
            f"({len(turns)} turns)"
        )
        if (partial / _STATE).exists():
            log(f"continuing from the epochs saved in {partial}")
    losses = sft_train(
        model, tokenizer, turns, config, on_step=on_step, state_dir=partial, progress=progress
    )
    save_model(out, model, tokenizer, view.save)
    shutil.rmtree(partial, ignore_errors=True)
    return SFTResult(out, losses, len(kept), len(games), len(turns))
