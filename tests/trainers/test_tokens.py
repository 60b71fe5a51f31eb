"""Episode -> tokens: exact ids, the mask covers exactly the completions, padding never counts."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from textgym.policies.hf import HFPolicy  # noqa: E402
from textgym.rollout import rollout  # noqa: E402
from textgym.trainers.cispo import cispo_loss  # noqa: E402
from textgym.trainers.tokens import collate, episode_tokens, token_logprobs  # noqa: E402


@pytest.fixture(scope="module")
def played(tiny_model_path):
    policy = HFPolicy(tiny_model_path, temperature=1.0, max_new_tokens=10, seed=0)
    episodes = rollout(policy, "TextTicTacToe-LLM-v0", list(range(4)), num_envs=4)
    return policy, episodes


def test_decoding_the_ids_reproduces_the_conversation(played) -> None:
    policy, episodes = played
    tok = policy.tokenizer
    for e in episodes:
        for turn, tt in zip(e.turns, episode_tokens(e, 1.0), strict=True):
            prompt = tok.apply_chat_template(
                turn.messages, add_generation_prompt=True, tokenize=False
            )
            text = tok.decode(tt.input_ids)
            assert text.startswith(prompt)
            sampled = [i for i, m in zip(tt.input_ids, tt.loss_mask, strict=True) if m]
            assert sampled == turn.completion.completion_ids
            completion = tok.decode(sampled, skip_special_tokens=True)
            assert completion == turn.completion.text


def test_mask_covers_exactly_the_sampled_tokens_and_padding_never_counts(played) -> None:
    policy, episodes = played
    turns = [t for e in episodes for t in episode_tokens(e, 0.5)]
    batch = collate(turns, policy.tokenizer.pad_token_id)
    sampled = sum(len(t.completion.completion_ids) for e in episodes for t in e.turns)
    assert batch.num_tokens == sampled
    assert (batch.loss_mask * (1 - batch.attention_mask[:, 1:])).sum() == 0  # no pad in loss
    for row, t in enumerate(turns):
        n_prompt = t.loss_mask.index(1)
        assert batch.loss_mask[row, : n_prompt - 1].sum() == 0
        assert batch.loss_mask[row].sum() == sum(t.loss_mask)


def test_on_policy_logprobs_match_the_sampling_logprobs(played) -> None:
    policy, episodes = played
    turns = [t for e in episodes for t in episode_tokens(e, 1.0)]
    batch = collate(turns, policy.tokenizer.pad_token_id)
    with torch.no_grad():
        logp = token_logprobs(policy.model, batch)
    diff = ((logp - batch.old_logprobs).abs() * batch.loss_mask).max()
    assert diff < 1e-4
    _, metrics = cispo_loss(logp, batch.old_logprobs, batch.advantages, batch.loss_mask)
    assert metrics["loss/ratio_mean"] == pytest.approx(1.0, abs=1e-4)


def test_turns_without_tokens_are_refused() -> None:
    from textgym.envs.tictactoe.players import perfect_policy

    episodes = rollout(perfect_policy(), "TextTicTacToe-LLM-v0", [0], num_envs=1)
    with pytest.raises(ValueError, match="no token ids"):
        episode_tokens(episodes[0], 1.0)
    with pytest.raises(ValueError, match="empty"):
        collate([], 0)
