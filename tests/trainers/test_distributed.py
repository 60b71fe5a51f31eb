"""torchrun with 2 CPU processes (gloo): DDP gives the single-process update, and train_rl runs."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from textgym.policies.hf import HFPolicy, load_model  # noqa: E402
from textgym.rollout import rollout  # noqa: E402
from textgym.trainers.step import cispo_step  # noqa: E402
from textgym.trainers.tokens import episode_tokens  # noqa: E402
from textgym.view import View  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.distributed]

WORKER = Path(__file__).with_name("ddp_worker.py")


def fixed_turns(model_path):
    """A deterministic batch of sampled turns with non-zero advantages (shared with the worker)."""
    model, tok = load_model(model_path)
    policy = HFPolicy(model, tok, temperature=1.0, max_new_tokens=8, seed=0)
    episodes = rollout(
        policy, View("TextTicTacToe-LLM-v0", history="last"), list(range(6)), num_envs=6
    )
    turns = [t for i, e in enumerate(episodes) for t in episode_tokens(e, 1.0 if i % 2 else -0.5)]
    return model, tok, turns


def torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    proc = subprocess.run(
        [*cmd, str(WORKER), *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_two_processes_give_the_single_process_update(tiny_model_path, tmp_path) -> None:
    out = tmp_path / "ddp.pt"
    torchrun("step", str(tiny_model_path), str(out))
    distributed = torch.load(out)

    model, tok, turns = fixed_turns(tiny_model_path)
    single = copy.deepcopy(model).double()
    opt = torch.optim.SGD(single.parameters(), lr=0.1)
    cispo_step(single, opt, turns, tok.pad_token_id, micro_batch_tokens=10**9, grad_clip=1e9)

    moved = False
    for name, param in single.state_dict().items():
        assert torch.allclose(distributed[name], param, atol=1e-10), name
        moved |= not torch.equal(param, model.state_dict()[name].double())
    assert moved  # the step did change the parameters


@pytest.mark.parametrize("mode", ["rl", "rl-lora"])
def test_train_rl_runs_under_torchrun(tiny_model_path, tmp_path, mode) -> None:
    if mode == "rl-lora":
        pytest.importorskip("peft")
    out = tmp_path / "run"
    torchrun(mode, str(tiny_model_path), str(out))
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2]
    assert (out / "checkpoint" / "trainer_state.pt").exists()
    if mode == "rl-lora":
        from textgym.models.loading import is_adapter

        assert is_adapter(out / "checkpoint")
    load_model(out / "checkpoint")  # a loadable model
