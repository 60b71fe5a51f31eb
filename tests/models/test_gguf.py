"""A real pretrained model from a GGUF file: SmolLM2-135M-Instruct, loaded, converted to a
folder, and playing an env (skipped, with how to get it, when the file is not here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from textgym.cli import main  # noqa: E402
from textgym.policies.hf import HFPolicy, load_model  # noqa: E402
from textgym.rollout import rollout  # noqa: E402
from textgym.view import View  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.real_model]


@pytest.fixture(scope="module")
def smollm2_folder(smollm2_gguf, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smollm2") / "model"
    assert main(["model", "convert", str(smollm2_gguf), str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def smollm2(smollm2_folder):
    """The converted model and tokenizer, loaded once."""
    return load_model(smollm2_folder)


def test_convert_writes_a_plain_folder_with_tokenizer_and_chat_template(
    smollm2_folder, smollm2
) -> None:
    names = {p.name for p in smollm2_folder.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json"} <= names
    assert "tokenizer.json" in names
    config = json.loads((smollm2_folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert "quantization_config" not in config
    model, tok = smollm2
    assert tok.chat_template is not None and "<|im_start|>" in tok.chat_template
    assert sum(p.numel() for p in model.parameters()) > 100_000_000


def test_the_gguf_file_and_its_folder_are_the_same_model(smollm2_gguf, smollm2) -> None:
    """A GGUF file works where a folder does, with the same weights and answers."""
    from_file, tok = load_model(smollm2_gguf)
    from_folder, _ = smollm2
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"]
    with torch.no_grad():
        assert torch.equal(from_file(ids).logits, from_folder(ids).logits)
    answer = HFPolicy(from_folder, tok, temperature=0.0, max_new_tokens=24).complete(
        [[{"role": "user", "content": "What is the capital of France? One word."}]]
    )[0]
    assert "Paris" in answer.text
    assert answer.finish_reason == "stop"  # it ended with its own end-of-turn token


@pytest.fixture(scope="module")
def played(smollm2):
    """Two sampled full-history tic-tac-toe episodes of SmolLM2."""
    policy = HFPolicy(*smollm2, temperature=1.0, max_new_tokens=8, seed=0)
    return policy, rollout(policy, View("TextTicTacToe-LLM-v0", history="full"), [0, 1], num_envs=2)


def test_it_plays_the_tic_tac_toe_env_with_exact_ids(played) -> None:
    _, episodes = played
    for episode in episodes:
        for turn in episode.turns:
            assert len(turn.completion.completion_ids) > 0
            assert len(turn.completion.logprobs) == len(turn.completion.completion_ids)
            assert all(lp <= 0.0 for lp in turn.completion.logprobs)
    assert sum(len(e.turns) for e in episodes) > 2  # multi-turn: answers came back


def test_on_policy_logprobs_of_the_real_model_match_sampling(played) -> None:
    """The trainer's log-probs of the sampled ids equal the sampling log-probs (1e-4)."""
    from textgym.trainers.tokens import collate, episode_tokens, token_logprobs

    policy, episodes = played
    for merge in (False, True):
        turns = [t for e in episodes for t in episode_tokens(e, 1.0, merge)]
        batch = collate(turns, policy.tokenizer.pad_token_id)
        with torch.no_grad():
            logp = token_logprobs(policy.model, batch)
        diff = ((logp - batch.old_logprobs).abs() * batch.loss_mask).max()
        assert diff < 1e-4
        assert batch.loss_mask.sum() >= 8
    assert len(turns) == len(episodes)  # merged: one sequence per episode


def test_smollm2s_template_keeps_the_conversation_as_an_exact_prefix(played) -> None:
    """Decided for this model: every full-history prompt starts with the exact ids of the
    previous prompt and sampled answer (its template neither re-renders nor strips earlier
    turns, and the sampled answers re-tokenize to the same ids), so each episode trains
    as one sequence with the environment's text masked."""
    from textgym.trainers.tokens import episode_tokens, prefix_report

    policy, episodes = played
    assert prefix_report(episodes) == {"prefix/turns_kept": 1.0, "prefix/episodes_merged": 1.0}
    tok = policy.tokenizer
    for e in episodes:
        (seq,) = episode_tokens(e, 1.0, merge=True)
        env_text = tok.decode(
            [i for i, m in zip(seq.input_ids, seq.loss_mask, strict=True) if not m]
        )
        for turn in e.turns:
            assert turn.messages[-1]["content"] in env_text  # each observation is masked
        answers = [i for i, m in zip(seq.input_ids, seq.loss_mask, strict=True) if m]
        assert answers == [i for t in e.turns for i in t.completion.completion_ids]


def test_a_file_that_is_not_gguf_is_one_clear_error(tmp_path, capsys) -> None:
    pytest.importorskip("gguf", reason="pip install 'textgym[gguf]'")
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"not a gguf file at all")
    with pytest.raises(ValueError, match=r"is not a GGUF file"):
        load_model(fake)
    assert main(["model", "convert", str(fake), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a GGUF file" in err
    assert main(["model", "convert", str(tmp_path / "none.gguf"), str(tmp_path / "o")]) == 2
    assert "neither a folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_lora_trains_sft_and_a_cispo_step_on_smollm2(smollm2_folder, tmp_path) -> None:
    """A few LoRA steps on the real model: SFT lowers the loss on teacher answers, only
    the adapter (a few % of the model's size) is saved and it loads back as the same
    model; one CISPO step with LoRA runs and checkpoints the adapter."""
    pytest.importorskip("peft")
    from textgym.envs.tictactoe.players import teacher_policy
    from textgym.models.loading import is_adapter
    from textgym.models.lora import add_lora
    from textgym.models.saving import save_model
    from textgym.trainers.rl import RLConfig, train_rl
    from textgym.trainers.sft import SFTConfig, sft_tokens, sft_train, teacher_games

    model, tok = load_model(smollm2_folder)
    model = add_lora(model, 8, smollm2_folder)
    kept, _ = teacher_games(
        teacher_policy(0.9), View("TextTicTacToe-LLM-v0", history="last"), list(range(4))
    )
    turns = sft_tokens(kept[:1], tok)
    losses = sft_train(model, tok, turns, SFTConfig(epochs=2, batch_size=len(turns), lr=2e-3))
    assert losses[-1] < losses[0]
    folder = save_model(tmp_path / "sft", model, tok)
    assert is_adapter(folder)
    adapter = (folder / "adapter_model.safetensors").stat().st_size
    assert adapter < 0.05 * (smollm2_folder / "model.safetensors").stat().st_size
    again, _ = load_model(folder)
    ids = torch.tensor([turns[0].input_ids])
    with torch.no_grad():
        assert torch.allclose(again(ids).logits, model(ids).logits, atol=1e-3)
    config = RLConfig(
        model=str(smollm2_folder),
        out_dir=str(tmp_path / "rl"),
        steps=1,
        games_per_batch=2,
        group_size=2,
        max_new_tokens=8,
        num_envs=2,
        lora_rank=4,
        device="cpu",
    )
    (record,) = train_rl(config, progress=False)
    assert record["loss/grad_norm"] >= 0.0
    assert is_adapter(tmp_path / "rl" / "checkpoint")


def test_a_gguf_of_an_unsupported_architecture_is_one_clear_error(tmp_path) -> None:
    gguf = pytest.importorskip("gguf", reason="pip install 'textgym[gguf]'")
    import numpy as np

    path = tmp_path / "odd.gguf"
    writer = gguf.GGUFWriter(str(path), "notanarch")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ValueError, match=r"as a GGUF causal LM: .*notanarch is not supported"):
        load_model(path)
