"""Sizing a model from its headers: exact on real files, one ModelFileError on hostile ones."""

from __future__ import annotations

import contextlib
import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textgym.models.files import (
    GGUFArray,
    ModelFileError,
    config_parameters,
    gguf_config,
    gguf_parameters,
    read_config,
    safetensors_parameters,
)


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf_bytes(metadata: dict, tensors: dict[str, list[int]], version: int = 3) -> bytes:
    """A GGUF header: uint32 values for ints, strings, arrays of strings for lists."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata))
    for key, value in metadata.items():
        out += _string(key)
        if isinstance(value, int):
            out += struct.pack("<II", 4, value)
        elif isinstance(value, str):
            out += struct.pack("<I", 8) + _string(value)
        else:
            out += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_string(v) for v in value)
    for name, shape in tensors.items():
        out += _string(name) + struct.pack("<I", len(shape))
        out += struct.pack(f"<{len(shape)}Q", *shape) + struct.pack("<IQ", 0, 0)
    return out


LLAMA = {
    "general.architecture": "llama",
    "llama.block_count": 2,
    "llama.embedding_length": 8,
    "llama.feed_forward_length": 16,
    "llama.attention.head_count": 2,
    "llama.attention.head_count_kv": 1,
    "tokenizer.ggml.tokens": ["a", "b", "c"],
}


def test_gguf_header_counts_tensors_and_reads_the_sizes(tmp_path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(gguf_bytes(LLAMA, {"embed": [8, 3], "w": [8, 16], "norm": [8]}))
    params, metadata = gguf_parameters(path)
    assert params == 24 + 128 + 8
    assert metadata["tokenizer.ggml.tokens"] == 3
    assert isinstance(metadata["tokenizer.ggml.tokens"], GGUFArray)
    config = gguf_config(metadata)
    assert config == {
        "block_count": 2,
        "embedding_length": 8,
        "ffn_dim": 16,
        "head_count": 2,
        "head_count_kv": 1,
        "vocab_size": 3,
    }
    # embedding 3*8; per layer: q,o 2*8*2*4, k,v 2*8*1*4, MLP 2*8*16
    assert config_parameters(config) == 24 + 2 * (128 + 64 + 256)


def test_gguf_header_of_smollm2_matches_the_gguf_package(smollm2_gguf) -> None:
    from gguf import GGUFReader

    reader = GGUFReader(smollm2_gguf)
    params, metadata = gguf_parameters(smollm2_gguf)
    assert params == sum(int(t.n_elements) for t in reader.tensors) == 134_515_008
    assert metadata["llama.block_count"] == 30
    assert metadata["tokenizer.ggml.tokens"] == len(reader.fields["tokenizer.ggml.tokens"].data)
    built = config_parameters(gguf_config(metadata))
    assert built is not None and 0.75 * params < built <= params  # a lower bound, near


@pytest.mark.parametrize(
    "data, why",
    [
        (b"GGUX" + bytes(20), "does not start with GGUF"),
        (b"GGUF" + struct.pack("<IQQ", 9, 0, 0), "version 9"),
        (b"GGUF" + struct.pack("<IQQ", 3, 10**15, 0), "claims"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 10**12), "runs past"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _string("k") + struct.pack("<I", 99), "type 99"),
        (
            b"GGUF"
            + struct.pack("<IQQ", 3, 0, 1)
            + _string("k")
            + struct.pack("<IIQ", 9, 8, 10**9),
            "array of 1000000000 items",
        ),
        (
            b"GGUF"
            + struct.pack("<IQQ", 3, 0, 1)
            + _string("k")
            + struct.pack("<I", 9)
            + struct.pack("<IQ", 9, 1) * 6,
            "nested",
        ),
        (
            b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + _string("t") + struct.pack("<I", 10**6),
            "1000000 dim",
        ),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 0)[:-3], "runs past"),
    ],
)
def test_hostile_gguf_headers_are_one_error(tmp_path, data: bytes, why: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(ModelFileError, match=why):
        gguf_parameters(path)


VALID = gguf_bytes(LLAMA, {"embed": [8, 3], "w": [8, 16]})


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.integers(0, len(VALID)),
    position=st.integers(0, len(VALID) - 1),
    byte=st.integers(0, 255),
)
def test_any_corrupted_gguf_header_is_read_or_refused(tmp_path, cut, position, byte) -> None:
    """Flip one byte and cut the file anywhere: the reader returns or raises
    ModelFileError, nothing else (never a MemoryError, struct.error, RecursionError)."""
    data = bytearray(VALID)
    data[position] = byte
    path = tmp_path / "fuzz.gguf"
    path.write_bytes(bytes(data[:cut]))
    with contextlib.suppress(ModelFileError):
        gguf_parameters(path)


def _safetensors(path, header: bytes, length: int | None = None) -> None:
    path.write_bytes(struct.pack("<Q", len(header) if length is None else length) + header)


def test_safetensors_header_counts_and_refuses(tmp_path) -> None:
    good = tmp_path / "good.safetensors"
    header = {"__metadata__": {"format": "pt"}, "a": {"shape": [3, 4]}, "b": {"shape": [5]}}
    _safetensors(good, json.dumps(header).encode())
    assert safetensors_parameters(good) == 17
    bad = tmp_path / "bad.safetensors"
    cases = [
        (b"{}", 10**12, "header length 1000000000000"),
        (b"not json", None, "not JSON"),
        (b"[1, 2]", None, "no object"),
        (b"\xff\xfe", None, "not JSON"),
        (json.dumps({"a": {"shape": [-1, 3]}}).encode(), None, "tensor 'a'"),
        (json.dumps({"a": {"shape": "big"}}).encode(), None, "tensor 'a'"),
        (json.dumps({"a": [1]}).encode(), None, "tensor 'a'"),
    ]
    for raw, length, why in cases:
        _safetensors(bad, raw, length)
        with pytest.raises(ModelFileError, match=why):
            safetensors_parameters(bad)
    bad.write_bytes(b"\x01")
    with pytest.raises(ModelFileError, match="header length -1"):
        safetensors_parameters(bad)


SMOLLM2_CONFIG = {
    "hidden_size": 576,
    "num_hidden_layers": 30,
    "vocab_size": 49152,
    "intermediate_size": 1536,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
}


def test_config_parameters_is_a_lower_bound_by_hand() -> None:
    per_layer = 2 * 576 * 9 * 64 + 2 * 576 * 3 * 64 + 2 * 576 * 1536
    assert config_parameters(SMOLLM2_CONFIG) == 49152 * 576 + 30 * per_layer
    assert config_parameters({"text_config": SMOLLM2_CONFIG}) == config_parameters(SMOLLM2_CONFIG)
    gpt2 = {"n_embd": 768, "n_layer": 12, "vocab_size": 50257, "n_head": 12, "n_inner": None}
    assert config_parameters(gpt2) == 50257 * 768 + 12 * (4 * 768 * 768 + 2 * 768 * 3072)
    assert config_parameters({"hidden_size": 8, "vocab_size": 3}) is None
    for bad in (-1, 0, "30", True, 2.5):
        with pytest.raises(ModelFileError, match=r"here: num_hidden_layers must be a whole"):
            config_parameters({**SMOLLM2_CONFIG, "num_hidden_layers": bad}, "here")


def test_config_parameters_never_exceeds_a_real_model(tiny_model_path) -> None:
    from textgym.models.loading import load_model

    model, _ = load_model(tiny_model_path)
    built = config_parameters(read_config(tiny_model_path))
    assert built is not None and 0.5 * model.num_parameters() < built <= model.num_parameters()


def test_read_config_refuses_what_is_not_a_config(tmp_path) -> None:
    assert read_config(tmp_path) is None
    (tmp_path / "config.json").write_text("[1]")
    with pytest.raises(ModelFileError, match="no JSON object"):
        read_config(tmp_path)
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(ModelFileError, match="not JSON"):
        read_config(tmp_path)
