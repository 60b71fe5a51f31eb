"""The settings of the two training stages, :class:`SFTConfig` and :class:`RLConfig`: plain
dataclasses checked when made, importable without torch (the command line builds its
``train`` options from them: their defaults and field docs)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from textgym.evaluation import condition_options
from textgym.models.files import check_dtype, check_rank_value
from textgym.trainers.groups import resolve_curriculum
from textgym.trainers.opponents import check_opponent_env, parse_opponent
from textgym.view import View


@dataclass
class SFTConfig:
    """Settings of the SFT stage: what :func:`train_sft` plays, trains and saves, and the
    training settings :func:`sft_train` uses on its own."""

    model: str | None = None
    """The model to start from (a folder, a GGUF file or an adapter folder); needed by
    :func:`train_sft` only."""
    out_dir: str | None = None
    """Where :func:`train_sft` saves the trained model (epochs done so far are kept in
    ``OUT_DIR.partial`` until it is saved)."""
    teacher: str = "reference:0.7"
    """The teacher, by policy name (:func:`textgym.policies.by_name.make_policy`)."""
    games: int = 8000
    """Episodes the teacher plays."""
    min_reward: float = 0.5
    """Keep the teacher's episodes with at least this total reward."""
    curriculum: dict[str, tuple[float, float]] | None = None
    """Reset options drawn uniformly for the teacher's episodes (None: the env's declared
    ranges; ``{}``: none)."""
    env_id: str = View.env_id
    """The environment."""
    system_prompt: str | None = View.system_prompt
    """Replaces the env's system prompt (None keeps it; "": no system message)."""
    history: Literal["full", "last"] = View.history
    """What the model sees each turn (see :func:`textgym.rollout.rollout`)."""
    max_new_tokens: int = View.max_new_tokens
    """Answer budget per turn (the teacher's, and recorded with the model)."""
    base_url: str | None = None
    """The server of an ``openai:`` teacher."""
    lora_rank: int | None = None
    """Train a LoRA adapter of this rank instead of the whole model."""
    device: str = "cpu"
    """Where the model trains."""
    dtype: str = "float32"
    """Weights' dtype (see :data:`textgym.models.files.DTYPES`)."""
    epochs: int = 6
    """Passes over the teacher's turns."""
    batch_size: int = 256
    """Turns per optimizer step."""
    micro_batch_tokens: int = 4096
    """Most padded tokens (rows times the longest row) per forward/backward pass; more
    accumulate their gradients. Bounds a step's activation memory, whatever the number of
    games (SmolLM2-135M on CPU: about 1 MB a token)."""
    lr: float = 3e-3
    """AdamW learning rate (the peak, with ``schedule="cosine"``)."""
    schedule: Literal["constant", "cosine"] = "constant"
    """``cosine``: the learning rate falls from ``lr`` to 0 along a half cosine over all
    steps."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Gradient norm clip."""
    seed: int = 0
    """Root of the teacher's episodes, the adapter's initial weights and the shuffling."""

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.micro_batch_tokens < 1:
            raise ValueError(
                "epochs, batch_size and micro_batch_tokens must be >= 1, got "
                f"{self.epochs}, {self.batch_size}, {self.micro_batch_tokens}"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if isinstance(self.games, bool) or not isinstance(self.games, int) or self.games < 1:
            raise ValueError(f"games must be a whole number >= 1, got {self.games!r}")
        check_dtype(self.dtype)
        if self.lora_rank is not None:
            check_rank_value(self.lora_rank)
        self.view  # noqa: B018  (checks history and max_new_tokens)

    @property
    def view(self) -> View:
        """What the model sees (recorded in the saved model's folder)."""
        return View.of(self)


#: The settings :func:`sft_train` uses; a saved SFT state must match them to continue.
SFT_TRAINING_FIELDS = (
    "epochs",
    "batch_size",
    "lr",
    "schedule",
    "weight_decay",
    "grad_clip",
    "seed",
)


@dataclass
class RLConfig:
    """Settings of one RL run."""

    model: str
    """Folder of the starting model (``save_pretrained`` layout)."""
    out_dir: str
    """Where checkpoints and ``metrics.jsonl`` go."""
    steps: int = 30
    """Optimizer steps to reach (counting steps done before a resume)."""
    games_per_batch: int = 256
    """Episodes played per step. Small batches (< 256) were seen to collapse training."""
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
    max_new_tokens: int = View.max_new_tokens
    """Answer budget per turn."""
    clip_max: float = 5.0
    """Absolute cap of CISPO's detached importance weight."""
    grad_clip: float = 1.0
    """Gradient norm clip."""
    micro_batch_tokens: int = 4096
    """Most padded tokens (rows times the longest row) per forward/backward pass; more
    accumulate their gradients. Bounds a step's activation memory, whatever the number of
    games (SmolLM2-135M on CPU: about 1 MB a token)."""
    curriculum: dict[str, tuple[float, float]] | None = None
    """Reset options to vary, each with its (low, high) range, stratified in every batch.
    None: every option the env declares, over its whole range
    (:meth:`textgym.core.TextEnv.curriculum_options`); ``{}``: none. Each name must be one
    the env declares, each range inside the declared one."""
    buckets: int = 4
    """Strata of each curriculum range; every batch holds an equal share of each."""
    replay_share: float = 0.0
    """Share of each batch's groups that restart from a state of an episode the policy lost
    in an earlier step (:mod:`textgym.trainers.replay`); 0 turns replay off. Needs an env
    that reports ``restart_options`` (the tic-tac-toe envs); with any other env nothing is
    replayed. The states are part of the checkpoint; under torchrun each rank replays its
    own episodes and a resumed run gives every rank rank 0's states."""
    replay_turns: int = 2
    """How many of a lost episode's last states are kept for replay."""
    replay_below: float = 0.5
    """An episode is lost when its summed ``outcome`` reward is below this."""
    replay_options: dict[str, Any] = field(default_factory=dict)
    """Reset options added to replayed groups (e.g. tic-tac-toe's perfect opponent,
    ``{"random_move_prob": 0.0}``, which punishes every mistake)."""
    replay_size: int = 2000
    """Most states kept (the newest)."""
    history: Literal["last", "full"] = View.history
    """What the model sees each turn (see :func:`textgym.rollout.rollout`)."""
    merge_turns: bool = True
    """With ``history="full"``, train an episode as one sequence when the chat template
    kept every prompt as the exact prefix of the next (the same loss, one forward pass per
    episode instead of one per turn); other episodes train one sequence per turn. The
    metrics report the share as ``prefix/turns_kept`` and ``prefix/episodes_merged``
    (:mod:`textgym.trainers.tokens`)."""
    num_envs: int = 64
    """Episodes played at once during rollouts."""
    checkpoint_every: int = 10
    """Steps between checkpoints (the last step is always saved)."""
    env_id: str = View.env_id
    """The environment."""
    system_prompt: str | None = View.system_prompt
    """Replaces the env's system prompt in every conversation (None keeps it)."""
    eval_every: int = 0
    """Steps between greedy evaluations under each of the env's evaluation conditions (0:
    never; the results go into the metrics as ``eval/<condition>/<metric>``)."""
    eval_games: int = 100
    """Episodes per condition in those evaluations (fixed seeds)."""
    eval_conditions: tuple[str, ...] | None = None
    """The conditions of those evaluations (names or ``NAME=VALUE`` pairs, see
    :func:`textgym.evaluation.evaluate`); None: the env's own evaluation conditions."""
    keep_best: str | None = None
    """A metric of the evaluations (``eval/<condition>/reward``, or one the ``checks`` of
    :func:`~textgym.trainers.rl.train_rl` return): the model where it was best so far, the
    start included, is kept in ``out_dir/best``, with ``best.json`` (its step, its value,
    and every value checked). Needs ``eval_every``; None: only the last step is kept."""
    keep_best_mode: Literal["max", "min"] = "max"
    """Whether the best value of ``keep_best`` is the highest or the lowest."""
    opponent: str | None = None
    """Who plays the other seat of a two-player env (:mod:`textgym.trainers.opponents`):
    None, the env's own opponent (its bot, under the curriculum); ``"self"``, the model
    being trained, both seats trainable, each seat's advantage relative to its own seat's
    rollouts of the group; ``"snapshot:K"``, a frozen copy of the model refreshed every K
    steps, drawn each step from the last ``opponent_pool`` copies. Needs
    ``history="last"``; the env's curriculum and replay (its bot's settings) do not
    apply."""
    opponent_pool: int = 4
    """With ``opponent="snapshot:K"``: how many of the latest snapshots the opponent is
    drawn from."""
    dtype: str = "float32"
    """Weights' dtype: ``float32``, ``bfloat16``, ``float16``, ``auto`` (bfloat16 on a
    CUDA device that supports it, else float32) or ``bfloat16-mixed`` (float32 weights
    that compute in bfloat16). Log-probs are computed in float32 from the logits either
    way."""
    lora_rank: int | None = None
    """Train a LoRA adapter of this rank instead of the whole model (:mod:`textgym.models.lora`);
    checkpoints then hold only the adapter, and load on their base model anywhere a model
    folder does."""
    lora_alpha: float | None = None
    """The adapter's scale numerator (None: ``2 * lora_rank``)."""
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
        if not (isinstance(self.replay_share, (int, float)) and 0.0 <= self.replay_share <= 1.0):
            raise ValueError(f"replay_share must be in [0, 1], got {self.replay_share!r}")
        if self.advantage_scale not in ("none", "std"):
            raise ValueError(
                f"advantage_scale must be 'none' or 'std', got {self.advantage_scale!r}"
            )
        for name in (
            "max_new_tokens",
            "micro_batch_tokens",
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
        check_dtype(self.dtype)
        if self.lora_rank is not None:
            check_rank_value(self.lora_rank)
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}")
        if self.keep_best_mode not in ("max", "min"):
            raise ValueError(f"keep_best_mode must be 'max' or 'min', got {self.keep_best_mode!r}")
        if self.keep_best is not None and not self.eval_every:
            raise ValueError(
                f"keep_best ({self.keep_best!r}) needs evaluations: set eval_every >= 1"
            )
        if self.device != "auto" and not self.device.startswith(("cpu", "cuda", "mps")):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        self.view  # noqa: B018  (checks history and max_new_tokens)
        if self.eval_conditions is not None:
            self.eval_conditions = tuple(self.eval_conditions)
            for condition in self.eval_conditions:
                condition_options(self.env_id, condition)
        if self.opponent_pool < 1:
            raise ValueError(f"opponent_pool must be >= 1, got {self.opponent_pool}")
        if self.opponent is not None:
            parse_opponent(self.opponent)
            check_opponent_env(self.env_id, self.history)
            if self.curriculum:
                raise ValueError(
                    f"a curriculum ({', '.join(self.curriculum)}) sets {self.env_id}'s own "
                    f"opponent, which opponent={self.opponent!r} replaces: leave it out"
                )
            if self.replay_share > 0 or self.replay_options:
                raise ValueError(
                    f"replay restarts lost positions against {self.env_id}'s own opponent; "
                    f"with opponent={self.opponent!r} set replay_share to 0"
                )
            self.curriculum = {}
        resolve_curriculum(self.env_id, self.curriculum, self.replay_options)

    @property
    def view(self) -> View:
        """What the model sees (recorded in the checkpoint folder)."""
        return View.of(self)


__all__ = ["RLConfig", "SFTConfig"]
