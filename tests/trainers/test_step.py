"""cispo_step: parameters move, micro-batching changes nothing, NaN never applies."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from textgym.policies.hf import HFPolicy, load_model  # noqa: E402
from textgym.rollout import rollout  # noqa: E402
from textgym.trainers.groups import group_advantages  # noqa: E402
from textgym.trainers.step import cispo_step  # noqa: E402
from textgym.trainers.tokens import episode_tokens  # noqa: E402
from textgym.view import View  # noqa: E402


@pytest.fixture(scope="module")
def turns_and_model(tiny_model_path):
    model, tok = load_model(tiny_model_path)
    policy = HFPolicy(model, tok, temperature=1.0, max_new_tokens=8, seed=0)
    seeds = [s for s in range(4) for _ in range(3)]  # 4 groups of 3 rollouts
    episodes = rollout(policy, View("TextTicTacToe-LLM-v0", history="last"), seeds, num_envs=12)
    adv = group_advantages([e.total_reward for e in episodes], [e.seed for e in episodes])
    # Make sure some advantage is non-zero even if every rollout scored the same.
    adv = [a if any(adv) else (1.0 if i % 2 else -1.0) for i, a in enumerate(adv)]
    turns = [t for e, a in zip(episodes, adv, strict=True) for t in episode_tokens(e, a)]
    return model, tok, turns


def _step(model, tok, turns, micro):
    m = copy.deepcopy(model).double()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    metrics = cispo_step(m, opt, turns, tok.pad_token_id, micro_batch_tokens=micro, grad_clip=1e9)
    return m, metrics


@pytest.mark.slow
def test_parameters_change_and_on_policy_ratio_is_one(turns_and_model) -> None:
    model, tok, turns = turns_and_model
    before = [p.detach().clone() for p in model.parameters()]
    trained = copy.deepcopy(model)
    opt = torch.optim.AdamW(trained.parameters(), lr=1e-3)
    metrics = cispo_step(trained, opt, turns, tok.pad_token_id, micro_batch_tokens=512)
    assert metrics["loss/ratio_mean"] == pytest.approx(1.0, abs=1e-3)
    assert metrics["loss/clip_frac"] == 0.0
    changed = [
        not torch.equal(a, b.detach()) for a, b in zip(before, trained.parameters(), strict=True)
    ]
    assert any(changed)


def test_micro_batching_gives_the_same_update(turns_and_model) -> None:
    model, tok, turns = turns_and_model
    one, m1 = _step(model, tok, turns, micro=10**9)
    many, m2 = _step(model, tok, turns, micro=150)
    assert m1["perf/micro_batches"] == 1 and m2["perf/micro_batches"] >= 3
    for a, b in zip(one.parameters(), many.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-10)
    assert m1["loss/cispo"] == pytest.approx(m2["loss/cispo"])


def test_nan_loss_is_never_applied(turns_and_model) -> None:
    model, tok, turns = turns_and_model
    broken = copy.deepcopy(model)
    bad = [copy.copy(t) for t in turns]
    bad[0].advantage = float("nan")
    before = [p.detach().clone() for p in broken.parameters()]
    opt = torch.optim.AdamW(broken.parameters(), lr=1e-3)
    with pytest.raises(FloatingPointError):
        cispo_step(broken, opt, bad, tok.pad_token_id)
    assert all(torch.equal(a, b) for a, b in zip(before, broken.parameters(), strict=True))


def _peak_growth(turns: int, budget: int) -> float:
    worker = Path(__file__).with_name("memory_worker.py")
    out = subprocess.run(
        [sys.executable, str(worker), str(turns), str(budget)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.split()[-1])


@pytest.mark.slow
@pytest.mark.skipif(
    not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's /proc peak reset"
)
def test_a_steps_peak_memory_does_not_grow_with_the_number_of_games() -> None:
    few, many = _peak_growth(32, 1024), _peak_growth(256, 1024)
    assert many <= 1.25 * few + 16, (few, many)
    # the measurement can tell: without a token budget, 8x the turns is a much larger peak
    unbounded = _peak_growth(256, 10**9)
    assert unbounded > 4 * many, (many, unbounded)
