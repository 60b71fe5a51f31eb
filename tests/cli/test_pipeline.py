"""``textgym pipeline``: every stage checked before the first runs."""

from __future__ import annotations

from textgym.cli import main


def _one_error_line(err: str, needle: str) -> None:
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_pipeline_checks_every_stage_before_the_first_runs(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["pipeline", "--out", str(out), "--games-per-batch", "12"]) == 2
    _one_error_line(capsys.readouterr().err, "must be a positive multiple of group_size (8)")
    assert not (out / "results.jsonl").exists()  # no evaluation ran
    assert not (out / "base").exists()
