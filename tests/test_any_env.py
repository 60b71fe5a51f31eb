"""Proof that the library is generic: every registered env is rolled out by a tiny model,
evaluated, and trained (one SFT step on its reference teacher's episodes, one CISPO step),
through the Python API and through the command line."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import gymnasium as gym
import pytest

import textgym
from textgym.cli import main
from textgym.evaluation import evaluate, evaluation_conditions
from textgym.policies.by_name import make_policy
from textgym.rollout import rollout

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from textgym.policies.hf import HFPolicy, load_model  # noqa: E402
from textgym.rollout import reference_answer_tokens  # noqa: E402
from textgym.trainers.rl import RLConfig, train_rl  # noqa: E402
from textgym.trainers.sft import SFTConfig, sft_tokens, sft_train, teacher_episodes  # noqa: E402
from textgym.view import View  # noqa: E402

ENV_IDS = textgym.registered_env_ids()
ROOT = Path(__file__).resolve().parents[1]


def _budget(env_id: str, tokenizer) -> int:
    need = reference_answer_tokens(View(env_id), tokenizer)
    assert need is not None, f"{env_id} has no reference player"
    return need + 4


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.slow
def test_every_env_rolls_out_evaluates_and_trains_through_the_api(
    env_id, tiny_model_path, tmp_path
) -> None:
    model, tok = load_model(tiny_model_path)
    budget = _budget(env_id, tok)
    policy = HFPolicy(model, tok, temperature=1.0, max_new_tokens=budget, seed=0)

    # a tiny model plays: exact ids and log-probs for every answer
    episodes = rollout(policy, env_id, [0, 1], num_envs=2, max_turns=3)
    assert len(episodes) == 2
    for turn in (t for e in episodes for t in e.turns):
        assert turn.completion.completion_ids and turn.completion.logprobs is not None
        assert len(turn.completion.completion_ids) <= budget

    # evaluated under the env's first condition: a reward with its standard error
    condition = evaluation_conditions(env_id)[0]
    summary = evaluate("tiny", condition, episodes=2, policy_obj=policy, view=env_id)
    assert len(summary) == 2 and math.isfinite(summary.mean_reward)
    assert summary.answer_tokens is not None and summary.answer_tokens > 0

    # one SFT step on the imperfect reference teacher's episodes
    teacher = make_policy("reference:0.8", env_id, seed=0)
    kept, played = teacher_episodes(
        teacher,
        View(env_id, history="full"),
        6,
        seed=0,
        min_reward=-10.0,  # keep every game
    )
    assert len(played) == 6 and len(kept) == 6
    before = [p.detach().clone() for p in model.parameters()]
    losses = sft_train(model, tok, sft_tokens(kept, tok), SFTConfig(epochs=1, batch_size=512))
    assert len(losses) == 1 and math.isfinite(losses[0])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    warm = tmp_path / "warm"
    model.save_pretrained(warm)
    tok.save_pretrained(warm)

    # one CISPO step over the env's curriculum
    config = RLConfig(
        model=str(warm),
        out_dir=str(tmp_path / "rl"),
        steps=1,
        games_per_batch=4,
        group_size=2,
        num_envs=4,
        history="full",
        max_new_tokens=budget,
        env_id=env_id,
        device="cpu",
    )
    history = train_rl(config, progress=False)
    assert len(history) == 1 and math.isfinite(history[0]["loss/cispo"])
    assert (tmp_path / "rl" / "checkpoint" / "textgym_view.json").exists()


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.slow
def test_every_env_through_the_command_line(env_id, tiny_model_path, tmp_path, capsys) -> None:
    assert main(["eval", "--env", env_id, "--policy", "reference", "--episodes", "3"]) == 0
    out = capsys.readouterr().out
    assert " reward " in out.splitlines()[1] and "± s.e." in out

    sft = tmp_path / "sft"
    argv = ["train", "sft", "--env", env_id, "--model", str(tiny_model_path), "--out", str(sft)]
    argv += ["--teacher", "reference:0.8", "--games", "6", "--epochs", "1", "--min-reward", "-10"]
    assert main(argv) == 0, capsys.readouterr().err
    view = json.loads((sft / "textgym_view.json").read_text())
    assert view["env_id"] == env_id and view["history"] == "full"

    rl = tmp_path / "rl"
    argv = ["train", "rl", "--model", str(sft), "--out", str(rl), "--steps", "2"]
    argv += ["--games-per-batch", "4", "--group-size", "2", "--eval-every", "0", "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
    assert len((rl / "metrics.jsonl").read_text().splitlines()) == 2
    # the trained model's recorded view is the default of eval: no --env needed
    capsys.readouterr()
    argv = ["eval", "--policy", f"hf:{rl / 'checkpoint'}", "--episodes", "2"]
    assert main(argv) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith(f"{env_id}: ")


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_curriculum_options_are_accepted_in_range_and_refused_outside(env_id) -> None:
    env = gym.make(env_id)
    try:
        ranges = env.unwrapped.curriculum_options()
        for name, spec in ranges.items():
            for value in (spec.low, spec.high):
                value = int(value) if spec.integer else value
                env.reset(seed=0, options={name: value})
            with pytest.raises(ValueError, match=name):
                env.reset(seed=0, options={name: spec.high + 1})
        with pytest.raises(ValueError, match="unknown reset option"):
            env.reset(seed=0, options={"no_such_option": 1})
    finally:
        env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_every_env_reports_episode_metrics_and_its_reference_beats_its_teacher(env_id) -> None:
    perfect = evaluate("reference", "default", episodes=12, num_envs=4, view=env_id)
    noisy = evaluate("reference:0.3", "default", episodes=12, num_envs=4, view=env_id)
    for summary in (perfect, noisy):
        assert all(r["metrics"] for r in summary.records)
        assert set(summary.rates) <= set(summary.metric_names())
    assert perfect.mean_reward >= noisy.mean_reward


def test_non_tic_tac_toe_envs_declare_a_curriculum() -> None:
    declared = {}
    for env_id in ("TextReverse-v0", "TextMastermind-v0", "TextCalculator-v0"):
        env = gym.make(env_id)
        declared[env_id] = set(env.unwrapped.curriculum_options())
        env.close()
    assert declared == {
        "TextReverse-v0": {"length"},
        "TextMastermind-v0": {"length", "colors", "guesses"},
        "TextCalculator-v0": {"steps"},
    }


GENERIC = ["core.py", "parsing.py", "rollout.py", "evaluation.py", "view.py", "plots.py"]
GENERIC += ["wrappers", "policies", "trainers", "utils", "envs/base"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_generic_layers_import_no_task() -> None:
    files = []
    for entry in GENERIC:
        target = ROOT / "textgym" / entry
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert len(files) > 15
    offenders = {
        str(f.relative_to(ROOT)): sorted(
            m for m in _imports(f) if m.startswith("textgym.envs.") and ".base" not in m
        )
        for f in files
    }
    assert {f: m for f, m in offenders.items() if m} == {}
