"""Learning on envs other than tic-tac-toe: base model -> SFT on an imperfect reference
teacher's episodes -> CISPO, each stage evaluated on the same held-out episodes.

    python examples/learning_study.py --env TextCalculator-v0 [--out runs/study]

Every stage uses the library as the command line does (``textgym train sft``,
``textgym train rl``, ``textgym eval``); the settings of each env are in ``RECIPES`` and
are printed with the results. Finished stages are kept and skipped when the command is
run again. The table and what was tried are in ``docs/any-env-study.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from textgym.evaluation import evaluate
from textgym.models.loading import load_model
from textgym.models.tiny import build_tiny_model
from textgym.policies.by_name import make_policy
from textgym.policies.hf import HFPolicy
from textgym.trainers.rl import RLConfig, train_rl
from textgym.trainers.sft import SFTConfig, train_sft
from textgym.view import View


@dataclass(frozen=True)
class Recipe:
    """Everything a run of one env needs."""

    teacher: str = "reference:0.5"
    condition: str = "default"
    """The held-out evaluation's reset options."""
    system_prompt: str | None = ""
    history: str = "full"
    max_new_tokens: int = 32
    hidden_size: int = 64
    num_layers: int = 2
    games: int = 2000
    min_reward: float = 0.5
    sft_epochs: int = 4
    sft_batch_size: int = 64
    sft_lr: float = 3e-3
    rl_steps: int = 30
    games_per_batch: int = 128
    group_size: int = 8
    rl_lr: float = 3e-4
    temperature: float = 1.0
    curriculum: dict[str, tuple[float, float]] | None = None
    eval_episodes: int = 200
    eval_every: int = 0
    """Steps between greedy checks logged during RL (other seeds than the final table's)."""
    seed: int = 0


RECIPES: dict[str, Recipe] = {
    "TextReverse-v0": Recipe(
        teacher="reference:0.2",
        condition="length=6",
        history="last",
        max_new_tokens=24,
        games=8000,
        min_reward=0.0,
        sft_epochs=6,
        rl_steps=100,
        curriculum={"length": (6, 6)},
    ),
    "TextMastermind-v0": Recipe(
        teacher="reference:0.5",
        condition="length=3;colors=3;guesses=4",
        history="last",
        max_new_tokens=24,
        games=4000,
        sft_epochs=3,
        rl_steps=120,
        rl_lr=5e-4,
        games_per_batch=256,
        eval_every=20,
        curriculum={"length": (3, 3), "colors": (3, 3), "guesses": (4, 4)},
    ),
    "TextCalculator-v0": Recipe(
        teacher="reference:0.8",
        condition="steps=1",
        max_new_tokens=96,
        games=4000,
        sft_epochs=6,
        rl_steps=30,
        games_per_batch=64,
        eval_every=10,
        curriculum={"steps": (1, 1)},
    ),
    "TextSQL-v0": Recipe(teacher="reference:0.8", max_new_tokens=160, games=1500),
}


def _eval(name: str, policy: Any, view: View, recipe: Recipe, out: Path) -> dict[str, Any]:
    summary = evaluate(
        name,
        recipe.condition,
        episodes=recipe.eval_episodes,
        seed=10_000 + recipe.seed,  # held out: training seeds derive from other streams
        out=out / "results.jsonl",
        resume=True,
        policy_obj=policy,
        view=view,
    )
    row = {"stage": name, "reward": summary.mean_reward, "stderr": summary.stderr}
    row.update({m: summary.metric(m) for m in summary.metric_names()})
    return row


def run(env_id: str, recipe: Recipe, out: Path) -> list[dict[str, Any]]:
    """Every stage not done yet; returns the evaluation rows."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps(recipe.__dict__, indent=2))
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    view = View(env_id, recipe.system_prompt, recipe.history, recipe.max_new_tokens)  # type: ignore[arg-type]
    rows = []

    def hf(path: Path, temperature: float = 0.0) -> HFPolicy:
        model, tok = load_model(path)
        return HFPolicy(model, tok, temperature=temperature, max_new_tokens=recipe.max_new_tokens)

    base = out / "base"
    if not (base / "config.json").exists():
        build_tiny_model(
            base, hidden_size=recipe.hidden_size, num_layers=recipe.num_layers, seed=recipe.seed
        )
    rows.append(_eval("base", hf(base), view, recipe, out))
    teacher = make_policy(recipe.teacher, env_id, seed=recipe.seed)
    rows.append(_eval(f"teacher ({recipe.teacher})", teacher, view, recipe, out))

    sft = out / "sft"
    if not (sft / "config.json").exists():
        started = time.perf_counter()
        result = train_sft(
            SFTConfig(
                model=str(base),
                out_dir=str(sft),
                games=recipe.games,
                min_reward=recipe.min_reward,
                curriculum=recipe.curriculum,
                **view.to_json(),
                epochs=recipe.sft_epochs,
                batch_size=recipe.sft_batch_size,
                lr=recipe.sft_lr,
                seed=recipe.seed,
            ),
            teacher=make_policy(recipe.teacher, env_id, seed=recipe.seed + 1),
        )
        print(f"[{env_id}] SFT on {result.kept}/{result.games} episodes, {result.turns} turns")
        timings["sft_s"] = time.perf_counter() - started
        timings_path.write_text(json.dumps(timings))
    rows.append(_eval("SFT", hf(sft), view, recipe, out))

    rl = out / "rl"
    started = time.perf_counter()
    config = RLConfig(
        model=str(sft),
        out_dir=str(rl),
        steps=recipe.rl_steps,
        games_per_batch=recipe.games_per_batch,
        group_size=recipe.group_size,
        lr=recipe.rl_lr,
        temperature=recipe.temperature,
        max_new_tokens=recipe.max_new_tokens,
        curriculum=recipe.curriculum,
        history=recipe.history,  # type: ignore[arg-type]
        system_prompt=recipe.system_prompt,
        env_id=env_id,
        num_envs=128,
        eval_every=recipe.eval_every,
        eval_games=100,
        eval_conditions=(recipe.condition,),
        seed=recipe.seed + 1,
        device="cpu",
    )
    done = train_rl(config, resume=True)
    if done:
        timings["rl_s"] = timings.get("rl_s", 0.0) + time.perf_counter() - started
        timings_path.write_text(json.dumps(timings))
    rows.append(_eval("SFT + CISPO", hf(rl / "checkpoint"), view, recipe, out))
    (out / "summary.json").write_text(json.dumps({"rows": rows, "timings": timings}, indent=2))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, choices=sorted(RECIPES))
    parser.add_argument("--out", default="runs/study")
    parser.add_argument("--rl-steps", type=int, default=None)
    args = parser.parse_args()
    recipe = RECIPES[args.env]
    if args.rl_steps is not None:
        recipe = replace(recipe, rl_steps=args.rl_steps)
    rows = run(args.env, recipe, Path(args.out) / args.env)
    for row in rows:
        extra = ", ".join(f"{k} {v:.3f}" for k, v in row.items() if k not in ("stage",))
        print(f"{args.env} | {row['stage']} | {extra}")


if __name__ == "__main__":
    main()
