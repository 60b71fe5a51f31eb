"""LoRA on the tiny model: only the adapter trains and is saved, an adapter folder loads as
a model anywhere, merging gives the same model, resume is exact, bad ranks are refused."""

from __future__ import annotations

import dataclasses
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from textgym.cli import main  # noqa: E402
from textgym.envs.tictactoe.players import teacher_policy  # noqa: E402
from textgym.models.loading import is_adapter, load_adapter, load_model  # noqa: E402
from textgym.models.lora import (  # noqa: E402
    add_lora,
    check_lora_rank,
    merge_lora,
    trainable_parameters,
)
from textgym.models.saving import save_model  # noqa: E402
from textgym.trainers.rl import RLConfig, train_rl  # noqa: E402
from textgym.trainers.sft import SFTConfig, sft_tokens, sft_train, teacher_games  # noqa: E402
from textgym.view import View  # noqa: E402


@pytest.fixture(scope="module")
def teacher_turns(tiny_model_path):
    _, tok = load_model(tiny_model_path)
    kept, _ = teacher_games(
        teacher_policy(0.9), View("TextTicTacToe-LLM-v0", history="last"), list(range(24))
    )
    return sft_tokens(kept, tok)


def logits(model, tok, text="<|im_start|>user\nhello<|im_end|>\n"):
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.fixture(scope="module")
def sft_adapter(tiny_model_path, teacher_turns, tmp_path_factory):
    """A LoRA SFT of the tiny model, saved; (folder, trained peft model, tokenizer)."""
    model, tok = load_model(tiny_model_path)
    model = add_lora(model, 4, tiny_model_path)
    losses = sft_train(model, tok, teacher_turns, SFTConfig(epochs=3, batch_size=16, lr=1e-2))
    assert losses[-1] < losses[0]
    folder = tmp_path_factory.mktemp("lora") / "sft"
    save_model(folder, model, tok)
    return folder, model, tok


def test_only_the_adapter_trains(tiny_model_path, sft_adapter) -> None:
    base, _ = load_model(tiny_model_path)
    _, model, _ = sft_adapter
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all("lora_" in n for n in trained)
    frozen = {n: p for n, p in model.named_parameters() if not p.requires_grad}
    base_params = dict(base.named_parameters())
    for name, param in frozen.items():  # every base weight is exactly as loaded
        key = name.removeprefix("base_model.model.").replace(".base_layer", "")
        assert torch.equal(param, base_params[key]), name
    share = sum(p.numel() for p in trainable_parameters(model)) / sum(
        p.numel() for p in model.parameters()
    )
    assert 0 < share < 0.25


