"""The RL loop on any env: play groups under a stratified curriculum, score, update with
CISPO. Repeat.

Read top to bottom: :class:`RLConfig` holds every setting; :func:`train_rl` runs the loop,
one short named stage per line:

1. :func:`plan_step`: ``games_per_batch // group_size`` episode seeds, each with reset
   options stratified over the env's curriculum (:mod:`textgym.trainers.groups`), each
   played ``group_size`` times; optionally a share of the groups restart from states of
   episodes the policy lost (``replay_share``, :mod:`textgym.trainers.replay`);
2. :func:`rollout_step`: all episodes with the current model (exact ids and log-probs);
   in a two-player env the other seat is the env's own opponent, or with ``opponent``
   the model itself or a frozen snapshot of it (:mod:`textgym.trainers.opponents`);
3. advantage = episode reward minus its group's mean (in self-play, both seats' episodes,
   each seat against its own mean);
4. one CISPO optimizer step over every model turn (:func:`~textgym.trainers.step.cispo_step`);
5. :func:`step_metrics`: log to ``metrics.jsonl``, evaluate now and then under the env's
   evaluation conditions (or with the caller's ``checks``), keep the best model so far
   when asked (``keep_best``: ``out_dir/best``), checkpoint every ``checkpoint_every``
   steps; at the end, plot the four reward curves to ``training.png`` (when matplotlib is
   installed).

Every step's randomness derives from ``(seed, step)``, and checkpoints hold the model and
tokenizer (``save_pretrained``), the optimizer state, the step and the replay states, so
``resume=True`` continues exactly as if the run had never stopped. A non-finite loss stops
the run with the last good checkpoint kept; Ctrl-C saves a checkpoint first.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textgym.evaluation import evaluate, evaluation_conditions
from textgym.models.files import check_model_path
from textgym.models.loading import is_adapter, load_adapter, load_model
from textgym.models.lora import add_lora, trainable_parameters
from textgym.models.saving import (
    check_writable,
    load_state,
    recover,
    save_model,
    write_text_atomically,
)
from textgym.plots import plot_training
from textgym.policies.hf import HFPolicy
from textgym.rollout import EnvPool, Episode, rollout
from textgym.trainers.config import RLConfig
from textgym.trainers.groups import (
    Curriculum,
    GroupPlan,
    group_advantages,
    plan_batch,
    resolve_curriculum,
    share_of_groups_with_variance,
)
from textgym.trainers.opponents import (
    OpponentSpec,
    SeatScoring,
    SnapshotPool,
    both_seats,
    opponent_system_prompt,
    parse_opponent,
    seat_scoring,
)
from textgym.trainers.replay import lost_positions
from textgym.trainers.step import cispo_step
from textgym.trainers.tokens import episode_tokens, prefix_report
from textgym.utils.progress import progress_bar, shows_bars

#: What the evaluation steps run when not the greedy games: ``checks(model, tokenizer)``
#: returns metrics to log (e.g. an exact audit of the greedy player).
Checks = Callable[[Any, Any], dict[str, float]]

#: The file in ``out_dir/best`` that says which step it holds and what was checked.
BEST_FILE = "best.json"


def _checkpoint_dir(config: RLConfig) -> Path:
    return Path(config.out_dir) / "checkpoint"


def best_dir(out_dir: str | Path) -> Path:
    """Where a run with ``keep_best`` keeps its best model."""
    return Path(out_dir) / "best"


def read_best(out_dir: str | Path) -> dict[str, Any] | None:
    """The ``best.json`` of a run with ``keep_best``: ``metric``, ``mode``, ``step`` and
    ``value`` of the kept model, and ``checked`` (step -> value of every evaluation so
    far, step 0 being the start); None when the run has none."""
    path = best_dir(out_dir) / BEST_FILE
    return json.loads(path.read_text()) if path.exists() else None


def save_checkpoint(
    config: RLConfig,
    model,
    tokenizer,
    optimizer,
    step: int,
    replay: list | None = None,
    opponents: list[int] | None = None,
) -> Path:
    """Write model, tokenizer, view, optimizer, step, replay states and the steps of the
    opponent snapshots in the pool atomically."""

    def trainer_state(folder: Path) -> None:
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "step": step,
                "config": asdict(config),
                "replay": list(replay or []),
                "opponents": list(opponents or []),
            },
            folder / "trainer_state.pt",
        )
        config.view.save(folder)

    return save_model(_checkpoint_dir(config), model, tokenizer, trainer_state)


#: Metric names of reward components whose component name does not say what the mean is.
_REWARD_METRICS = {"invalid": "invalid_penalty"}


def _episode_means(episodes: list[Episode]) -> dict[str, float]:
    totals: dict[str, list[float]] = {"outcome": [], "format": [], "invalid": []}
    for e in episodes:
        for name in {k for t in e.turns for k in t.reward_components}:
            totals.setdefault(name, [])
    for e in episodes:
        for name, values in totals.items():
            values.append(sum(t.reward_components.get(name, 0.0) for t in e.turns))
    lens = [len(t.completion.completion_ids) for e in episodes for t in e.turns]
    metrics: dict[str, list[float]] = {}
    for e in episodes:
        for name, value in (e.final_info.get("episode_metrics") or {}).items():
            metrics.setdefault(name, []).append(float(value))
    return {
        "reward/total": float(np.mean([e.total_reward for e in episodes])),
        **{f"reward/{_REWARD_METRICS.get(k, k)}": float(np.mean(v)) for k, v in totals.items()},
        "rollout/completion_len": float(np.mean(lens)) if lens else 0.0,
        **{f"rollout/{k}": float(np.mean(v)) for k, v in metrics.items()},
    }


def _opponent_means(episodes: list[Episode]) -> dict[str, float]:
    """With a policy opponent: its answers per episode, the share of them that fell back
    (named no legal move), the share inside the answer tag, and its mean outcome."""
    decisions = [t.info for e in episodes for t in e.opponent_turns]
    if not decisions:
        return {}
    formats = [d["format_ok"] for d in decisions if d.get("format_ok") is not None]
    ends = [e.final_info for e in episodes]
    outcomes = [info["opponent_outcome"] for info in ends if "opponent_outcome" in info]
    out = {
        "opponent/answers": len(decisions) / len(episodes),
        "opponent/fallbacks": float(np.mean([bool(d.get("fallback")) for d in decisions])),
    }
    if formats:
        out["opponent/format_ok"] = float(np.mean(formats))
    if outcomes:
        out["opponent/outcome"] = float(np.mean(outcomes))
    return out


def _distributed(device: str) -> tuple[int, int, bool]:
    """(rank, world size, joined); joins the process group when started by ``torchrun``
    (``joined``: this call created the group, so the run leaves it when done).

    The backend follows the device the model trains on: NCCL for CUDA, gloo otherwise (a
    CPU run on a machine that has GPUs must not pick NCCL, which cannot move CPU tensors).
    """
    import os

    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    joined = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        joined = True
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), joined
    return 0, 1, joined


def _leave(run: _Training) -> None:
    """Wait until rank 0 has written its last files, then leave a group the run joined.

    Without the barrier a rank that finishes first tears down its half of the group while
    rank 0 still checkpoints, and gloo can abort the process on the way out.
    """
    if run.world == 1:
        return
    import torch.distributed as dist

    dist.barrier()
    if run.joined:
        run.trained = run.model
        dist.destroy_process_group()


def _wait_for_rank_0(run: _Training) -> None:
    """Under torchrun, until rank 0 has written what every rank reads next."""
    if run.world > 1:
        import torch.distributed as dist

        dist.barrier()


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


def greedy_checks(
    model, tokenizer, config: RLConfig, pool: EnvPool | None = None
) -> dict[str, float]:
    """Greedy play under each of the env's evaluation conditions, on fixed seeds:
    ``eval/<condition>/reward`` and ``eval/<condition>/<metric>`` (metric means); in the
    envs of ``pool`` when given."""
    out: dict[str, float] = {}
    policy = HFPolicy(model, tokenizer, temperature=0.0, max_new_tokens=config.max_new_tokens)
    for condition in config.eval_conditions or evaluation_conditions(config.env_id):
        summary = evaluate(
            "model",
            condition,
            episodes=config.eval_games,
            seed=config.seed + 1,
            view=config.view,
            num_envs=config.num_envs,
            policy_obj=policy,
            pool=pool,
        )
        out[f"eval/{condition}/reward"] = summary.mean_reward
        for name in summary.metric_names():
            out[f"eval/{condition}/{name}"] = summary.metric(name)
    return out


@dataclass
class _Training:
    """What a run carries from step to step."""

    model: Any
    tokenizer: Any
    optimizer: Any
    trained: Any
    """The model, or its DDP wrapper under torchrun."""
    rank: int
    world: int
    curriculum: Curriculum
    replay: list[dict[str, Any]]
    start_step: int
    joined: bool = False
    """This run joined the torchrun process group (and leaves it when done)."""
    best: dict[str, Any] | None = None
    """With ``keep_best``: what ``out_dir/best`` holds (:func:`read_best`)."""
    opponent: OpponentSpec | None = None
    """``config.opponent``, parsed."""
    pool: SnapshotPool | None = None
    """With ``opponent="snapshot:K"``: the frozen copies."""
    scoring: SeatScoring | None = None
    """With ``opponent="self"``: how the env's wrappers score the opponent's answers."""
    opponent_system: str = ""
    """With an opponent: the system message both seats read."""
    envs: EnvPool | None = None
    """Where the episodes are played (e.g. Ray actors); None: envs made here."""

    def checkpoint(self, config: RLConfig, step: int) -> None:
        """Save the checkpoint of ``step``; then drop snapshots no checkpoint names."""
        opponents = self.pool.steps if self.pool is not None else None
        save_checkpoint(
            config, self.model, self.tokenizer, self.optimizer, step, self.replay, opponents
        )
        if self.pool is not None:
            self.pool.prune()


def _start(config: RLConfig, resume: bool) -> _Training:
    """Join torchrun if started by it; load the model (or the checkpoint) and optimizer."""
    check_model_path(config.model)  # here, not in RLConfig: a pipeline plans rounds ahead
    device = _device(config)
    rank, world, joined = _distributed(device)
    if config.games_per_batch // config.group_size < world:
        raise ValueError(
            f"{config.games_per_batch // config.group_size} groups per batch cannot be shared "
            f"by {world} processes"
        )
    curriculum = resolve_curriculum(config.env_id, config.curriculum, config.replay_options)
    check_writable(config.out_dir, "RL output")
    ckpt = recover(_checkpoint_dir(config))
    state = None
    if resume and (ckpt / "trainer_state.pt").exists():
        state = load_state(ckpt / "trainer_state.pt")
    model, tokenizer = _load(config, ckpt if state is not None else None, device)
    optimizer = torch.optim.AdamW(
        trainable_parameters(model), lr=config.lr, weight_decay=config.weight_decay
    )
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
    trained = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    run = _Training(
        model,
        tokenizer,
        optimizer,
        trained,
        rank,
        world,
        curriculum,
        list(state.get("replay", [])) if state is not None else [],
        int(state["step"]) if state is not None else 0,
        joined,
    )
    if config.opponent is not None:
        run.opponent = spec = parse_opponent(config.opponent)
        run.opponent_system = opponent_system_prompt(config.env_id, config.system_prompt)
        if spec.trains_both_seats:
            run.scoring = seat_scoring(config.env_id)
        else:
            run.pool = SnapshotPool(config.out_dir, config.opponent_pool, device, config.dtype)
            if state is not None:
                run.pool.restore([int(s) for s in state.get("opponents", [])])
    return run


def _load(config: RLConfig, checkpoint: Path | None, device: str) -> tuple[Any, Any]:
    """The model to train: the checkpoint's when resuming, else ``config.model``, with a
    fresh LoRA adapter when ``config.lora_rank`` is set."""
    dtype = config.dtype  # a name: bfloat16-mixed also sets how the model computes
    if checkpoint is not None:
        if is_adapter(checkpoint) != (config.lora_rank is not None):
            raise ValueError(
                f"{checkpoint} holds a run "
                f"{'with' if is_adapter(checkpoint) else 'without'} a LoRA adapter; resume "
                f"it {'with' if is_adapter(checkpoint) else 'without'} lora_rank"
            )
        if config.lora_rank is not None:
            return load_adapter(checkpoint, device, dtype, trainable=True)
        return load_model(checkpoint, device, dtype)
    model, tokenizer = load_model(config.model, device, dtype)
    if config.lora_rank is not None:
        model = add_lora(model, config.lora_rank, config.model, config.lora_alpha, config.seed)
    return model, tokenizer


def plan_step(config: RLConfig, run: _Training, step: int) -> tuple[list[GroupPlan], int]:
    """This rank's groups of the step, some restarted from lost states; (plan, replayed)."""
    plan = plan_batch(
        [config.seed, step],
        config.games_per_batch,
        config.group_size,
        run.curriculum,
        config.buckets,
    )[run.rank :: run.world]
    replayed = 0
    if config.replay_share > 0 and run.replay:
        pick = np.random.default_rng([config.seed, step, 2, run.rank])
        for i, group in enumerate(plan):
            if pick.random() < config.replay_share:
                start = run.replay[int(pick.integers(len(run.replay)))]
                options = {**start, **config.replay_options}
                plan[i] = GroupPlan(group.group, group.seed, options)
                replayed += 1
    return plan, replayed


