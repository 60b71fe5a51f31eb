"""Reusing the previous turn's KV cache: same tokens and log-probs as a full prefill, less
prefill; a cache is never used after the weights change, and a rollout frees it."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from textgym.policies.hf import HFPolicy  # noqa: E402
from textgym.rollout import rollout  # noqa: E402
from textgym.view import View  # noqa: E402


def _first_turns() -> list[list[dict]]:
    return [
        [
            {"role": "system", "content": "Rules of the game, shared by every episode."},
            {"role": "user", "content": f"Board {i}" + "." * i},
        ]
        for i in range(6)
    ]


def _next_turns(convs: list[list[dict]], outs) -> list[list[dict]]:
    return [
        [*c, {"role": "assistant", "content": o.text}, {"role": "user", "content": f"Then {i}"}]
        for i, (c, o) in enumerate(zip(convs, outs, strict=True))
    ]


def _same(a, b, tol: float = 1e-4) -> None:
    assert [x.completion_ids for x in a] == [y.completion_ids for y in b]
    assert [x.prompt_ids for x in a] == [y.prompt_ids for y in b]
    for x, y in zip(a, b, strict=True):
        assert max(abs(p - q) for p, q in zip(x.logprobs, y.logprobs, strict=True)) < tol


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_next_turn_from_the_kept_cache_equals_a_full_prefill(
    tiny_model_path, temperature: float
) -> None:
    reuse = HFPolicy(tiny_model_path, temperature=temperature, max_new_tokens=10, seed=2)
    plain = HFPolicy(
        reuse.model,
        reuse.tokenizer,
        temperature=temperature,
        max_new_tokens=10,
        seed=2,
        reuse_cache=False,
    )
    convs = _first_turns()
    a, b = reuse.complete(convs), plain.complete(convs)
    _same(a, b)
    for _ in range(2):  # two more turns, each starting from the last one's cache
        convs = _next_turns(convs, a)
        before = (reuse.prefill_tokens, reuse.reused_tokens)
        a, b = reuse.complete(convs), plain.complete(convs)
        _same(a, b)
        prefilled = reuse.prefill_tokens - before[0]
        reused = reuse.reused_tokens - before[1]
        # the tiny model's character tokenizer re-encodes its answers as sampled, so every
        # earlier token is reused: what is prefilled is the new messages only
        assert reused >= sum(len(x.prompt_ids) for x in a) - 6 * 40
        assert prefilled + reused == sum(len(x.prompt_ids) for x in a)
    assert plain.reused_tokens < reuse.reused_tokens


def test_a_kept_cache_is_dropped_when_the_weights_change(tiny_model_path) -> None:
    from textgym.models.loading import load_model

    model, tok = load_model(tiny_model_path)
    policy = HFPolicy(model, tok, temperature=0.0, max_new_tokens=8)
    convs = _first_turns()
    outs = policy.complete(convs)
    shared = policy.reused_tokens  # the batch's common prefix (the system prompt), once
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    ids = torch.tensor([outs[0].prompt_ids + outs[0].completion_ids])
    model(ids, labels=ids).loss.backward()
    optimizer.step()  # in place, as a training step changes them
    convs = _next_turns(convs, outs)
    after = policy.complete(convs)
    assert policy.reused_tokens == 2 * shared  # again the common prefix; nothing kept
    fresh = HFPolicy(model, tok, temperature=0.0, max_new_tokens=8, reuse_cache=False)
    _same(after, fresh.complete(convs))


def test_a_rollout_with_history_gives_the_same_episodes_and_frees_the_cache(
    tiny_model_path,
) -> None:
    view = View("TextTicTacToe-LLM-v0", history="full", max_new_tokens=12)
    seeds = list(range(6))
    reuse = HFPolicy(tiny_model_path, temperature=1.0, max_new_tokens=12, seed=0)
    plain = HFPolicy(
        reuse.model, reuse.tokenizer, temperature=1.0, max_new_tokens=12, seed=0, reuse_cache=False
    )
    # 4 envs for 6 episodes: finished episodes' slots restart, so batches mix first turns
    # (sharing only the rules with the kept rows) with later turns
    a = rollout(reuse, view, seeds, num_envs=4)
    b = rollout(plain, view, seeds, num_envs=4)
    assert sum(len(e.turns) for e in a) > len(seeds)  # some episodes had several turns
    for x, y in zip(a, b, strict=True):
        _same([t.completion for t in x.turns], [t.completion for t in y.turns])
    assert reuse.reused_tokens > 0 and reuse.turn_cache.rows == 0
