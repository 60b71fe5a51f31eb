"""HFPolicy: exact log-probs, batched = one-at-a-time, stop and length, seeding, bad input."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from textgym.policies.hf import HFPolicy, load_model  # noqa: E402

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
    assert shared._shared_prefix([shared.encode(c) for c in convs])[0] >= 16
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


def test_a_model_too_large_for_the_memory_is_refused_before_loading(
    tiny_model_path, tmp_path, monkeypatch
) -> None:
    from textgym.models import loading as hf

    model, _ = load_model(tiny_model_path)
    params = sum(p.numel() for p in model.parameters())
    assert hf.estimate_bytes(tiny_model_path) == 4 * params  # from the safetensors header
    assert hf.estimate_bytes(tiny_model_path, torch.bfloat16) == 2 * params
    monkeypatch.setattr(hf, "_available_bytes", lambda device: 4 * params - 1)
    with pytest.raises(ValueError, match=r"needs about .* GiB as torch.float32 but cpu has"):
        load_model(tiny_model_path)
    monkeypatch.setattr(hf, "_available_bytes", lambda device: 4 * params)
    load_model(tiny_model_path)


def test_a_folder_without_tokenizer_or_chat_template_is_one_clear_error(
    tiny_model_path, tmp_path
) -> None:
    import json
    import shutil

    bare = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_model_path, bare)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (bare / name).unlink(missing_ok=True)
    with pytest.raises(ValueError, match="cannot load a causal LM from"):
        load_model(bare)
    plain = tmp_path / "no-template"
    shutil.copytree(tiny_model_path, plain)
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((plain / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="has no chat template"):
        load_model(plain)


def test_an_answer_budget_beyond_the_context_is_refused(tiny_model_path, capsys) -> None:
    from textgym.cli import main

    with pytest.raises(ValueError, match=r"below the model's context of 4096 tokens"):
        HFPolicy(tiny_model_path, max_new_tokens=4096)
    argv = ["eval", "--policy", f"hf:{tiny_model_path}", "--max-new-tokens", "100000"]
    assert main([*argv, "--episodes", "1", "--opponent", "random"]) == 2
    err = capsys.readouterr().err
    assert "must be below the model's context" in err and "Traceback" not in err


def _copy_model(source, target):
    import shutil

    shutil.copytree(source, target)
    return target


def test_a_config_that_claims_a_million_layers_is_refused_before_allocating(
    tiny_model_path, tmp_path, monkeypatch, capsys
) -> None:
    """Sized from config.json, which is what transformers allocates from (the weights on
    disk are those of 2 layers): 28.7 G parameters, refused at once."""
    import json

    from textgym.cli import main
    from textgym.models import loading as hf

    folder = _copy_model(tiny_model_path, tmp_path / "million")
    config = json.loads((folder / "config.json").read_text())
    config["num_hidden_layers"] = 1_000_000
    (folder / "config.json").write_text(json.dumps(config))
    assert hf.estimate_parameters(folder) > 2.8e10
    monkeypatch.setattr(hf, "_available_bytes", lambda device: 64 * 2**30)
    with pytest.raises(ValueError, match=r"needs about 10\d\.\d GiB as torch.float32"):
        load_model(folder)
    argv = ["eval", "--policy", f"hf:{folder}", "--episodes", "1", "--opponent", "random"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs about" in err
    config["num_hidden_layers"] = "many"
    (folder / "config.json").write_text(json.dumps(config))
    assert main(argv) == 2
    assert "num_hidden_layers must be a whole number >= 1, got 'many'" in capsys.readouterr().err


def test_a_gguf_that_claims_a_million_layers_is_refused_before_allocating(
    tmp_path, monkeypatch
) -> None:
    from tests.utils.test_model_files import LLAMA, gguf_bytes
    from textgym.models import loading as hf

    path = tmp_path / "huge.gguf"
    path.write_bytes(
        gguf_bytes(
            {**LLAMA, "llama.block_count": 1_000_000, "llama.embedding_length": 512},
            {"w": [8, 3]},
        )
    )
    monkeypatch.setattr(hf, "_available_bytes", lambda device: 64 * 2**30)
    with pytest.raises(ValueError, match="needs about"):
        load_model(path)
    path.write_bytes(b"GGUF" + bytes(3))
    with pytest.raises(ValueError, match="is not a GGUF file"):
        load_model(path)


def test_bad_weight_files_are_one_error_line_and_never_run(tiny_model_path, tmp_path, capsys):
    """A safetensors header that lies, and a pickled .bin that would run code (transformers
    reads .bin with weights_only=True): one error line each; a plain .bin of tensors loads."""
    import os
    import pickle

    from safetensors.torch import load_file

    from textgym.cli import main

    def eval_argv(folder):
        return ["eval", "--policy", f"hf:{folder}", "--episodes", "1", "--opponent", "random"]

    header = _copy_model(tiny_model_path, tmp_path / "header")
    (header / "model.safetensors").write_bytes((10**12).to_bytes(8, "little") + b"{}")
    assert main(eval_argv(header)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a safetensors file" in err

    plain = _copy_model(tiny_model_path, tmp_path / "bin")
    weights = load_file(plain / "model.safetensors")
    (plain / "model.safetensors").unlink()
    torch.save(weights, plain / "pytorch_model.bin")
    model, _ = load_model(plain)
    assert torch.equal(
        model.state_dict()["model.embed_tokens.weight"], weights["model.embed_tokens.weight"]
    )

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = _copy_model(plain, tmp_path / "evil")
    (evil / "pytorch_model.bin").write_bytes(pickle.dumps({"x": Payload()}))
    assert main(eval_argv(evil)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused unrun" in err and "Traceback" not in err
    assert not marker.exists()
