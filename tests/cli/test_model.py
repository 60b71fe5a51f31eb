"""``textgym model tiny``: a tiny model any command can load; a used folder is refused."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from textgym.cli import main


def test_model_tiny_writes_a_model_the_policies_load(tmp_path, capsys) -> None:
    from textgym.policies.hf import HFPolicy

    out = tmp_path / "tiny"
    assert main(["model", "tiny", str(out), "--hidden", "32", "--seed", "3"]) == 0
    assert f"hf:{out}" in capsys.readouterr().out
    policy = HFPolicy(out, temperature=0.0, max_new_tokens=4)
    assert policy.model.config.hidden_size == 32
    [answer] = policy.complete([[{"role": "user", "content": "hi"}]])
    assert len(answer.completion_ids) >= 1


def test_model_tiny_refuses_a_folder_in_use(tmp_path, capsys) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["model", "tiny", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not empty" in err and "Traceback" not in err
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_model_tiny_help_shows_the_defaults(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["model", "tiny", "--help"])
    assert "(default: 64)" in capsys.readouterr().out
