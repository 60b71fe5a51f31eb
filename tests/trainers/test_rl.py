"""The RL loop on the tiny model: metrics, checkpoints, and exact resume."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

torch = pytest.importorskip("torch")

from textgym.models.loading import load_model  # noqa: E402
from textgym.trainers.rl import RLConfig, train_rl  # noqa: E402


def config(model, out, steps):
    return RLConfig(
        model=str(model),
        out_dir=str(out),
        steps=steps,
        games_per_batch=8,
        group_size=4,
        max_new_tokens=16,
        num_envs=8,
        micro_batch_tokens=1024,
        checkpoint_every=1,
        lr=1e-2,
        # bit-exact resume is a CPU promise; CUDA kernels with atomic adds may differ in
        # the last bits from run to run
        device="cpu",
    )


def test_runs_logs_and_resumes_exactly(warm_model, tmp_path) -> None:
    straight = tmp_path / "straight"
    history = train_rl(config(warm_model, straight, 3), progress=False)
    assert any(h["rollout/groups_with_variance"] > 0 for h in history)
    lines = (straight / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3]
    for key in (
        "reward/total",
        "reward/format",
        "reward/outcome",
        "reward/invalid_penalty",
        "loss/cispo",
        "loss/clip_frac",
        "rollout/groups_with_variance",
    ):
        assert key in json.loads(lines[0])

    resumed = tmp_path / "resumed"
    train_rl(config(warm_model, resumed, 2), progress=False)
    with (resumed / "metrics.jsonl").open("a") as fh:  # a step that never got checkpointed
        fh.write(json.dumps({"step": 3, "reward/total": 99}) + "\n")
    train_rl(config(warm_model, resumed, 3), resume=True, progress=False)
    steps = [json.loads(x)["step"] for x in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]

    a, _ = load_model(straight / "checkpoint")
    b, _ = load_model(resumed / "checkpoint")
    start, _ = load_model(warm_model)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert any(
        not torch.equal(pa, p0) for pa, p0 in zip(a.parameters(), start.parameters(), strict=True)
    )
    assert (straight / "training.png").read_bytes()[:4] == b"\x89PNG"
    shutil.rmtree(straight)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"games_per_batch": 10, "group_size": 4}, "multiple"),
        ({"lr": 0}, "lr"),
        ({"curriculum": {"random_move_prob": (0.8, 0.2)}}, "random_move_prob"),
        ({"curriculum": {"random_move_prob": (0.0, 2.0)}}, "within"),
        ({"curriculum": {"length": (2, 4)}}, "no curriculum option 'length'"),
        ({"group_size": 1}, "group_size"),
        ({"advantage_scale": "rank"}, "advantage_scale"),
        ({"replay_share": 1.5}, "replay_share"),
        ({"replay_options": {"random_move_prob": -0.1}}, "random_move_prob"),
        ({"replay_options": {"colour": 1}}, "unknown reset option"),
        ({"replay_turns": 0}, "replay_turns"),
        ({"eval_conditions": ("hard",)}, "unknown condition 'hard'"),
        ({"dtype": "int8"}, "dtype must be one of"),
        ({"lora_rank": 0}, "lora_rank must be a whole number"),
    ],
)
def test_bad_config_is_refused_before_any_work(tiny_model_path, tmp_path, kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        RLConfig(model=str(tiny_model_path), out_dir=str(tmp_path), **kwargs)
    # a missing model: train_rl refuses it first (a pipeline plans rounds ahead of the
    # models they start from, so RLConfig itself does not look)
    missing = RLConfig(model=str(tmp_path / "missing"), out_dir=str(tmp_path / "out"))
    with pytest.raises(ValueError, match="neither a folder"):
        train_rl(missing, progress=False)
    assert not (tmp_path / "out").exists()


def test_each_torchrun_rank_needs_its_own_gpu(warm_model, tmp_path, monkeypatch) -> None:
    from textgym.trainers import rl

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "0")
    auto = RLConfig(model=str(warm_model), out_dir=str(tmp_path), device="auto")
    assert rl._device(auto) == "cuda:0"
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ValueError, match="local rank 1 has no GPU"):
        rl._device(auto)
    assert rl._device(config(warm_model, tmp_path, 1)) == "cpu"  # an explicit CPU run


def test_replayed_groups_start_where_the_policy_lost_and_resume_exactly(
    warm_model, tmp_path
) -> None:
    def replaying(out, steps):
        return dataclasses.replace(
            config(warm_model, out, steps),
            curriculum={"random_move_prob": (0.0, 0.0)},
            replay_share=0.5,
        )

    straight = tmp_path / "straight"
    history = train_rl(replaying(straight, 3), progress=False)
    assert history[0]["replay/groups"] == 0.0  # nothing lost yet
    assert history[0]["replay/positions"] > 0  # the warm model loses to perfect play
    assert any(h["replay/groups"] > 0 for h in history[1:])
    state = torch.load(straight / "checkpoint" / "trainer_state.pt", weights_only=False)
    assert state["replay"] and all(set(p) == {"board", "agent_mark"} for p in state["replay"])

    resumed = tmp_path / "resumed"
    train_rl(replaying(resumed, 2), progress=False)
    train_rl(replaying(resumed, 3), resume=True, progress=False)
    a, _ = load_model(straight / "checkpoint")
    b, _ = load_model(resumed / "checkpoint")
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_full_history_trains_merged_episodes_with_the_same_step(warm_model, tmp_path) -> None:
    """With full history the warm model's episodes keep the exact prefix and train as one
    sequence each; the first step's loss is the per-turn one (same rollouts, same seed)."""
    runs = {}
    for merge in (True, False):
        cfg = dataclasses.replace(
            config(warm_model, tmp_path / str(merge), 1), history="full", merge_turns=merge
        )
        runs[merge] = train_rl(cfg, progress=False)[0]
    merged, per_turn = runs[True], runs[False]
    assert merged["prefix/episodes_merged"] > 0.5
    assert merged["prefix/turns_kept"] == per_turn["prefix/turns_kept"]
    assert merged["reward/total"] == per_turn["reward/total"]
    assert merged["loss/cispo"] == pytest.approx(per_turn["loss/cispo"], abs=1e-5)
    assert merged["loss/grad_norm"] == pytest.approx(per_turn["loss/grad_norm"], rel=1e-4)


