"""An env author's whole path, under the package id only: new-env -> pip install ->
check_text_env -> eval -> train sft -> train rl -> eval hf: -> TRL's GRPOTrainer."""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")

from tests.test_scaffold import install  # noqa: E402
from textgym.cli import main  # noqa: E402
from textgym.scaffold import scaffold  # noqa: E402
from textgym.utils import check_text_env  # noqa: E402

pytestmark = pytest.mark.slow
ENV_ID = "flow_env:FlowEnv-v0"


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The scaffolded multi-turn package, pip-installed into a folder on the path (and on
    the path of the checker's replay processes)."""
    root = scaffold("flow-env", tmp_path, kind="multi-turn")
    site = install(root, tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_package_env_goes_the_whole_way_under_its_package_id(installed, capsys) -> None:
    check_text_env(ENV_ID)  # imports flow_env itself: the id is all it needs
    assert main(["eval", "--env", ENV_ID, "--policy", "reference,random", "--episodes", "6"]) == 0
    table = capsys.readouterr().out
    assert "reference" in table and "solved %" in table

    assert main(["model", "tiny", "tiny", "--hidden", "32"]) == 0
    sft = ["train", "sft", "--env", ENV_ID, "--model", "tiny", "--out", "sft", "--quiet"]
    assert main([*sft, "--games", "24", "--epochs", "1", "--batch-size", "32"]) == 0
    assert json.loads((installed / "sft" / "textgym_view.json").read_text())["env_id"] == ENV_ID
    rl = ["train", "rl", "--model", "sft", "--out", "rl", "--steps", "1", "--quiet"]
    assert main([*rl, "--games-per-batch", "4", "--group-size", "2", "--eval-every", "0"]) == 0
    checkpoint = installed / "rl" / "checkpoint"
    assert json.loads((checkpoint / "textgym_view.json").read_text())["env_id"] == ENV_ID
    # the recorded view carries the package id: no --env needed any more
    assert main(["eval", "--policy", f"hf:{checkpoint}", "--episodes", "2", "--quiet"]) == 0
    assert f"hf:{checkpoint}" in capsys.readouterr().out


def test_trl_trains_on_a_package_env_by_its_id(installed) -> None:
    pytest.importorskip("trl")
    pytest.importorskip("datasets")
    from trl import GRPOConfig, GRPOTrainer

    from textgym.integrations.trl import episode_return, make_rollout_func, seed_dataset
    from textgym.models.loading import load_model
    from textgym.models.tiny import build_tiny_model

    model, tok = load_model(build_tiny_model(installed / "tiny", hidden_size=32))
    rollout_func = make_rollout_func(ENV_ID)
    config = GRPOConfig(
        output_dir=str(installed / "grpo"),
        use_cpu=True,
        loss_type="cispo",
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=8,
        max_steps=1,
        report_to=[],
        save_strategy="no",
        seed=0,
    )
    trainer = GRPOTrainer(
        model=model,
        processing_class=tok,
        reward_funcs=[episode_return],
        args=config,
        train_dataset=seed_dataset(4),
        rollout_func=rollout_func,
    )
    trainer.train()
    assert rollout_func.episodes and all(
        e.turns and e.turns[0].completion.prompt_ids for e in rollout_func.episodes
    )
