"""Trainer states are data: a crafted state file is refused unread, never run."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from textgym.models.saving import StateError, load_state  # noqa: E402
from textgym.trainers.rl import RLConfig, train_rl  # noqa: E402
from textgym.trainers.sft import SFTConfig, sft_train  # noqa: E402
from textgym.trainers.tokens import TurnTokens  # noqa: E402


class _RunsCode:
    """Pickles as a call of exec: loading it with weights_only=False runs the code."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def _crafted(path, marker) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"step": 1, "optimizer": _RunsCode(marker)}, path)


def test_a_state_that_would_run_code_is_refused_with_its_name(tmp_path) -> None:
    marker = tmp_path / "ran"
    _crafted(tmp_path / "state.pt", marker)
    with pytest.raises(StateError, match=r"state\.pt is not a trainer state"):
        load_state(tmp_path / "state.pt")
    assert not marker.exists()


def test_plain_states_load_and_junk_is_one_error(tmp_path) -> None:
    # what textgym's own torch.save writes (pickle protocol 2)
    plain = {"step": 3, "config": {"a": (1, 2), "b": None}, "t": torch.ones(2), "r": [{}]}
    torch.save(plain, tmp_path / "ok.pt")
    loaded = load_state(tmp_path / "ok.pt")
    assert loaded["step"] == 3 and torch.equal(loaded["t"], torch.ones(2))
    (tmp_path / "junk.pt").write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(StateError, match=r"junk\.pt"):
        load_state(tmp_path / "junk.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(StateError, match="not a trainer state"):
        load_state(tmp_path / "list.pt")


def test_train_rl_resume_refuses_a_crafted_checkpoint_before_any_work(warm_model, tmp_path) -> None:
    marker = tmp_path / "ran"
    out = tmp_path / "run"
    _crafted(out / "checkpoint" / "trainer_state.pt", marker)
    config = RLConfig(model=str(warm_model), out_dir=str(out), steps=1, device="cpu")
    with pytest.raises(StateError, match=r"trainer_state\.pt"):
        train_rl(config, resume=True, progress=False)
    assert not marker.exists()


def test_sft_resume_refuses_a_crafted_state(tiny_model_path, tmp_path) -> None:
    from textgym.models.loading import load_model

    marker = tmp_path / "ran"
    _crafted(tmp_path / "sft" / "sft_state.pt", marker)
    model, tokenizer = load_model(tiny_model_path)
    with pytest.raises(StateError, match=r"sft_state\.pt"):
        turns = [TurnTokens([1, 2, 3], [0, 1, 1], [0.0] * 3, 1.0)]
        sft_train(model, tokenizer, turns, SFTConfig(epochs=1), state_dir=tmp_path / "sft")
    assert not marker.exists()
