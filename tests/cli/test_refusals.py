"""A refused command writes nothing: no output folder, no file, no settings."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from textgym.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "rl", "--games-per-batch", "7", "--group-size", "4"], "multiple of"),
        (["train", "rl", "--env", "TextNope-v0"], "unknown env"),
        (["train", "rl", "--max-new-tokens", "2"], "cannot hold"),
        (["train", "sft", "--max-new-tokens", "2", "--games", "4"], "cannot hold"),
    ],
)
def test_a_refused_training_leaves_no_folder(tiny_model_path, tmp_path, capsys, argv, message):
    out = tmp_path / "new" / "run"
    assert main([*argv, "--model", str(tiny_model_path), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_eval_checks_the_budget_as_training_does(tiny_model_path, tmp_path, capsys) -> None:
    out = tmp_path / "new" / "eval.jsonl"
    argv = ["eval", "--policy", f"hf:{tiny_model_path}", "--max-new-tokens", "2"]
    assert main([*argv, "--episodes", "2", "--out", str(out)]) == 2
    assert "cannot hold" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_a_refused_pipeline_leaves_no_folder(tmp_path, capsys) -> None:
    out = tmp_path / "new" / "run"
    argv = ["pipeline", "--preset", "quick", "--out", str(out), "--model", str(tmp_path / "x")]
    assert main(argv) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_eval_loads_hf_models_in_the_dtype_asked(tiny_model_path, tmp_path, capsys) -> None:
    import torch

    from textgym.models.loading import compute_dtype
    from textgym.policies.by_name import make_policy

    policy = make_policy(f"hf:{tiny_model_path}", "TextTicTacToe-LLM-v0", dtype="bfloat16-mixed")
    assert compute_dtype(policy.model) == torch.bfloat16
    assert next(policy.model.parameters()).dtype == torch.float32
    argv = ["eval", "--policy", f"hf:{tiny_model_path}", "--episodes", "2", "--opponent", "random"]
    assert main([*argv, "--dtype", "bfloat16-mixed", "--quiet"]) == 0
    assert f"hf:{tiny_model_path}" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # argparse: not one of the choices
        main([*argv, "--dtype", "float8"])
