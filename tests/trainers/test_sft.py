"""SFT warm-up: lost games dropped, loss only on answers, and the model learns the format."""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")

from textgym.envs.tictactoe.players import teacher_policy  # noqa: E402
from textgym.policies.hf import HFPolicy, load_model  # noqa: E402
from textgym.rollout import rollout  # noqa: E402
from textgym.trainers.sft import SFTConfig, sft_tokens, sft_train, teacher_games  # noqa: E402
from textgym.view import View  # noqa: E402


def test_lost_games_are_dropped() -> None:
    kept, games = teacher_games(
        teacher_policy(0.5),
        View("TextTicTacToe-LLM-v0", history="last"),
        list(range(60)),
        options=[{"random_move_prob": 0.0}] * 60,
    )
    assert len(games) == 60 and 0 < len(kept) < 60
    assert all(g.final_info["result"] != "loss" for g in kept)


def test_tokens_mask_only_the_answer(tiny_model_path) -> None:
    _, tok = load_model(tiny_model_path)
    kept, _ = teacher_games(
        teacher_policy(1.0), View("TextTicTacToe-LLM-v0", history="last"), [0, 1]
    )
    turns = sft_tokens(kept, tok)
    assert len(turns) == sum(len(g.turns) for g in kept)
    for t, turn in zip(turns, [t for g in kept for t in g.turns], strict=True):
        answer = [i for i, m in zip(t.input_ids, t.loss_mask, strict=True) if m]
        assert tok.decode(answer) == turn.completion.text + tok.eos_token


@pytest.mark.slow
def test_sft_teaches_the_answer_format(tiny_model_path) -> None:
    model, tok = load_model(tiny_model_path)
    kept, _ = teacher_games(
        teacher_policy(0.9), View("TextTicTacToe-LLM-v0", history="last"), list(range(48))
    )
    turns = sft_tokens(kept, tok)
    losses = sft_train(model, tok, turns, SFTConfig(epochs=6, batch_size=16, lr=1e-2))
    assert losses[-1] < 0.5 * losses[0]
    policy = HFPolicy(model, tok, temperature=0.0, max_new_tokens=16)
    games = rollout(
        policy, View("TextTicTacToe-LLM-v0", history="last"), list(range(100, 116)), num_envs=16
    )
    format_ok = [t.info["format_ok"] for g in games for t in g.turns]
    assert sum(format_ok) / len(format_ok) > 0.5


@pytest.mark.slow
def test_cosine_schedule_falls_from_the_peak_to_zero(tiny_model_path, monkeypatch) -> None:
    model, tok = load_model(tiny_model_path)
    kept, _ = teacher_games(
        teacher_policy(1.0), View("TextTicTacToe-LLM-v0", history="last"), list(range(8))
    )
    turns = sft_tokens(kept, tok)
    seen: list[float] = []

    class Recording(torch.optim.AdamW):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "AdamW", Recording)
    config = SFTConfig(epochs=2, batch_size=8, lr=1e-3, schedule="cosine")
    losses = sft_train(model, tok, turns, config)
    assert len(seen) == len(losses) == 2 * -(-len(turns) // 8)
    assert seen[0] == pytest.approx(1e-3)
    assert all(a > b for a, b in itertools.pairwise(seen))
    assert seen[-1] < 0.05 * seen[0]


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="lr"):
        SFTConfig(lr=0)
    with pytest.raises(ValueError, match="schedule"):
        SFTConfig(schedule="linear")
    with pytest.raises(ValueError, match="no SFT examples"):
        sft_train(torch.nn.Linear(1, 1), None, [])


@pytest.mark.slow
def test_micro_batches_give_the_same_sft_step_as_one_batch(tiny_model_path) -> None:
    import copy

    model, tok = load_model(tiny_model_path)
    kept, _ = teacher_games(teacher_policy(0.3, seed=0), "TextTicTacToe-LLM-v0", range(6))
    turns = sft_tokens(kept, tok)
    results = []
    for budget in (10**9, 120):  # one micro-batch; many
        trained = copy.deepcopy(model).double()
        config = SFTConfig(epochs=1, batch_size=len(turns), micro_batch_tokens=budget)
        losses = sft_train(trained, tok, turns, config)
        results.append((losses, trained))
    (one, a), (many, b) = results
    assert len(one) == len(many) == 1 and one[0] == pytest.approx(many[0], rel=1e-10)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-10)