def rollout_step(
    config: RLConfig, run: _Training, step: int, plan: list[GroupPlan]
) -> tuple[list[Episode], str | None]:
    """Every group of the plan, ``group_size`` times, with the current model; (episodes,
    who played the other seat: ``self``, ``snapshot@S`` or None for the env's own)."""

    def sampler(model: Any, stream: int) -> HFPolicy:
        entropy = [config.seed, step, stream, run.rank]
        seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
        return HFPolicy(
            model,
            run.tokenizer,
            temperature=config.temperature,
            max_new_tokens=config.max_new_tokens,
            seed=seed,
        )

    policy = sampler(run.model, 1)
    opponent, name = None, None
    if run.opponent is not None and run.pool is None:
        opponent, name = policy, "self"
    elif run.pool is not None:
        assert run.opponent is not None
        if (step - 1) % run.opponent.every == 0:  # step 0 (the start) is the first
            run.pool.take(step - 1, run.model, run.tokenizer, write=run.rank == 0)
            _wait_for_rank_0(run)
        snapshot = run.pool.draw(config.seed, step)
        opponent, name = sampler(run.pool.model(snapshot), 4), f"snapshot@{snapshot}"
    episodes = rollout(
        policy,
        config.view,
        [g.seed for g in plan for _ in range(config.group_size)],
        options=[g.options or None for g in plan for _ in range(config.group_size)],
        num_envs=config.num_envs,
        opponent=opponent,
        opponent_system_prompt=run.opponent_system if opponent is not None else None,
        pool=run.envs,
    )
    return episodes, name


