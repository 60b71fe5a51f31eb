"""Episode -> tokens: exact ids, the mask covers exactly the completions, padding never counts."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from textgym.policies.hf import HFPolicy  # noqa: E402
from textgym.rollout import rollout  # noqa: E402
from textgym.trainers.cispo import cispo_loss  # noqa: E402
from textgym.trainers.tokens import (  # noqa: E402
    TurnTokens,
    collate,
    episode_tokens,
    micro_batches,
    padding_share,
    prefix_kept,
    prefix_report,
    token_logprobs,
)
from textgym.view import View  # noqa: E402


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


@pytest.fixture(scope="module")
def full_history(tiny_model_path):
    policy = HFPolicy(tiny_model_path, temperature=1.0, max_new_tokens=10, seed=1)
    episodes = rollout(
        policy, View("TextTicTacToe-LLM-v0", history="full"), list(range(6)), num_envs=6
    )
    return policy, episodes


def test_a_full_history_episode_merges_into_one_sequence(full_history) -> None:
    """The character template keeps each prompt as an exact prefix of the next, so an
    episode trains as one sequence: the same completion tokens, each with its own
    sampling log-prob, and the environment text between them masked."""
    policy, episodes = full_history
    tok = policy.tokenizer
    merged = [e for e in episodes if len(e.turns) > 1 and all(prefix_kept(e))]
    assert merged
    for e in merged:
        (seq,) = episode_tokens(e, 0.5, merge=True)
        per_turn = episode_tokens(e, 0.5)
        assert seq.input_ids == per_turn[-1].input_ids
        sampled = [i for i, m in zip(seq.input_ids, seq.loss_mask, strict=True) if m]
        assert sampled == [i for t in e.turns for i in t.completion.completion_ids]
        olds = [lp for lp, m in zip(seq.old_logprobs, seq.loss_mask, strict=True) if m]
        assert olds == [lp for t in e.turns for lp in t.completion.logprobs]
        # Decoded, the masked stretches are exactly the environment's text.
        masked = tok.decode([i for i, m in zip(seq.input_ids, seq.loss_mask, strict=True) if not m])
        for turn in e.turns[1:]:
            assert turn.messages[-1]["content"] in masked


def test_merged_and_per_turn_sequences_give_the_same_loss_and_gradient(full_history) -> None:
    policy, episodes = full_history
    model = policy.model
    pad = policy.tokenizer.pad_token_id

    def loss_and_grad(merge: bool):
        turns = [t for k, e in enumerate(episodes) for t in episode_tokens(e, k - 2.5, merge)]
        batch = collate(turns, pad)
        model.zero_grad()
        logp = token_logprobs(model, batch)
        loss, _ = cispo_loss(logp, batch.old_logprobs, batch.advantages, batch.loss_mask)
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        return len(turns), float(loss.detach()), grads

    n_merged, merged, g_merged = loss_and_grad(True)
    n_turns, per_turn, g_turns = loss_and_grad(False)
    model.zero_grad()
    assert n_merged < n_turns
    assert merged == pytest.approx(per_turn, abs=1e-5)
    for a, b in zip(g_merged, g_turns, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_where_the_text_does_not_round_trip_the_episode_falls_back_to_turns(
    full_history,
) -> None:
    """The untrained tiny model sometimes samples a special token inside its answer; the
    answer's text drops it, so the next prompt re-renders that turn differently, and the
    episode trains one sequence per turn (the report counts it)."""
    policy, episodes = full_history
    tok = policy.tokenizer
    broken = [e for e in episodes if not all(prefix_kept(e))]
    assert broken
    for e in broken:
        k = prefix_kept(e).index(False)
        ids = e.turns[k].completion.completion_ids
        assert tok.decode(ids, skip_special_tokens=True) != tok.decode(ids)
        assert len(episode_tokens(e, 1.0, merge=True)) == len(e.turns)
    report = prefix_report(episodes)
    multi = [e for e in episodes if len(e.turns) > 1]
    assert report["prefix/episodes_merged"] == pytest.approx(1 - len(broken) / len(multi))


def test_last_history_and_re_rendered_prompts_fall_back_to_one_sequence_per_turn(
    tiny_model_path, full_history
) -> None:
    policy = HFPolicy(tiny_model_path, temperature=1.0, max_new_tokens=10, seed=0)
    last = rollout(policy, View("TextTicTacToe-LLM-v0", history="last"), list(range(4)), num_envs=4)
    assert prefix_report(last)["prefix/turns_kept"] == 0.0
    for e in last:
        assert len(episode_tokens(e, 1.0, merge=True)) == len(e.turns)
    # A template that re-renders an earlier turn (here: one changed prompt id) breaks the
    # prefix, and that episode falls back.
    import copy

    _, episodes = full_history
    e = copy.deepcopy(next(e for e in episodes if len(e.turns) > 2 and all(prefix_kept(e))))
    ids = list(e.turns[2].completion.prompt_ids)
    ids[3] = ids[3] + 1
    e.turns[2].completion.prompt_ids = ids
    assert prefix_kept(e) == [True, False, False] + [True] * (len(e.turns) - 4)
    assert len(episode_tokens(e, 1.0, merge=True)) == len(e.turns)
    assert prefix_report([e])["prefix/episodes_merged"] == 0.0


def _turn(length: int, answer: int = 3) -> TurnTokens:
    return TurnTokens(
        input_ids=[(7 * i) % 50 + 1 for i in range(length)],
        loss_mask=[0] * (length - answer) + [1] * answer,
        old_logprobs=[0.0] * (length - answer) + [-1.0] * answer,
        advantage=1.0,
    )


def test_micro_batches_keep_every_turn_within_the_token_budget() -> None:
    turns = [_turn(n) for n in (40, 5, 90, 12, 33, 33, 60, 200, 8)]
    batches = micro_batches(turns, max_tokens=100)
    kept = sorted(id(t) for b in batches for t in b)
    assert kept == sorted(id(t) for t in turns)  # each turn once
    for b in batches:
        widest = max(len(t.input_ids) for t in b)
        assert len(b) * widest <= 100 or len(b) == 1  # a 200-token turn goes alone
    lengths = [len(t.input_ids) for b in batches for t in b]
    assert lengths == sorted(lengths)  # similar lengths share a micro-batch
    assert 0.0 <= padding_share(batches) < 0.5
    assert padding_share([[_turn(10), _turn(10)]]) == 0.0
    with pytest.raises(ValueError, match="max_tokens"):
        micro_batches(turns, 0)


def _full_logprobs(model, batch):
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    logits = logits[:, :-1].double()
    picked = logits.gather(-1, batch.input_ids[:, 1:, None]).squeeze(-1)
    return (picked - torch.logsumexp(logits, -1)) * batch.loss_mask


def test_scoring_only_the_loss_positions_gives_the_full_logits_values_and_gradient(
    played, monkeypatch
) -> None:
    import copy

    import textgym.trainers.tokens as tokens

    policy, episodes = played
    turns = [t for e in episodes for t in episode_tokens(e, 1.0)]
    batch = collate(turns, policy.tokenizer.pad_token_id)
    monkeypatch.setattr(tokens, "HEAD_CHUNK", 5)  # several chunks of the output layer
    grads = []
    for score in (token_logprobs, _full_logprobs):
        model = copy.deepcopy(policy.model).double()
        logp = score(model, batch)
        (logp * batch.loss_mask).sum().backward()
        grads.append((logp.detach(), [p.grad for p in model.parameters()]))
    (split, g_split), (full, g_full) = grads
    assert torch.allclose(split, full, atol=1e-10)
    assert split[batch.loss_mask == 0].abs().max() == 0  # nothing outside the loss
    for a, b in zip(g_split, g_full, strict=True):
        assert torch.allclose(a, b, atol=1e-10)


class _ScaledLogits(torch.nn.Module):
    """A model whose logits are not its output layer on its last hidden state."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def get_output_embeddings(self):
        return self.inner.get_output_embeddings()

    def forward(self, **kwargs):
        out = self.inner(**kwargs)
        out.logits = out.logits * 0.5
        return out


def test_a_model_that_scales_its_logits_is_scored_from_them(played) -> None:
    policy, episodes = played
    model = _ScaledLogits(policy.model)
    batch = collate([t for e in episodes for t in episode_tokens(e, 1.0)][:4], 0)
    with torch.no_grad():
        got = token_logprobs(model, batch)
        want = _full_logprobs(model, batch).float()
    assert torch.allclose(got, want, atol=1e-5)
