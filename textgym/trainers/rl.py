"""The RL loop: play groups against stratified opponents, score, update with CISPO. Repeat.

Read top to bottom: :class:`RLConfig` holds every setting; :func:`train_rl` runs the loop:

1. plan the batch: ``games_per_batch // group_size`` episode seeds, each with an opponent
   skill from the stratified range, each played ``group_size`` times (optionally a share
   of the groups start from positions of games the policy lost: ``replay_share``);
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
from textgym.trainers.replay import lost_positions
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
    advantage_scale: Literal["none", "std"] = "none"
    """``none``: advantage = reward - group mean. ``std``: also divided by the group's
    standard deviation, which weighs a rare loss among draws as much as an even split."""
    lr: float = 1e-3
    """AdamW learning rate (peak, after the warm-up). On the tiny model 3e-4 barely moved
    the reward in 40 steps and 5e-3 collapsed it."""
    warmup_steps: int = 5
    """Steps over which the learning rate rises linearly to ``lr``. A fresh AdamW makes
    sign-like steps of size ``lr`` at first; on the tiny model one such step at 5e-3 was
    enough to collapse a warmed-up policy into invalid moves."""
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
    replay_share: float = 0.0
    """Share of each batch's groups that start from a position of a game the policy lost in
    an earlier step (:mod:`textgym.trainers.replay`), against the opponent ``replay_prob``;
    0 turns replay off. Needs an env that reports its position as reset options (the
    tic-tac-toe envs); with any other env nothing is replayed. The positions are part of
    the checkpoint; under torchrun each rank replays its own games and a resumed run
    gives every rank rank 0's positions."""
    replay_turns: int = 2
    """How many of a lost game's last positions are kept for replay."""
    replay_prob: float = 0.0
    """Opponent ``random_move_prob`` in replayed groups (0: the perfect opponent, which
    punishes every mistake)."""
    replay_size: int = 2000
    """Most positions kept (the newest)."""
    history: Literal["last", "full"] = "last"
    """What the model sees each turn (see :func:`textgym.rollout.rollout`)."""
    num_envs: int = 64
    """Games played at once during rollouts."""
    checkpoint_every: int = 10
    """Steps between checkpoints (the last step is always saved)."""
    env_id: str = "TextTicTacToe-LLM-v0"
    """The environment."""
    system_prompt: str | None = None
    """Replaces the env's system prompt in every conversation (None keeps it)."""
    eval_every: int = 0
    """Steps between greedy evaluations against the perfect and the random opponent
    (0: never; the results go into the metrics as ``eval/...``)."""
    eval_games: int = 100
    """Games per opponent in those evaluations (fixed seeds)."""
    device: str = "auto"
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``. A resumed
    run repeats the uninterrupted one bit for bit on CPU; on CUDA, kernels that add with
    atomics (embedding backward, some matmuls) can make the two differ in the last bits."""
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
        for name in ("replay_share", "replay_prob"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if not 0.0 <= self.prob_low <= self.prob_high <= 1.0:
            raise ValueError(
                f"need 0 <= prob_low <= prob_high <= 1, got {self.prob_low}, {self.prob_high}"
            )
        if self.advantage_scale not in ("none", "std"):
            raise ValueError(
                f"advantage_scale must be 'none' or 'std', got {self.advantage_scale!r}"
            )
        if self.history not in ("last", "full"):
            raise ValueError(f"history must be 'last' or 'full', got {self.history!r}")
        for name in (
            "max_new_tokens",
            "micro_batch_size",
            "buckets",
            "num_envs",
            "checkpoint_every",
            "eval_games",
            "replay_turns",
            "replay_size",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}")
        if self.device != "auto" and not self.device.startswith(("cpu", "cuda", "mps")):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if not Path(self.model).is_dir():
            raise ValueError(f"model {self.model!r} is not a folder with a saved model")


def _checkpoint_dir(config: RLConfig) -> Path:
    return Path(config.out_dir) / "checkpoint"


def save_checkpoint(
    config: RLConfig, model, tokenizer, optimizer, step: int, replay: list | None = None
) -> Path:
    """Write model, tokenizer, optimizer, step and replay positions atomically (a temp dir,
    then a rename)."""
    final = _checkpoint_dir(config)
    tmp = final.with_name("checkpoint.tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "step": step,
            "config": asdict(config),
            "replay": list(replay or []),
        },
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


def _distributed(device: str) -> tuple[int, int]:
    """(rank, world size); joins the process group when started by ``torchrun``.

    The backend follows the device the model trains on: NCCL for CUDA, gloo otherwise (a
    CPU run on a machine that has GPUs must not pick NCCL, which cannot move CPU tensors).
    """
    import os

    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _device(config: RLConfig) -> str:
    """The resolved device; under ``torchrun`` on CUDA each local rank takes its own GPU."""
    import os

    device = config.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        local = int(os.environ["LOCAL_RANK"])
        if local >= torch.cuda.device_count():
            raise ValueError(
                f"local rank {local} has no GPU of its own ({torch.cuda.device_count()} "
                "visible): start at most that many processes per node, or pass device='cpu'"
            )
        device = f"cuda:{local}"
    return device


def _mean_over_ranks(record: dict[str, float], world: int) -> dict[str, float]:
    if world == 1:
        return record
    import torch.distributed as dist

    keys = sorted(
        k for k, v in record.items() if isinstance(v, float) and not k.startswith("loss/")
    )
    values = torch.tensor([record[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(values)
    return record | {k: float(v) / world for k, v in zip(keys, values.tolist(), strict=True)}


def evaluate_model(
    model, tokenizer, config: RLConfig, opponents: tuple[str, ...] = ("optimal", "random")
) -> dict[str, float]:
    """Greedy play against each opponent on fixed seeds: ``eval/<opponent>/<win|draw|loss>``."""
    from textgym.evaluation import evaluate

    out: dict[str, float] = {}
    policy = HFPolicy(model, tokenizer, temperature=0.0, max_new_tokens=config.max_new_tokens)
    for opponent in opponents:
        summary = evaluate(
            "model",
            opponent,
            episodes=config.eval_games,
            seed=config.seed + 1,
            env_id=config.env_id,
            num_envs=config.num_envs,
            policy_obj=policy,
            history=config.history,
            system_prompt=config.system_prompt,
        )
        for result in ("win", "draw", "loss"):
            out[f"eval/{opponent}/{result}"] = summary.rate(result) / 100
    return out


def train_rl(config: RLConfig, resume: bool = False, progress: bool = True) -> list[dict]:
    """Run (or resume) RL training; return the metrics of the steps run in this call.

    Under ``torchrun --nproc_per_node N`` every rank plays its share of each batch's groups
    and the gradient is all-reduced (DDP; gloo on CPU, NCCL on GPU); rank 0 writes the
    metrics and checkpoints.
    """
    import time

    device = _device(config)
    rank, world = _distributed(device)
    groups_per_batch = config.games_per_batch // config.group_size
    if groups_per_batch < world:
        raise ValueError(
            f"{groups_per_batch} groups per batch cannot be shared by {world} processes"
        )
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
    model, tokenizer = load_model(model_path, device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    replay: list[dict] = []  # reset options of positions from recently lost games
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        replay = list(state.get("replay", []))
    trained = model
    if world > 1:
        trained = torch.nn.parallel.DistributedDataParallel(model)
    metrics_path = out / "metrics.jsonl"
    if rank == 0:
        _truncate_metrics(metrics_path, start_step)

    history: list[dict] = []
    step = start_step
    started = time.perf_counter()
    try:
        for step in range(start_step + 1, config.steps + 1):
            # 1. plan: seeds and opponent skills, each group played group_size times;
            #    under torchrun each rank takes every world-th group
            plan = plan_batch(
                [config.seed, step],
                config.games_per_batch,
                config.group_size,
                (config.prob_low, config.prob_high),
                config.buckets,
            )[rank::world]
            seeds = [g.seed for g in plan for _ in range(config.group_size)]
            group_options = [g.options for g in plan]
            replayed = 0
            if config.replay_share > 0 and replay:
                #    a share of the groups start where the policy lost in earlier steps
                pick = np.random.default_rng([config.seed, step, 2, rank])
                for i in range(len(group_options)):
                    if pick.random() < config.replay_share:
                        start = replay[int(pick.integers(len(replay)))]
                        group_options[i] = {**start, "random_move_prob": config.replay_prob}
                        replayed += 1
            options = [o for o in group_options for _ in range(config.group_size)]
            # 2. roll out with the current model
            policy = HFPolicy(
                model,
                tokenizer,
                temperature=config.temperature,
                max_new_tokens=config.max_new_tokens,
                seed=int(np.random.SeedSequence([config.seed, step, 1, rank]).generate_state(1)[0]),
            )
            episodes = rollout(
                policy,
                config.env_id,
                seeds,
                options=options,
                num_envs=config.num_envs,
                history=config.history,
                system_prompt=config.system_prompt,
            )
            if config.replay_share > 0:
                replay = (replay + lost_positions(episodes, config.replay_turns))[
                    -config.replay_size :
                ]
            # 3. group-relative advantages
            rewards = [e.total_reward for e in episodes]
            groups = [e.index // config.group_size for e in episodes]
            advantages = group_advantages(rewards, groups, scale=config.advantage_scale)
            # 4. one CISPO step over every model turn (all ranks' turns under torchrun)
            for group in optimizer.param_groups:
                group["lr"] = config.lr * min(1.0, step / max(config.warmup_steps, 1))
            turns = [
                t for e, a in zip(episodes, advantages, strict=True) for t in episode_tokens(e, a)
            ]
            losses = cispo_step(
                trained,
                optimizer,
                turns,
                tokenizer.pad_token_id,
                micro_batch_size=config.micro_batch_size,
                clip_max=config.clip_max,
                grad_clip=config.grad_clip,
                temperature=config.temperature,
            )
            # 5. log, evaluate now and then, checkpoint
            record = {
                "step": step,
                **_episode_means(episodes),
                **losses,
                "rollout/groups_with_variance": share_of_groups_with_variance(rewards, groups),
                "replay/groups": float(replayed),
                "replay/positions": float(len(replay)),
            }
            record = _mean_over_ranks(record, world)
            record["time/elapsed_s"] = time.perf_counter() - started
            evaluating = config.eval_every and (
                step % config.eval_every == 0 or step == config.steps
            )
            if evaluating and rank == 0:
                record.update(evaluate_model(model, tokenizer, config))
            if rank == 0:
                with metrics_path.open("a") as fh:
                    fh.write(json.dumps(record) + "\n")
            history.append(record)
            if progress and rank == 0:
                _print_progress(record, step - start_step, config.steps - start_step, config)
            if rank == 0 and (step % config.checkpoint_every == 0 or step == config.steps):
                save_checkpoint(config, model, tokenizer, optimizer, step, replay)
    except KeyboardInterrupt:
        if rank == 0 and step > start_step and history and history[-1]["step"] == step:
            save_checkpoint(config, model, tokenizer, optimizer, step, replay)
        raise
    except FloatingPointError as exc:
        raise FloatingPointError(
            f"{exc} at step {step}; the last good checkpoint is in {ckpt} "
            f"(continue with resume=True, perhaps with a lower lr)"
        ) from None
    if rank == 0:
        _plot(metrics_path, out / "training.png")
    return history


def _print_progress(record: dict, done: int, total: int, config: RLConfig) -> None:
    elapsed = record["time/elapsed_s"]
    eta = elapsed / done * (total - done)
    line = (
        f"step {record['step']}/{config.steps} reward {record['reward/total']:.3f} "
        f"win {record['rollout/win_rate']:.2f} "
        f"var {record['rollout/groups_with_variance']:.2f} "
        f"[{elapsed:.0f}s, eta {eta:.0f}s]"
    )
    if "eval/optimal/loss" in record:
        line += (
            f" | greedy vs perfect loss {record['eval/optimal/loss']:.1%}, "
            f"vs random win {record['eval/random/win']:.1%}"
        )
    print(line, flush=True)


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