def update_step(
    config: RLConfig, run: _Training, step: int, episodes: list[Episode]
) -> tuple[dict[str, float], float]:
    """Group-relative advantages and one CISPO step; (losses, share of groups with variance).

    In self-play the opponent's side of each episode trains too, its advantage relative to
    the same seat's rollouts of its group (:func:`~textgym.trainers.opponents.both_seats`).
    """
    groups: list[Any] = [e.index // config.group_size for e in episodes]
    if run.scoring is not None:
        episodes, groups = both_seats(episodes, config.group_size, run.scoring)
    rewards = [e.total_reward for e in episodes]
    advantages = group_advantages(rewards, groups, scale=config.advantage_scale)
    for group in run.optimizer.param_groups:
        group["lr"] = config.lr * min(1.0, step / max(config.warmup_steps, 1))
    turns = [
        t
        for e, a in zip(episodes, advantages, strict=True)
        for t in episode_tokens(e, a, config.merge_turns)
    ]
    losses = cispo_step(
        run.trained,
        run.optimizer,
        turns,
        run.tokenizer.pad_token_id,
        micro_batch_tokens=config.micro_batch_tokens,
        clip_max=config.clip_max,
        grad_clip=config.grad_clip,
        temperature=config.temperature,
    )
    return losses, share_of_groups_with_variance(rewards, groups)


def train_rl(
    config: RLConfig,
    resume: bool = False,
    progress: bool = True,
    on_metrics: Callable[[dict[str, Any]], None] | None = None,
    checks: Checks | None = None,
    pool: EnvPool | None = None,
) -> list[dict]:
    """Run (or resume) RL training; return the metrics of the steps run in this call.

    ``on_metrics`` gets each step's metrics once they are in ``metrics.jsonl`` (rank 0
    only): the hook for experiment trackers (:mod:`textgym.trainers.trackers`).
    ``checks`` replaces the greedy games of the evaluation steps (``eval_every``): its
    metrics are logged, and ``keep_best`` may name one of them. With ``keep_best``, a
    fresh run evaluates its start model first (step 0), so ``out_dir/best`` never holds a
    model worse than the start.

    Under ``torchrun --nproc_per_node N`` every rank plays its share of each batch's groups
    and the gradient is all-reduced (DDP; gloo on CPU, NCCL on GPU); rank 0 writes the
    metrics and checkpoints.

    ``pool`` plays the episodes (and the greedy evaluations) in its envs, e.g. Ray actors
    (:class:`~textgym.integrations.ray.RayEnvPool`); the model stays in this process and
    the run is the one played here. One trainer process only, and no ``opponent``.
    """
    _check_pool(config, pool)
    run = _start(config, resume)
    run.envs = pool
    metrics_path = Path(config.out_dir) / "metrics.jsonl"
    metrics_path.parent.mkdir(parents=True, exist_ok=True)  # every check has passed
    if run.rank == 0:
        _truncate_metrics(metrics_path, run.start_step)
        if config.keep_best is not None:
            run.best = read_best(config.out_dir) if resume else None
            if run.best is None:  # the start is the first candidate
                _offer_best(config, run, run.start_step, _evaluations(config, run, checks))
    history: list[dict] = []
    step = run.start_step
    started = time.perf_counter()
    bars = progress and run.rank == 0 and shows_bars()
    bar = progress_bar(config.steps - run.start_step, "rl", unit="step", enabled=bars)
    try:
        for step in range(run.start_step + 1, config.steps + 1):
            plan, replayed = plan_step(config, run, step)
            episodes, against = rollout_step(config, run, step, plan)
            if config.replay_share > 0:
                lost = lost_positions(episodes, config.replay_turns, config.replay_below)
                run.replay = (run.replay + lost)[-config.replay_size :]
            losses, variance = update_step(config, run, step, episodes)
            record = {
                "step": step,
                **_episode_means(episodes),
                **losses,
                "rollout/groups_with_variance": variance,
                "replay/groups": float(replayed),
                "replay/positions": float(len(run.replay)),
                **_opponent_means(episodes),
            }
            if against is not None:
                record["opponent"] = against
            if config.history == "full":
                report = prefix_report(episodes)
                record.update({k: v for k, v in report.items() if math.isfinite(v)})
            record = _mean_over_ranks(record, run.world)
            record["time/elapsed_s"] = time.perf_counter() - started
            if run.rank == 0:
                _log_step(config, run, record, metrics_path, progress and not bars, checks)
                bar.update(1)
                bar.set_postfix_str(" | ".join(filter(None, _summary(record))))
                if on_metrics is not None:
                    on_metrics(record)
            history.append(record)
    except KeyboardInterrupt:
        if run.rank == 0 and step > run.start_step and history and history[-1]["step"] == step:
            run.checkpoint(config, step)
        raise
    except FloatingPointError as exc:
        raise FloatingPointError(
            f"{exc} at step {step}; the last good checkpoint is in {_checkpoint_dir(config)} "
            f"(continue with resume=True, perhaps with a lower lr)"
        ) from None
    bar.close()
    if run.rank == 0:
        _plot(metrics_path, Path(config.out_dir) / "training.png")
    _leave(run)
    return history


def _log_step(
    config: RLConfig,
    run: _Training,
    record: dict,
    metrics_path: Path,
    progress: bool,
    checks: Checks | None = None,
) -> None:
    """Evaluate when due, append the metrics line, print progress, keep the best model
    when due, checkpoint when due (after it: a resume then re-checks no kept step)."""
    step = record["step"]
    evaluated = config.eval_every and (step % config.eval_every == 0 or step == config.steps)
    if evaluated:
        record.update(_evaluations(config, run, checks))
    with metrics_path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    if progress:
        _print_progress(record, step - run.start_step, config.steps - run.start_step, config)
    if evaluated and config.keep_best is not None:
        _offer_best(config, run, step, record)
    if step % config.checkpoint_every == 0 or step == config.steps:
        run.checkpoint(config, step)


def _evaluations(config: RLConfig, run: _Training, checks: Checks | None) -> dict[str, float]:
    """The metrics of an evaluation step: the caller's checks, else the greedy games."""
    if checks is not None:
        return {k: float(v) for k, v in checks(run.model, run.tokenizer).items()}
    return greedy_checks(run.model, run.tokenizer, config, run.envs)


def _check_pool(config: RLConfig, pool: EnvPool | None) -> None:
    """Refuse, before anything is loaded or written, a pool this run cannot play in."""
    import os

    if pool is None:
        return
    if pool.view != config.view:
        raise ValueError(f"the env pool plays {pool.view}, the run {config.view}")
    if config.opponent is not None:
        raise ValueError("an env pool plays one seat: it cannot take an opponent")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError(
            "an env pool serves one trainer process, not torchrun's ranks: run one process "
            "and give the pool more actors"
        )


def _offer_best(config: RLConfig, run: _Training, step: int, record: dict) -> None:
    """Keep the model in ``out_dir/best`` if ``record`` is its best evaluation so far."""
    metric = config.keep_best
    if metric not in record:
        found = ", ".join(sorted(k for k in record if k != "step")) or "none"
        raise ValueError(
            f"keep_best {metric!r} is not a metric of the evaluations (they have: {found})"
        )
    value = float(record[metric])
    best = run.best
    checked = {**(best or {}).get("checked", {}), str(step): value}
    better = (
        best is None
        or (config.keep_best_mode == "max" and value > best["value"])
        or (config.keep_best_mode == "min" and value < best["value"])
    )
    if better:
        best = {"metric": metric, "mode": config.keep_best_mode, "step": step, "value": value}
    run.best = {**best, "checked": checked}
    text = json.dumps(run.best, indent=2) + "\n"
    if better:

        def extra(folder: Path) -> None:
            config.view.save(folder)
            (folder / BEST_FILE).write_text(text)

        save_model(best_dir(config.out_dir), run.model, run.tokenizer, extra)
    else:
        write_text_atomically(best_dir(config.out_dir) / BEST_FILE, text)


def _summary(record: dict) -> tuple[str, str]:
    """The step's reward and reward variance, and its greedy evaluations ("" if none)."""
    reward = f"reward {record['reward/total']:.3f} var {record['rollout/groups_with_variance']:.2f}"
    evals = [k for k in record if k.startswith("eval/") and k.endswith("/reward")]
    greedy = ", ".join(f"{k.split('/')[1]} {record[k]:.3f}" for k in evals)
    return reward, f"greedy reward {greedy}" if evals else ""


def _print_progress(record: dict, done: int, total: int, config: RLConfig) -> None:
    """The progress line printed when no bar shows (a log file, a pipe)."""
    elapsed = record["time/elapsed_s"]
    eta = elapsed / done * (total - done)
    reward, evals = _summary(record)
    line = f"step {record['step']}/{config.steps} {reward} [{elapsed:.0f}s, eta {eta:.0f}s]"
    print(line + (f" | {evals}" if evals else ""), flush=True)


def _plot(metrics_path: Path, png: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("matplotlib") is not None and metrics_path.exists():
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
    write_text_atomically(path, "".join(line + "\n" for line in keep))