def test_the_folder_holds_only_the_adapter_and_loads_as_a_model(
    tiny_model_path, sft_adapter, tmp_path
) -> None:
    folder, model, tok = sft_adapter
    names = {p.name for p in folder.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= names
    assert "model.safetensors" not in names
    assert is_adapter(folder) and not is_adapter(tiny_model_path)
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["lora_dropout"] == 0.0
    assert config["base_model_name_or_path"] == str(tiny_model_path.resolve())
    # Anywhere a model is named: the base with the adapter merged in, the same outputs.
    loaded, loaded_tok = load_model(folder)
    assert not is_adapter(folder / "missing") and not hasattr(loaded, "peft_config")
    assert torch.allclose(logits(loaded, loaded_tok), logits(model, tok), atol=1e-5)
    base, _ = load_model(tiny_model_path)
    assert not torch.allclose(logits(base, tok), logits(model, tok), atol=1e-3)
    # Merged into a plain folder: no adapter left, the same model again.
    out = merge_lora(folder, tmp_path / "merged")
    assert not is_adapter(out) and (out / "model.safetensors").is_file()
    merged, _ = load_model(out)
    assert torch.allclose(logits(merged, tok), logits(model, tok), atol=1e-5)


def test_an_adapter_trains_on_top_of_an_adapter(sft_adapter, tmp_path) -> None:
    """RL after a LoRA SFT: the new adapter's base is the SFT adapter folder, which loads
    on its own base in turn."""
    folder, _, _ = sft_adapter
    warm, tok = load_model(folder)
    model = add_lora(warm, 2, folder, seed=1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(0.05)
    save_model(tmp_path / "second", model, tok)
    again, _ = load_model(tmp_path / "second")
    assert torch.allclose(logits(again, tok), logits(model, tok), atol=1e-5)


@pytest.mark.slow
def test_sft_with_lora_continues_exactly_from_its_saved_epoch(
    tiny_model_path, teacher_turns, tmp_path
) -> None:
    config = SFTConfig(epochs=2, batch_size=16, lr=1e-2)

    def fresh():
        model, tok = load_model(tiny_model_path)
        return add_lora(model, 4, tiny_model_path), tok

    straight, tok = fresh()
    expected = sft_train(straight, tok, teacher_turns, config)

    class Killed(Exception):
        pass

    steps_per_epoch = -(-len(teacher_turns) // 16)

    def kill_in_epoch_two(step: int, _loss: float) -> None:
        if step == steps_per_epoch + 1:
            raise Killed

    state = tmp_path / "state"
    first, _ = fresh()
    with pytest.raises(Killed):
        sft_train(first, tok, teacher_turns, config, kill_in_epoch_two, state_dir=state)
    saved = torch.load(state / "sft_state.pt", weights_only=False)
    assert saved["model"] and all("lora_" in k for k in saved["model"])  # the adapter only
    second, _ = fresh()
    assert sft_train(second, tok, teacher_turns, config, state_dir=state) == expected
    for (name, a), b in zip(straight.named_parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b), name


def test_rl_with_lora_checkpoints_the_adapter_and_resumes_exactly(warm_model, tmp_path) -> None:
    folder = warm_model

    def config(out, steps):
        return RLConfig(
            model=str(folder),
            out_dir=str(out),
            steps=steps,
            games_per_batch=8,
            group_size=4,
            max_new_tokens=16,
            num_envs=8,
            micro_batch_tokens=1024,
            checkpoint_every=1,
            lr=1e-2,
            lora_rank=2,
            device="cpu",
        )

    straight = train_rl(config(tmp_path / "straight", 2), progress=False)
    assert any(h["rollout/groups_with_variance"] > 0 for h in straight)
    train_rl(config(tmp_path / "resumed", 1), progress=False)
    resumed = train_rl(config(tmp_path / "resumed", 2), resume=True, progress=False)

    def exact(record):
        return {k: v for k, v in record.items() if not k.startswith(("time/", "perf/"))}

    assert exact(resumed[-1]) == exact(straight[-1])
    ckpt = tmp_path / "straight" / "checkpoint"
    assert is_adapter(ckpt) and not (ckpt / "model.safetensors").exists()
    a, tok = load_adapter(ckpt)
    b, _ = load_adapter(tmp_path / "resumed" / "checkpoint")
    assert torch.equal(logits(a, tok), logits(b, tok))
    warm, _ = load_model(folder)
    assert not torch.allclose(logits(a, tok), logits(warm, tok), atol=1e-4)  # it trained
    # Resuming must keep the choice of LoRA or not.
    with pytest.raises(ValueError, match="with a LoRA adapter; resume it with lora_rank"):
        train_rl(
            dataclasses.replace(config(tmp_path / "straight", 3), lora_rank=None),
            resume=True,
            progress=False,
        )


def test_bad_ranks_and_missing_bases_are_one_clear_error(
    tiny_model_path, sft_adapter, tmp_path, capsys
) -> None:
    model, _ = load_model(tiny_model_path)
    for rank in (0, -1, 2.5, True, "4"):
        with pytest.raises(ValueError, match="whole number >= 1"):
            check_lora_rank(model, rank)
    with pytest.raises(ValueError, match=r"rank 33 does not fit: layer .*k_proj.* at most 32"):
        check_lora_rank(model, 33)
    check_lora_rank(model, 32)
    out = tmp_path / "sft-out"
    args = ["train", "sft", "--model", str(tiny_model_path), "--out", str(out), "--games", "4"]
    assert main([*args, "--lora", "64"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not fit" in err
    with pytest.raises(SystemExit):
        main([*args, "--lora", "0"])
    assert "must be >= 1" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ValueError, match="lora_rank must be a whole number"):
        RLConfig(model=str(tiny_model_path), out_dir=str(tmp_path / "rl"), lora_rank=0)
    # An adapter whose base model has gone.
    folder, _, _ = sft_adapter
    moved = tmp_path / "moved"
    moved.mkdir()
    for p in folder.iterdir():
        (moved / p.name).write_bytes(p.read_bytes())
    config = json.loads((moved / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tmp_path / "gone")
    (moved / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"was trained on .*gone.*, which is not there"):
        load_model(moved)
    assert main(["model", "merge", str(tiny_model_path), str(tmp_path / "m")]) == 2
    assert "not a LoRA adapter folder" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_trains_sft_and_rl_with_lora_and_merges(tiny_model_path, tmp_path, capsys) -> None:
    sft = tmp_path / "sft"
    assert (
        main(
            [
                *("train", "sft", "--model", str(tiny_model_path), "--out", str(sft)),
                *("--games", "16", "--epochs", "1", "--batch-size", "16", "--lora", "4"),
            ]
        )
        == 0
    )
    assert is_adapter(sft) and (sft / "textgym_view.json").is_file()
    rl = tmp_path / "rl"
    assert (
        main(
            [
                *("train", "rl", "--model", str(sft), "--out", str(rl), "--steps", "1"),
                *("--games-per-batch", "8", "--group-size", "4", "--num-envs", "8"),
                *("--eval-every", "0", "--lora", "2", "--quiet"),
            ]
        )
        == 0
    )
    assert is_adapter(rl / "checkpoint")
    capsys.readouterr()
    assert main(["model", "merge", str(rl / "checkpoint"), str(tmp_path / "merged")]) == 0
    assert "merged" in capsys.readouterr().out
    assert (
        main(
            [
                *("eval", "--policy", f"hf:{tmp_path / 'merged'}", "--episodes", "4"),
                *("--opponent", "random"),
            ]
        )
        == 0
    )


def test_adapters_that_name_themselves_or_each_other_are_one_error_line(
    tiny_model_path, sft_adapter, tmp_path, capsys
) -> None:
    """A loop of adapters is refused before anything loads (it recursed until Python's
    limit); an unreadable config and a too-long chain are one line too."""
    folder, _, _ = sft_adapter

    def adapter(name, base):
        path = tmp_path / name
        path.mkdir()
        for p in folder.iterdir():
            (path / p.name).write_bytes(p.read_bytes())
        config = json.loads((path / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = str(base)
        (path / "adapter_config.json").write_text(json.dumps(config))
        return path

    def refused(path, why):
        argv = ["eval", "--policy", f"hf:{path}", "--episodes", "1", "--opponent", "random"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and why in err, err

    me = adapter("me", tmp_path / "me")
    refused(me, "adapters name themselves or each other as base model")
    x = adapter("x", tmp_path / "y")
    adapter("y", x)
    refused(x, f"{x} -> {tmp_path / 'y'} -> {x}")
    chain = [adapter("a0", tiny_model_path)]
    for i in range(1, 10):
        chain.append(adapter(f"a{i}", chain[-1]))
    refused(chain[-1], "stacks more than 8 adapters")
    (me / "adapter_config.json").write_text("{nope")
    refused(me, "cannot read the adapter config")