def _weights(model) -> list:
    return [p.detach().clone() for p in model.parameters()]


def _same(a: list, b: list) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(("values", "kept"), [((5.0, 3.0, 4.0), 1), ((1.0, 3.0, 4.0), 0)])
def test_keep_best_keeps_the_lowest_checked_model_start_included(
    warm_model, tmp_path, values, kept
) -> None:
    """Scripted check values (step 0 = the start, then steps 1 and 2): best/ holds the
    weights the model had at the step with the lowest value, and best.json says so."""
    seen: list[list] = []

    def checks(model, tokenizer) -> dict[str, float]:
        seen.append(_weights(model))
        return {"audit/x": values[len(seen) - 1]}

    run = dataclasses.replace(
        config(warm_model, tmp_path / "run", 2),
        eval_every=1,
        keep_best="audit/x",
        keep_best_mode="min",
    )
    history = train_rl(run, progress=False, checks=checks)
    assert [h["audit/x"] for h in history] == list(values[1:])
    assert len(seen) == 3 and not _same(seen[0], seen[1])
    best = json.loads((tmp_path / "run" / "best" / "best.json").read_text())
    assert best["step"] == kept and best["value"] == min(values)
    assert best["checked"] == {str(i): v for i, v in enumerate(values)}
    model, _ = load_model(tmp_path / "run" / "best")
    assert _same(_weights(model), seen[kept])
    assert (tmp_path / "run" / "best" / "textgym_view.json").exists()


def test_keep_best_resumes_without_checking_the_start_again(warm_model, tmp_path) -> None:
    calls: list[int] = []

    def checks(model, tokenizer) -> dict[str, float]:
        calls.append(1)
        return {"audit/x": float(len(calls))}  # rising: the max mode keeps the newest

    run = dataclasses.replace(config(warm_model, tmp_path, 1), eval_every=1, keep_best="audit/x")
    train_rl(run, progress=False, checks=checks)
    train_rl(dataclasses.replace(run, steps=2), resume=True, progress=False, checks=checks)
    best = json.loads((tmp_path / "best" / "best.json").read_text())
    assert len(calls) == 3  # steps 0 and 1, then only step 2
    assert best["step"] == 2 and set(best["checked"]) == {"0", "1", "2"}


def test_keep_best_refuses_a_metric_no_evaluation_has(warm_model, tmp_path) -> None:
    with pytest.raises(ValueError, match="needs evaluations"):
        dataclasses.replace(config(warm_model, tmp_path, 1), keep_best="audit/x")
    with pytest.raises(ValueError, match="keep_best_mode"):
        dataclasses.replace(config(warm_model, tmp_path, 1), keep_best_mode="lowest")
    run = dataclasses.replace(config(warm_model, tmp_path, 1), eval_every=1, keep_best="audit/typo")
    with pytest.raises(ValueError, match=r"'audit/typo' is not a metric.*audit/x"):
        train_rl(run, progress=False, checks=lambda model, tok: {"audit/x": 0.0})
    assert not (tmp_path / "metrics.jsonl").exists()  # refused before the first step
    assert not (tmp_path / "checkpoint").exists()
