"""``bfloat16-mixed``: float32 weights, forward passes in bfloat16 wherever textgym runs
the model (sampling and training), the same on a LoRA adapter, and close to float32."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from textgym.models.loading import compute_precision, load_model  # noqa: E402
from textgym.policies.hf import HFPolicy  # noqa: E402
from textgym.rollout import rollout  # noqa: E402
from textgym.trainers.tokens import collate, episode_tokens, token_logprobs  # noqa: E402
from textgym.view import View  # noqa: E402


class Dtypes:
    """Records the output dtype of every call of a model's first linear layer."""

    def __init__(self, model) -> None:
        layer = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
        self.seen: set[torch.dtype] = set()
        self.handle = layer.register_forward_hook(lambda m, i, o: self.seen.add(o.dtype))


@pytest.fixture(scope="module")
def played(tiny_model_path):
    model, tok = load_model(tiny_model_path, "cpu", "bfloat16-mixed")
    policy = HFPolicy(model, tok, temperature=1.0, max_new_tokens=10, seed=0)
    dtypes = Dtypes(model)
    episodes = rollout(policy, View("TextTicTacToe-LLM-v0", history="last"), list(range(4)))
    dtypes.handle.remove()
    return model, tok, episodes, dtypes.seen


def test_weights_stay_float32_and_sampling_computes_in_bfloat16(played) -> None:
    model, _, _, seen = played
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert seen == {torch.bfloat16}


def test_training_log_probs_compute_in_bfloat16_and_match_sampling(played) -> None:
    model, tok, episodes, _ = played
    batch = collate([t for e in episodes for t in episode_tokens(e, 1.0)], tok.pad_token_id)
    dtypes = Dtypes(model)
    logp = token_logprobs(model, batch)
    dtypes.handle.remove()
    assert dtypes.seen == {torch.bfloat16}
    mask = batch.loss_mask > 0
    gap = (logp[mask] - batch.old_logprobs[mask]).abs().max().item()
    assert gap < 0.1, gap  # bfloat16 keeps about 3 significant digits of the logits


def test_mixed_log_probs_are_close_to_float32_and_gradients_are_float32(played) -> None:
    model, tok, episodes, _ = played
    batch = collate([t for e in episodes for t in episode_tokens(e, 1.0)], tok.pad_token_id)
    plain = copy.deepcopy(model)  # a copy does not inherit the compute dtype
    mask = batch.loss_mask > 0
    mixed = token_logprobs(model, batch)
    with torch.no_grad():
        full = token_logprobs(plain, batch)
    assert (mixed[mask] - full[mask]).abs().max().item() < 0.1
    (mixed * batch.loss_mask).sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and {g.dtype for g in grads} == {torch.float32}
    model.zero_grad(set_to_none=True)


def test_a_lora_adapter_keeps_the_compute_dtype(played, tiny_model_path) -> None:
    pytest.importorskip("peft")
    from textgym.models.lora import add_lora

    base, _ = load_model(tiny_model_path, "cpu", "bfloat16-mixed")
    wrapped = add_lora(base, 2, tiny_model_path, seed=0)
    with compute_precision(wrapped):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert torch.is_autocast_enabled("cpu")
    plain, _ = load_model(tiny_model_path, "cpu", "float32")
    with compute_precision(plain):
        assert not torch.is_autocast_enabled("cpu")
