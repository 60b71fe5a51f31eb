"""The tiny local model: real save/load paths, a faithful character tokenizer."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
from transformers import AutoModelForCausalLM, AutoTokenizer

from textgym.models.tiny import TAG_TOKENS, build_char_tokenizer, build_tiny_model


def test_round_trip_through_auto_classes(tiny_model_path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    assert len(tok) == model.config.vocab_size
    text = " X | 2 | 3\n---+---+---\n"
    ids = tok(text).input_ids
    assert len(ids) == len(text)  # one token per character
    assert tok.decode(ids) == text  # no spaces inserted, whitespace kept


def test_answer_tags_are_single_tokens_that_decode_as_text(tiny_model_path, tmp_path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    answer = "<think>2</think><move>5</move>"
    ids = tok(answer).input_ids
    assert [tok.decode([i]) for i in ids] == ["<think>", "2", "</think>", "<move>", "5", "</move>"]
    assert tok.decode(ids, skip_special_tokens=True) == answer
    for tag in TAG_TOKENS:
        assert len(tok(tag).input_ids) == 1
    # a tag inside other text splits there; the rest stays one token per character
    assert tok.decode(tok("a<move>b</move>c").input_ids) == "a<move>b</move>c"
    assert len(tok("a<move>b</move>c").input_ids) == 5
    # characters only, on request
    plain = AutoTokenizer.from_pretrained(build_tiny_model(tmp_path / "plain", tag_tokens=()))
    assert len(plain(answer).input_ids) == len(answer)
    with pytest.raises(ValueError, match="tag token"):
        build_char_tokenizer(["<"])


def test_chat_template_is_chatml(tiny_model_path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    msgs = [{"role": "system", "content": "Rules."}, {"role": "user", "content": "Board"}]
    text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert text == (
        "<|im_start|>system\nRules.<|im_end|>\n<|im_start|>user\nBoard<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"


@pytest.mark.parametrize("arch", ["qwen3", "lfm2"])
def test_other_architectures_load(tmp_path, arch: str) -> None:
    path = build_tiny_model(tmp_path / arch, architecture=arch)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.model_type == arch


def test_bad_arguments(tmp_path) -> None:
    with pytest.raises(ValueError, match="qwen2"):
        build_tiny_model(tmp_path / "m", architecture="qwen2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_heads"):
        build_tiny_model(tmp_path / "m", hidden_size=30, num_heads=4)
