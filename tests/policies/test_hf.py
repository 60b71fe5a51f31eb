"""HFPolicy: exact log-probs, batched = one-at-a-time, stop and length, seeding, bad input."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


from textgym.policies.hf import HFPolicy  # noqa: E402

CONVS = [
    [{"role": "system", "content": "Play."}, {"role": "user", "content": "Board " + "x" * i}]
    for i in range(1, 7)
]


@pytest.mark.parametrize("temperature", [1.0, 0.7, 0.0])
def test_logprobs_match_a_separate_forward_pass(tiny_model_path, temperature: float) -> None:
    policy = HFPolicy(tiny_model_path, temperature=temperature, max_new_tokens=16, seed=1)
    outs = policy.complete(CONVS)
    for out in outs:
        assert out.prompt_ids == policy.encode(CONVS[outs.index(out)])
        ids = torch.tensor([out.prompt_ids + out.completion_ids])
        with torch.no_grad():
            logits = policy.model(ids).logits[0].float()
        t = temperature if temperature > 0 else 1.0
        logp = torch.log_softmax(logits / t, dim=-1)
        start = len(out.prompt_ids) - 1
        ref = [float(logp[start + k, tok]) for k, tok in enumerate(out.completion_ids)]
        assert len(ref) == len(out.logprobs) > 0
        assert max(abs(a - b) for a, b in zip(ref, out.logprobs, strict=True)) < 1e-4


def test_batched_greedy_equals_one_at_a_time(tiny_model_path) -> None:
    policy = HFPolicy(tiny_model_path, temperature=0.0, max_new_tokens=24)
    batched = [c.completion_ids for c in policy.complete(CONVS)]
    single = [policy.complete([c])[0].completion_ids for c in CONVS]
    assert batched == single


def test_finish_reasons_and_text(tiny_model_path) -> None:
    policy = HFPolicy(tiny_model_path, temperature=1.0, max_new_tokens=8, seed=0)
    for out in policy.complete(CONVS * 4):
        eos = policy.tokenizer.eos_token_id
        if out.finish_reason == "stop":
            assert out.completion_ids[-1] == eos
        else:
            assert out.finish_reason == "length" and len(out.completion_ids) == 8
        assert "<|im_end|>" not in out.text


def test_sampling_is_seeded(tiny_model_path) -> None:
    a = HFPolicy(tiny_model_path, temperature=1.0, max_new_tokens=10, seed=3).complete(CONVS)
    b = HFPolicy(tiny_model_path, temperature=1.0, max_new_tokens=10, seed=3).complete(CONVS)
    c = HFPolicy(tiny_model_path, temperature=1.0, max_new_tokens=10, seed=4).complete(CONVS)
    assert [x.completion_ids for x in a] == [x.completion_ids for x in b]
    assert [x.completion_ids for x in a] != [x.completion_ids for x in c]


@pytest.mark.parametrize(
    "kwargs", [{"temperature": -1}, {"top_p": 0}, {"max_new_tokens": 0}, {"batch_size": 0}]
)
def test_bad_arguments(tiny_model_path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        HFPolicy(tiny_model_path, **kwargs)


def test_missing_model_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="neither a folder"):
        HFPolicy(tmp_path / "nope")
    with pytest.raises(ValueError, match="cannot load"):
        HFPolicy(tmp_path)


def test_shared_prefix_cache_changes_nothing_but_speed(tiny_model_path) -> None:
    convs = [
        [
            {"role": "system", "content": "A long shared system prompt. " * 4},
            {"role": "user", "content": f"Board {i}" + "." * i},
        ]
        for i in range(8)
    ]
    shared = HFPolicy(tiny_model_path, temperature=0.0, max_new_tokens=12, min_shared_prefix=16)
    plain = HFPolicy(tiny_model_path, temperature=0.0, max_new_tokens=12, min_shared_prefix=0)
    assert shared._shared_length([shared.encode(c) for c in convs]) >= 16
    a, b = shared.complete(convs), plain.complete(convs)
    assert [x.completion_ids for x in a] == [x.completion_ids for x in b]
    for x, y in zip(a, b, strict=True):
        assert max(abs(p - q) for p, q in zip(x.logprobs, y.logprobs, strict=True)) < 1e-4


def test_models_with_convolution_state_fall_back_to_plain_prefill(tmp_path) -> None:
    from textgym.models.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "lfm2", architecture="lfm2")
    policy = HFPolicy(path, temperature=0.0, max_new_tokens=6, min_shared_prefix=8)
    convs = [
        [{"role": "system", "content": "Shared rules here."}, {"role": "user", "content": "x" * i}]
        for i in range(1, 4)
    ]
    batched = [c.completion_ids for c in policy.complete(convs)]
    assert policy.min_shared_prefix == 0
    assert batched == [policy.complete([c])[0].completion_ids for c in convs]


def test_an_answer_budget_beyond_the_context_is_refused(tiny_model_path, capsys) -> None:
    from textgym.cli import main

    with pytest.raises(ValueError, match=r"below the model's context of 4096 tokens"):
        HFPolicy(tiny_model_path, max_new_tokens=4096)
    argv = ["eval", "--policy", f"hf:{tiny_model_path}", "--max-new-tokens", "100000"]
    assert main([*argv, "--episodes", "1", "--opponent", "random"]) == 2
    err = capsys.readouterr().err
    assert "must be below the model's context" in err and "Traceback" not in err
