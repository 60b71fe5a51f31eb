"""Loading models: sized from headers and config before allocating; one error line for
files that are not what they claim."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from textgym.models.loading import load_model  # noqa: E402


def _copy_model(source, target):
    import shutil

    shutil.copytree(source, target)
    return target


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
    from tests.models.test_files import LLAMA, gguf_bytes
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
