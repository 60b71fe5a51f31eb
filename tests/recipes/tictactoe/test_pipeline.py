"""textgym pipeline end to end on a minute's worth of settings: stages, report, resume."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytest.importorskip("torch")

from textgym.cli import main
from textgym.recipes.tictactoe import audit
from textgym.recipes.tictactoe.pipeline import PipelineConfig, preset_config, run_pipeline

pytestmark = [pytest.mark.slow]

SMALL = dict(
    hidden_size=32,
    teacher_games=40,
    sft_epochs=1,
    rl1_steps=1,
    rl2_steps=1,
    games_per_batch=8,
    group_size=4,
    eval_episodes=6,
    eval_every=1,
    audit=False,
)


def test_pipeline_runs_every_stage_and_reruns_nothing(tmp_path, monkeypatch) -> None:
    # the audit code path in full, on every 40th position (all 9,040 take minutes here)
    every = audit.reachable_positions()
    monkeypatch.setattr(audit, "reachable_positions", lambda: every[::40])
    out = tmp_path / "run"
    settings = {**SMALL, "audit": True}
    report = run_pipeline(preset_config("quick", out_dir=str(out), **settings), progress=False)
    players = {r.stage for r in report.rows}
    assert players == {"perfect", "teacher (teacher:0.7)", "base", "SFT", "RL1", "RL2", "RL2 (T=1)"}
    assert {r.opponent for r in report.rows} == {"random", "optimal"}
    assert all(r.games == 6 for r in report.rows)
    perfect = next(r for r in report.rows if r.stage == "perfect" and r.opponent == "optimal")
    assert perfect.loss == 0.0 and perfect.format == 100.0
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out / "base")
    assert len(tok("<move>5</move>").input_ids) == 14  # characters (tag_tokens off)
    text = (out / "report.md").read_text()
    assert "| RL2 | optimal | 6 |" in text
    assert (out / "results-optimal.png").exists() and "results-optimal.png" in text
    assert json.loads((out / "config.json").read_text())["preset"] == "quick"
    for name in ("rl1", "rl2"):
        metrics = [json.loads(x) for x in (out / name / "metrics.jsonl").read_text().splitlines()]
        assert "eval/optimal/loss" in metrics[-1]
        assert (out / name / "checkpoint" / "config.json").exists()
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 7 * 2 * 6
    audits = {a.stage: a for a in report.audits}
    assert set(audits) == {"perfect", "teacher (teacher:0.7)", "base", "SFT", "RL1", "RL2"}
    assert audits["perfect"].optimal == 100.0 and audits["perfect"].positions == 226
    assert audits["base"].legal < 50.0  # random weights rarely answer in format
    assert "| perfect | 226 | 100.0 | 100.0 |" in text
    # against every line of perfect play: the perfect player never loses, the base model
    # (random weights, answers out of format) forfeits every game
    assert (audits["perfect"].lines_mistakes, audits["perfect"].lines_loss) == (0, 0.0)
    assert audits["perfect"].lines_positions > 100
    assert audits["base"].lines_loss == pytest.approx(100.0)
    audit_lines = (out / "audit.jsonl").read_text().splitlines()
    assert len(audit_lines) == 6
    timings = json.loads((out / "timings.json").read_text())
    assert set(timings) == {"base", "sft", "rl1", "rl2", "total"}

    # the same command again finds every stage done: nothing is played or trained twice
    sft_before = (out / "sft" / "model.safetensors").stat().st_mtime_ns
    # a peak recorded by an earlier call (another process) is kept, not overwritten
    peaks = json.loads((out / "memory.json").read_text())
    peaks["sft"]["rss"] = 1e9
    (out / "memory.json").write_text(json.dumps(peaks))
    again = run_pipeline(preset_config("quick", out_dir=str(out), **settings), progress=False)
    assert [r.win for r in again.rows] == [r.win for r in report.rows]
    assert (out / "results.jsonl").read_text().splitlines() == lines
    assert (out / "audit.jsonl").read_text().splitlines() == audit_lines
    assert [a.optimal for a in again.audits] == [a.optimal for a in report.audits]
    assert (out / "sft" / "model.safetensors").stat().st_mtime_ns == sft_before
    assert json.loads((out / "memory.json").read_text())["sft"]["rss"] == 1e9
    # the time of the second call is added to the first's, not put in its place
    assert again.timings["sft"] >= timings["sft"] and again.timings["total"] > timings["total"]

    # a folder audited before the perfect-play columns existed gets only those filled in
    old_rows = [json.loads(x) for x in audit_lines]
    for row in old_rows:
        for key in ("lines_positions", "lines_mistakes", "lines_loss"):
            del row[key]
    (out / "audit.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old_rows))
    calls = []
    monkeypatch.setattr(audit, "reachable_positions", lambda: calls.append(1) or every[::40])
    third = run_pipeline(preset_config("quick", out_dir=str(out), **settings), progress=False)
    assert calls == []  # the 9,040-position audit is not redone
    assert [a.optimal for a in third.audits] == [a.optimal for a in report.audits]
    greedy = ("base", "SFT", "RL1", "RL2")  # exact; the scripted teacher's answers are samples
    assert [a.lines_loss for a in third.audits if a.stage in greedy] == [
        a.lines_loss for a in report.audits if a.stage in greedy
    ]
    assert len((out / "audit.jsonl").read_text().splitlines()) == 12


def test_other_settings_in_the_same_folder_are_refused(tmp_path) -> None:
    out = tmp_path / "run"
    (out).mkdir()
    (out / "config.json").write_text(json.dumps({"teacher_games": 1}))
    with pytest.raises(ValueError, match="other settings"):
        run_pipeline(preset_config("quick", out_dir=str(out), **SMALL), progress=False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rl1_prob": (0.8, 0.2)}, "rl1_prob"),
        ({"rl2_lr": 0.0}, "rl2_lr"),
        ({"rl1_replay": 1.5}, "rl1_replay"),
        ({"sft_lr": float("nan")}, "sft_lr"),
        ({"teacher_games": 0}, "teacher_games"),
        ({"teacher": "grandmaster"}, "unknown policy 'grandmaster'.*teacher:Q"),
        ({"model": "/no/such/folder"}, "neither a folder"),
    ],
)
def test_bad_settings_fail_before_any_work(overrides, message, tmp_path) -> None:
    with pytest.raises(ValueError, match=message):
        PipelineConfig(out_dir=str(tmp_path / "x"), **overrides)
    assert not (tmp_path / "x").exists()


def test_unknown_preset_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="default, fast, faithful, quick"):
        preset_config("huge")


def test_cli_errors_are_one_line(tmp_path, capsys) -> None:
    assert main(["pipeline", "--preset", "huge", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown preset" in err
    assert main(["train", "rl", "--model", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert "neither a folder" in capsys.readouterr().err


def test_train_sft_then_rl_from_the_command_line(tiny_model_path, tmp_path, capsys) -> None:
    warm = tmp_path / "warm"
    argv = ["train", "sft", "--model", str(tiny_model_path), "--out", str(warm)]
    view = ["--env", "TextTicTacToe-LLM-Letters-v0", "--system-prompt", "none", "--history", "last"]
    sft = [*argv, *view, "--teacher", "teacher:0.7", "--games", "20", "--epochs", "1"]
    assert main([*sft, "--log", "tensorboard"]) == 0
    assert "model saved" in capsys.readouterr().out
    run = tmp_path / "rl"
    argv = ["train", "rl", "--model", str(warm), "--out", str(run), "--steps", "1"]
    small = ["--games-per-batch", "8", "--group-size", "4", "--log", "tensorboard"]
    assert main([*argv, *small, "--eval-every", "1"]) == 0
    record = json.loads((run / "metrics.jsonl").read_text())
    assert record["step"] == 1 and "eval/optimal/loss" in record
    recorded = json.loads((run / "checkpoint" / "textgym_view.json").read_text())
    assert recorded == json.loads((warm / "textgym_view.json").read_text())  # RL kept SFT's view
    assert recorded["env_id"] == "TextTicTacToe-LLM-Letters-v0" and recorded["history"] == "last"
    assert recorded["system_prompt"] == ""
    assert main([*argv[:-1], "2", *small, "--resume"]) == 0
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2]
    if importlib.util.find_spec("tensorboard") is not None:  # --log tensorboard: same numbers
        from tests.trainers.test_trackers import scalars

        board = scalars(run / "tensorboard")
        want = [(r["step"], pytest.approx(r["reward/total"])) for r in lines]
        assert board["reward/total"] == want
        assert "eval/optimal/loss" in board
        assert [s for s, _ in scalars(tmp_path / "warm.logs" / "tensorboard")["sft/loss"]] == [1]


@pytest.mark.real_model
def few_games_config(preset, gguf, tmp_path, monkeypatch, **overrides) -> PipelineConfig:
    """A SmolLM2 preset shrunk to a few games, in ``tmp_path/run``, with the GGUF where the
    preset looks for it (relative to the working directory, which becomes ``tmp_path``)."""
    from textgym.recipes.tictactoe.pipeline import SMOLLM2

    monkeypatch.chdir(tmp_path)
    (tmp_path / SMOLLM2).parent.mkdir(parents=True)
    (tmp_path / SMOLLM2).symlink_to(gguf)
    few = dict(teacher_games=4, sft_epochs=1, rl1_steps=1, rl2_steps=1, games_per_batch=2)
    few |= dict(group_size=2, eval_episodes=1)
    return preset_config(preset, out_dir=str(tmp_path / "run"), **few, **overrides)


def test_the_smollm2_preset_runs_end_to_end_at_a_quick_size(
    smollm2_gguf, tmp_path, monkeypatch
) -> None:
    """The talk's recipe on the real model, shrunk to a few games: the GGUF is converted
    once, SFT and both CISPO rounds train LoRA adapters, every stage is evaluated and the
    report has the timings and peak memory of each stage."""
    pytest.importorskip("peft")
    from textgym.models.loading import is_adapter

    config = few_games_config(
        "smollm2",
        smollm2_gguf,
        tmp_path,
        monkeypatch,
        max_new_tokens=8,  # the reference answer with SmolLM2's tokens (checked before work)
        device="cpu",
    )
    assert config.lora_rank == 16 and config.env_id == "TextTicTacToe-LLM-v0"
    report = run_pipeline(config, progress=False)
    out = tmp_path / "run"
    assert (out / "base" / "model.safetensors").is_file()
    for stage in ("sft", "rl1/checkpoint", "rl2/checkpoint"):
        assert is_adapter(out / stage), stage
    stages = {r.stage for r in report.rows}
    assert {"base", "SFT", "RL1", "RL2", "RL2 (T=1)"} <= stages
    assert set(report.memory) >= {"base", "sft", "rl1", "rl2"}
    assert all(m["rss"] > 0 for m in report.memory.values())
    text = (out / "report.md").read_text()
    assert "Peak memory" in text and "Preset `smollm2`" in text


def test_the_smollm2_preset_says_how_to_get_the_model(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"scripts/fetch_smollm2\.py"):
        preset_config("smollm2")


def test_tag_tokens_flag_reaches_the_config(tmp_path, monkeypatch) -> None:
    """``textgym pipeline --tag-tokens`` builds the tiny model with single-token tags."""

    seen = []

    def fake_run(config, progress=True):
        seen.append(config)
        raise ValueError("stop here")

    monkeypatch.setattr("textgym.cli.pipeline.run_pipeline", fake_run)
    assert main(["pipeline", "--tag-tokens", "--out", str(tmp_path / "a")]) == 2
    assert main(["pipeline", "--out", str(tmp_path / "b")]) == 2
    assert [c.tag_tokens for c in seen] == [True, False]


@pytest.mark.parametrize("name", ["fast", "faithful"])
def test_the_tag_token_presets_lower_the_sft_learning_rate(name, tmp_path, monkeypatch) -> None:
    """The tags put a third of each answer's tokens on the cell, not a fourteenth: at the
    default 3e-3 the student's SFT lost 21.5 and 32.5 % of games to perfect play (seeds 0
    and 2), at 1e-3 11.0 and 6.0 %; so a preset with tags carries the lower rate."""

    seen: list[PipelineConfig] = []

    class Report:
        out_dir = tmp_path

        def table(self) -> str:
            return ""

    def fake_run(config: PipelineConfig, progress: bool) -> Report:
        seen.append(config)
        return Report()

    monkeypatch.setattr("textgym.cli.pipeline.run_pipeline", fake_run)
    assert main(["pipeline", "--preset", name, "--out", str(tmp_path / "a")]) == 0
    more = ["--sft-lr", "2e-3", "--sft-batch-size", "32"]
    assert main(["pipeline", "--preset", name, "--out", str(tmp_path / "b"), *more]) == 0
    assert [c.preset for c in seen] == [name, name]
    assert seen[0].tag_tokens and seen[0].sft_lr == 1e-3 and seen[1].sft_lr == 2e-3
    assert seen[1].sft_batch_size == 32
    if name == "faithful":
        assert seen[0].teacher_games == 200 and seen[0].rl2_steps > PipelineConfig.rl2_steps


@pytest.mark.real_model
def test_the_smollm2_cpu_preset_runs_end_to_end_at_a_few_games(
    smollm2_gguf, tmp_path, monkeypatch
) -> None:
    """The CPU recipe on the real model, shrunk to a few games: bfloat16 compute, full
    fine-tuning, the perfect-play audit of every stage and no board audit, and each round
    hands on its audited checkpoint with the lowest exact loss."""
    config = few_games_config(
        "smollm2-cpu",
        smollm2_gguf,
        tmp_path,
        monkeypatch,
    )
    assert (config.dtype, config.lora_rank, config.board_audit) == ("bfloat16-mixed", None, False)
    assert config.keep_best and config.eval_every
    report = run_pipeline(config, progress=False)
    out = tmp_path / "run"
    for stage in ("sft", "rl1/checkpoint", "rl2/checkpoint", "rl1/best", "rl2/best"):
        assert (out / stage / "model.safetensors").is_file(), stage
    audits = {a.stage: a for a in report.audits}
    assert {"perfect", "base", "SFT", "RL1", "RL2"} <= set(audits)
    assert audits["perfect"].lines_loss == 0.0 and audits["perfect"].positions == 0
    assert all(a.lines_positions > 0 for a in audits.values())
    rl = [json.loads(line) for line in (out / "rl2" / "metrics.jsonl").read_text().splitlines()]
    assert rl[-1]["perf/micro_batches"] >= 1
    text = (out / "report.md").read_text()
    assert "| - | - | - |" in text
    # each round's checks: its start (step 0, the audit of the stage before) and step 1
    for before, name in (("SFT", "RL1"), ("RL1", "RL2")):
        best = report.kept[name]
        assert set(best["checked"]) == {"0", "1"}
        assert best["checked"]["0"] == pytest.approx(audits[before].lines_loss)
        assert best["value"] == min(best["checked"].values())
        assert audits[name].lines_loss == pytest.approx(best["value"])
        assert f"- {name} is its step {best['step']}" in text

    # a run continued: the saved models count as done, nothing is trained twice
    weights = out / "sft" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    lines = (out / "results.jsonl").read_text().splitlines()
    again = run_pipeline(config, progress=False)
    assert weights.stat().st_mtime_ns == stamp
    assert (out / "results.jsonl").read_text().splitlines() == lines
    assert [r.loss for r in again.rows] == [r.loss for r in report.rows]
    assert again.kept == report.kept


def test_a_model_without_a_chat_template_is_refused_before_any_work(
    tiny_model_path, tmp_path
) -> None:
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model_path, model)
    for name in ("chat_template.jinja",):
        (model / name).unlink(missing_ok=True)
    config_file = model / "tokenizer_config.json"
    settings = json.loads(config_file.read_text())
    settings.pop("chat_template", None)
    config_file.write_text(json.dumps(settings))
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="no chat template"):
        run_pipeline(PipelineConfig(model=str(model), out_dir=str(out), **SMALL), progress=False)
    assert not (out / "results.jsonl").exists()


def test_a_budget_that_cannot_hold_the_answers_is_refused_before_any_work(
    tiny_model_path, tmp_path
) -> None:
    out = tmp_path / "run"
    config = PipelineConfig(
        model=str(tiny_model_path), out_dir=str(out), **{**SMALL, "max_new_tokens": 2}
    )
    with pytest.raises(ValueError, match="max_new_tokens 2 cannot hold"):
        run_pipeline(config, progress=False)
    assert not (out / "results.jsonl").exists()


def test_a_folder_of_another_preset_is_refused_by_name(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"preset": "smollm2-cpu"}))
    with pytest.raises(ValueError, match="preset smollm2-cpu"):
        run_pipeline(preset_config("quick", out_dir=str(out), **SMALL), progress=False)


def test_each_round_gets_its_own_replay_share(tmp_path) -> None:
    from textgym.recipes.tictactoe.pipeline import _PipelineRun

    config = PipelineConfig(out_dir=str(tmp_path / "run"), rl1_replay=0.5, rl2_replay=0.125)
    run = object.__new__(_PipelineRun)  # the settings only: no model, no folder
    run.config, run.out, run.device = config, tmp_path / "run", "cpu"
    assert run.rl_config("rl1", tmp_path).replay_share == 0.5
    assert run.rl_config("rl2", tmp_path).replay_share == 0.125
