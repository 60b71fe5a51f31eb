"""The RL loop: play groups against stratified opponents, score, update with CISPO. Repeat.

Read top to bottom: :class:`RLConfig` holds every setting; :func:`train_rl` runs the loop:

1. plan the batch: ``games_per_batch // group_size`` episode seeds, each with an opponent
   skill from the stratified range, each played ``group_size`` times;
2. roll out all games with the current model (``HFPolicy``, exact ids and log-probs);
3. advantage = episode reward minus its group's mean;
4. one CISPO optimizer step over every model turn (:func:`~textgym.trainers.step.cispo_step`);
5. log metrics to ``metrics.jsonl``; checkpoint every ``checkpoint_every`` steps; at the
   end, plot the four reward curves to ``training.png`` (when matplotlib is installed).

Every step's randomness derives from ``(seed, step)``, and checkpoints hold the model and
tokenizer (``save_pretrained``), the optimizer state and the step, so ``resume=True``
continues exactly as if the run had never stopped. A non-finite loss stops the run with
the last good checkpoint kept; Ctrl-C saves a checkpoint first.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from textgym.policies.hf import HFPolicy, load_model
from textgym.rollout import rollout
from textgym.trainers.groups import group_advantages, plan_batch, share_of_groups_with_variance
from textgym.trainers.step import cispo_step
from textgym.trainers.tokens import episode_tokens


@dataclass
class RLConfig:
    """Settings of one RL run."""

    model: str
    """Folder of the starting model (``save_pretrained`` layout)."""
    out_dir: str
    """Where checkpoints and ``metrics.jsonl`` go."""
    steps: int = 100
    """Optimizer steps to reach (counting steps done before a resume)."""
    games_per_batch: int = 256
    """Games played per step. Small batches (< 256) were seen to collapse training."""
    group_size: int = 8
    """Rollouts per episode seed; advantages are relative to the group."""
    lr: float = 1e-3
    """AdamW learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    temperature: float = 1.0
    """Sampling temperature of the rollouts (the loss uses the same)."""
    max_new_tokens: int = 16
    """Answer budget per turn."""
    clip_max: float = 5.0
    """Absolute cap of CISPO's detached importance weight."""
    grad_clip: float = 1.0
    """Gradient norm clip."""
    micro_batch_size: int = 64
    """Turns per forward/backward pass (gradient accumulation beyond it)."""
    prob_low: float = 0.2
    """Lowest opponent ``random_move_prob`` sampled."""
    prob_high: float = 0.7
    """Highest opponent ``random_move_prob`` sampled."""
    buckets: int = 4
    """Strata of the opponent range; every batch holds an equal share of each."""
    history: Literal["last", "full"] = "last"
    """What the model sees each turn (see :func:`textgym.rollout.rollout`)."""
    num_envs: int = 64
    """Games played at once during rollouts."""
    checkpoint_every: int = 10
    """Steps between checkpoints (the last step is always saved)."""
    env_id: str = "TextTicTacToe-LLM-v0"
    """The environment."""
    seed: int = 0
    """Root of every step's randomness."""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.group_size < 2:
            raise ValueError(f"group_size must be >= 2, got {self.group_size}")
        if self.games_per_batch < self.group_size or self.games_per_batch % self.group_size:
            raise ValueError(
                f"games_per_batch ({self.games_per_batch}) must be a positive multiple of "
                f"group_size ({self.group_size})"
            )
        for name in ("lr", "temperature", "clip_max", "grad_clip"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not 0.0 <= self.prob_low <= self.prob_high <= 1.0:
            raise ValueError(
                f"need 0 <= prob_low <= prob_high <= 1, got {self.prob_low}, {self.prob_high}"
            )
        if self.history not in ("last", "full"):
            raise ValueError(f"history must be 'last' or 'full', got {self.history!r}")
        for name in (
            "max_new_tokens",
            "micro_batch_size",
            "buckets",
            "num_envs",
            "checkpoint_every",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not Path(self.model).is_dir():
            raise ValueError(f"model {self.model!r} is not a folder with a saved model")


def _checkpoint_dir(config: RLConfig) -> Path:
    return Path(config.out_dir) / "checkpoint"


def save_checkpoint(config: RLConfig, model, tokenizer, optimizer, step: int) -> Path:
    """Write model, tokenizer, optimizer and step atomically (a temp dir, then a rename)."""
    final = _checkpoint_dir(config)
    tmp = final.with_name("checkpoint.tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save(
        {"optimizer": optimizer.state_dict(), "step": step, "config": asdict(config)},
        tmp / "trainer_state.pt",
    )
    old = final.with_name("checkpoint.old")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        import shutil

        shutil.rmtree(old)
    return final


def _episode_means(episodes) -> dict[str, float]:
    totals: dict[str, list[float]] = {"outcome": [], "format": [], "invalid": []}
    for e in episodes:
        for name, values in totals.items():
            values.append(sum(t.reward_components.get(name, 0.0) for t in e.turns))
    lens = [len(t.completion.completion_ids) for e in episodes for t in e.turns]
    return {
        "reward/total": float(np.mean([e.total_reward for e in episodes])),
        **{f"reward/{k}": float(np.mean(v)) for k, v in totals.items()},
        "rollout/completion_len": float(np.mean(lens)) if lens else 0.0,
        "rollout/win_rate": float(np.mean([e.final_info.get("result") == "win" for e in episodes])),
    }


def train_rl(config: RLConfig, resume: bool = False, progress: bool = True) -> list[dict]:
    """Run (or resume) RL training; return the metrics of the steps run in this call."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = _checkpoint_dir(config)
    start_step = 0
    model_path: str | Path = config.model
    state = None
    if resume and (ckpt / "trainer_state.pt").exists():
        state = torch.load(ckpt / "trainer_state.pt", weights_only=False)
        start_step = int(state["step"])
        model_path = ckpt
    model, tokenizer = load_model(model_path)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
    metrics_path = out / "metrics.jsonl"
    _truncate_metrics(metrics_path, start_step)

    history: list[dict] = []
    step = start_step
    try:
        for step in range(start_step + 1, config.steps + 1):
            # 1. plan: seeds and opponent skills, each group played group_size times
            plan = plan_batch(
                [config.seed, step],
                config.games_per_batch,
                config.group_size,
                (config.prob_low, config.prob_high),
                config.buckets,
            )
            seeds = [g.seed for g in plan for _ in range(config.group_size)]
            options = [g.options for g in plan for _ in range(config.group_size)]
            # 2. roll out with the current model
            policy = HFPolicy(
                model,
                tokenizer,
                temperature=config.temperature,
                max_new_tokens=config.max_new_tokens,
                seed=int(np.random.SeedSequence([config.seed, step, 1]).generate_state(1)[0]),
            )
            episodes = rollout(
                policy,
                config.env_id,
                seeds,
                options=options,
                num_envs=config.num_envs,
                history=config.history,
            )
            # 3. group-relative advantages
            rewards = [e.total_reward for e in episodes]
            groups = [e.index // config.group_size for e in episodes]
            advantages = group_advantages(rewards, groups)
            # 4. one CISPO step over every model turn
            turns = [
                t for e, a in zip(episodes, advantages, strict=True) for t in episode_tokens(e, a)
            ]
            losses = cispo_step(
                model,
                optimizer,
                turns,
                tokenizer.pad_token_id,
                micro_batch_size=config.micro_batch_size,
                clip_max=config.clip_max,
                grad_clip=config.grad_clip,
                temperature=config.temperature,
            )
            # 5. log and checkpoint
            record = {
                "step": step,
                **_episode_means(episodes),
                **losses,
                "rollout/groups_with_variance": share_of_groups_with_variance(rewards, groups),
            }
            with metrics_path.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
            history.append(record)
            if progress:
                print(
                    f"step {step}/{config.steps} reward {record['reward/total']:.3f} "
                    f"win {record['rollout/win_rate']:.2f} "
                    f"var {record['rollout/groups_with_variance']:.2f}",
                    flush=True,
                )
            if step % config.checkpoint_every == 0 or step == config.steps:
                save_checkpoint(config, model, tokenizer, optimizer, step)
    except KeyboardInterrupt:
        if step > start_step and history and history[-1]["step"] == step:
            save_checkpoint(config, model, tokenizer, optimizer, step)
        raise
    _plot(metrics_path, out / "training.png")
    return history


def _plot(metrics_path: Path, png: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("matplotlib") is not None and metrics_path.exists():
        from textgym.plots import plot_training

        plot_training(metrics_path, png)


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Drop metric lines after the checkpointed step, so a resume never duplicates a step."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= last_step:
                keep.append(line)
        except (json.JSONDecodeError, KeyError):
            continue
    path.write_text("".join(line + "\n" for line in keep))
