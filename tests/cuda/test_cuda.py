"""The GPU path, on CUDA only (they skip elsewhere): HFPolicy's bfloat16 log-probs, a
bfloat16 CISPO step against float32, LoRA on CUDA, and the memory check.

``scripts/device_check.sh`` runs them on a lent GPU machine. With
``TEXTGYM_CUDA_REPORT=FILE`` each test appends what it measured (the largest
differences) to FILE as JSON lines, so the tolerances in the docs are measured ones.
``TEXTGYM_TEST_DEVICE=cpu`` runs the same code on the CPU (the script's dry run).
"""

from __future__ import annotations

import copy
import json
import os

import pytest

torch = pytest.importorskip("torch")

DEVICE = os.environ.get("TEXTGYM_TEST_DEVICE", "cuda")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.slow,  # two of them train
    pytest.mark.skipif(
        DEVICE != "cpu" and not torch.cuda.is_available(), reason="needs a CUDA device"
    ),
]

CONVS = [
    [{"role": "system", "content": "Play."}, {"role": "user", "content": "Board " + "x" * i}]
    for i in range(1, 9)
]


def _report(name: str, **values: float) -> None:
    path = os.environ.get("TEXTGYM_CUDA_REPORT")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"test": name, **values}) + "\n")


def test_hfpolicy_bfloat16_logprobs_match_a_separate_forward_pass(tiny_model_path) -> None:
    from textgym.models.loading import load_model
    from textgym.policies.hf import HFPolicy

    model, tok = load_model(tiny_model_path, DEVICE, "bfloat16")
    policy = HFPolicy(model, tok, temperature=1.0, max_new_tokens=16, seed=0)
    outs = policy.complete(CONVS)
    worst = 0.0
    for out in outs:
        ids = torch.tensor([out.prompt_ids + out.completion_ids], device=DEVICE)
        with torch.no_grad():
            logits = model(ids).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        start = len(out.prompt_ids) - 1
        ref = [float(logp[start + k, t]) for k, t in enumerate(out.completion_ids)]
        worst = max(worst, *(abs(a - b) for a, b in zip(ref, out.logprobs, strict=True)))
    _report("hfpolicy_bf16_logprobs", max_abs_diff=worst)
    # bfloat16 keeps 8 bits of mantissa: batched and single-row kernels round differently
    assert worst < 0.1


def _turns(model, tok):
    from textgym.policies.hf import HFPolicy
    from textgym.rollout import rollout
    from textgym.trainers.tokens import episode_tokens
    from textgym.view import View

    policy = HFPolicy(model, tok, temperature=1.0, max_new_tokens=8, seed=0)
    episodes = rollout(policy, View("TextTicTacToe-LLM-v0", history="last"), list(range(8)))
    return [
        t
        for i, e in enumerate(episodes)
        for t in episode_tokens(e, 1.0 if i % 2 else -1.0)  # advantages of both signs
    ]


def test_a_bfloat16_cispo_step_matches_float32(tiny_model_path) -> None:
    from textgym.models.loading import load_model
    from textgym.trainers.step import cispo_step

    model, tok = load_model(tiny_model_path, DEVICE, "float32")
    turns = _turns(model, tok)
    updates = {}
    for dtype in (torch.float32, torch.bfloat16):
        m = copy.deepcopy(model).to(dtype)
        before = torch.cat([p.detach().float().flatten() for p in m.parameters()])
        opt = torch.optim.SGD(m.parameters(), lr=1.0)
        metrics = cispo_step(m, opt, turns, tok.pad_token_id, grad_clip=1e9)
        after = torch.cat([p.detach().float().flatten() for p in m.parameters()])
        updates[dtype] = (after - before, metrics["loss/cispo"])
    delta32, loss32 = updates[torch.float32]
    delta16, loss16 = updates[torch.bfloat16]
    cosine = float(torch.nn.functional.cosine_similarity(delta32, delta16, dim=0))
    _report("cispo_bf16_vs_fp32", cosine=cosine, loss_fp32=loss32, loss_bf16=loss16)
    assert cosine > 0.9
    assert abs(loss16 - loss32) <= 0.05 * abs(loss32) + 1e-3


def test_lora_trains_and_saves_on_cuda(tiny_model_path, tmp_path) -> None:
    pytest.importorskip("peft")
    from textgym.models.loading import is_adapter, load_model
    from textgym.models.lora import add_lora
    from textgym.models.saving import save_model
    from textgym.trainers.step import cispo_step

    model, tok = load_model(tiny_model_path, DEVICE, "bfloat16")
    model = add_lora(model, 4, tiny_model_path, seed=0)
    trainable = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    opt = torch.optim.AdamW(trainable, lr=1e-2)
    cispo_step(model, opt, _turns(model, tok), tok.pad_token_id)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainable, strict=True))
    out = save_model(tmp_path / "adapter", model, tok)
    assert is_adapter(out)
    reloaded, _ = load_model(out, "cpu")  # merged into its base, on another device
    assert next(reloaded.parameters()).device.type == "cpu"


def test_the_memory_check_refuses_a_model_the_gpu_cannot_hold(tmp_path) -> None:
    from textgym.models.loading import check_fits

    config = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 16384,
        "intermediate_size": 65536,
        "num_hidden_layers": 256,
        "num_attention_heads": 128,
        "num_key_value_heads": 128,
        "vocab_size": 128000,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="GiB free"):
        check_fits(tmp_path, DEVICE, torch.bfloat16)
    if DEVICE != "cpu":
        _report("memory_check", free_gib=torch.cuda.mem_get_info()[0] / 2**30)
