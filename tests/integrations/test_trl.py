"""TRL's GRPOTrainer on textgym envs through make_rollout_func (tiny model, CPU)."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("datasets")

from textgym.integrations.trl import (  # noqa: E402
    episode_return,
    make_rollout_func,
    seed_dataset,
)
from textgym.models.loading import load_model  # noqa: E402
from textgym.trainers.tokens import prefix_kept  # noqa: E402
from textgym.view import View  # noqa: E402

pytestmark = pytest.mark.slow
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


@pytest.fixture(scope="module")
def warm_model(warm_model_for):
    """The tiny model warmed up on full-history games, so rewards vary."""
    return warm_model_for(View("TextTicTacToe-LLM-v0", history="full"))


def trainer_for(model_path, out, rollout_func, steps=2, **kwargs):
    from trl import GRPOConfig, GRPOTrainer

    model, tok = load_model(model_path)
    config = GRPOConfig(
        output_dir=str(out),
        use_cpu=True,
        loss_type="cispo",
        epsilon_high=5.0,  # CISPO's cap on the importance weight (TRL's default is 0.2)
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=16,
        max_steps=steps,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        learning_rate=1e-2,
        seed=0,
        **kwargs,
    )
    return GRPOTrainer(
        model=model,
        processing_class=tok,
        reward_funcs=[episode_return],
        args=config,
        train_dataset=seed_dataset(16),
        rollout_func=rollout_func,
    )


@pytest.fixture(scope="module")
def trained(warm_model, tmp_path_factory):
    """Two GRPO steps with loss_type="cispo"; every rollout call's returns recorded."""
    rollout_func = make_rollout_func(View("TextTicTacToe-LLM-v0", history="full"))
    calls = []

    def recording(prompts, trainer):
        out = rollout_func(prompts, trainer)
        calls.append((list(prompts), out, list(rollout_func.episodes)))
        return out

    trainer = trainer_for(warm_model, tmp_path_factory.mktemp("grpo"), recording)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    return trainer, before, calls


def test_two_cispo_steps_change_the_parameters(trained) -> None:
    trainer, before, calls = trained
    assert len(calls) == 2
    logs = [h for h in trainer.state.log_history if "reward" in h]
    assert any(h["reward_std"] > 0 for h in logs)  # rewards varied, so there was a gradient
    moved = [k for k, v in trainer.model.state_dict().items() if not torch.equal(before[k], v)]
    assert moved


def test_the_logged_reward_is_the_env_return(trained) -> None:
    trainer, _, calls = trained
    logs = [h for h in trainer.state.log_history if "reward" in h]
    for log, (_, out, episodes) in zip(logs, calls, strict=True):
        returns = [e.total_reward for e in episodes]
        assert out["episode_return"] == returns
        assert log["reward"] == pytest.approx(sum(returns) / len(returns), abs=1e-6)


def test_group_members_share_their_seed_and_first_observation(trained) -> None:
    _, _, calls = trained
    for prompts, _, episodes in calls:
        assert len(prompts) == 8
        for g in range(0, 8, 4):
            group = episodes[g : g + 4]
            assert len(set(prompts[g : g + 4])) == 1
            assert len({e.seed for e in group}) == 1
            assert all(e.turns[0].messages == group[0].turns[0].messages for e in group)
        assert prompts[0] != prompts[4]


def test_samples_hold_the_exact_sampled_ids_and_mask_the_env_text(trained) -> None:
    trainer, _, calls = trained
    tok = trainer.processing_class
    merged_seen = 0
    for _, out, episodes in calls:
        for k, e in enumerate(episodes):
            prompt, completion = out["prompt_ids"][k], out["completion_ids"][k]
            mask, logprobs = out["env_mask"][k], out["logprobs"][k]
            assert len(completion) == len(mask) == len(logprobs)
            assert prompt == list(e.turns[0].completion.prompt_ids)
            model_ids = [i for i, m in zip(completion, mask, strict=True) if m]
            merged = out["textgym_merged"][k]
            assert merged == (len(e.turns) == 1 or all(prefix_kept(e)))
            if not merged:  # the documented fallback: the first turn alone
                assert model_ids == list(e.turns[0].completion.completion_ids)
                assert all(mask)
                continue
            merged_seen += len(e.turns) > 1
            assert model_ids == [i for t in e.turns for i in t.completion.completion_ids]
            sampled = [lp for t in e.turns for lp in t.completion.logprobs]
            assert [lp for lp, m in zip(logprobs, mask, strict=True) if m] == sampled
            # env_mask is 0 exactly over the environment's text between the answers
            env_ids = [i for i, m in zip(completion, mask, strict=True) if not m]
            expected = []
            for before, after in zip(e.turns, e.turns[1:], strict=False):
                head = len(before.completion.prompt_ids) + len(before.completion.completion_ids)
                expected += list(after.completion.prompt_ids[head:])
            assert env_ids == expected
            env_text = tok.decode(env_ids)
            for turn in e.turns[1:]:
                assert turn.messages[-1]["content"] in env_text
    assert merged_seen > 0


def test_logprobs_match_the_model_within_1e_4(warm_model, trained) -> None:
    """The sampled tokens' log-probs equal a fresh forward pass of the sampling model
    (the rollout call of a fresh trainer, before any step)."""
    from textgym.trainers.tokens import TurnTokens, collate, token_logprobs

    trainer = trainer_for(warm_model, trained[0].args.output_dir + "-lp", lambda p, t: {}, 1)
    rollout_func = make_rollout_func(View("TextTicTacToe-LLM-v0", history="full"))
    out = rollout_func([str(s) for s in (5, 5, 6, 6)], trainer)
    turns = [
        TurnTokens(p + c, [0] * len(p) + m, [0.0] * len(p) + lp, 1.0)
        for p, c, m, lp in zip(
            out["prompt_ids"], out["completion_ids"], out["env_mask"], out["logprobs"], strict=True
        )
    ]
    batch = collate(turns, trainer.processing_class.pad_token_id)
    with torch.no_grad():
        logp = token_logprobs(trainer.model, batch, trainer.args.temperature)
    assert ((logp - batch.old_logprobs).abs() * batch.loss_mask).max() < 1e-4
    assert batch.num_tokens > 8


def test_last_history_falls_back_to_the_first_turn(warm_model, tmp_path) -> None:
    trainer = trainer_for(warm_model, tmp_path, lambda p, t: {}, 1)
    rollout_func = make_rollout_func(View("TextTicTacToe-LLM-v0", history="last"))
    out = rollout_func(["1", "1"], trainer)
    for k, e in enumerate(rollout_func.episodes):
        assert out["textgym_merged"][k] == (len(e.turns) == 1)
        assert out["completion_ids"][k] == list(e.turns[0].completion.completion_ids)
        assert out["episode_return"][k] == e.total_reward
    assert {"reward_outcome", "reward_format", "reward_invalid"} <= set(out)


def test_bad_input_is_one_clear_error(warm_model, tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown env"):
        make_rollout_func("NoSuchEnv-v0")
    with pytest.raises(ValueError, match="history"):
        make_rollout_func(View("TextTicTacToe-LLM-v0", history="most"))  # type: ignore[arg-type]
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="whole number"):
            seed_dataset(bad)  # type: ignore[arg-type]
    trainer = trainer_for(warm_model, tmp_path, lambda p, t: {}, 1)
    with pytest.raises(ValueError, match="is not an episode seed"):
        make_rollout_func("TextTicTacToe-LLM-v0")(["Play tic-tac-toe"], trainer)
    assert seed_dataset(3, start=10)["prompt"] == ["10", "11", "12"]
