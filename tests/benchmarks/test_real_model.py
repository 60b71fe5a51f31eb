"""benchmarks/real_model.py in its smoke mode: every phase is measured and reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "real_model.py"


@pytest.mark.slow
def test_the_real_model_benchmark_measures_every_phase(tmp_path) -> None:
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    phases = {p["phase"]: p for p in report["phases"]}
    assert set(phases) == {"sampling", "update: bare", "update: CISPO", "SFT: bare", "SFT: textgym"}
    for p in phases.values():
        assert p["wall_s"] > 0 and p["tokens"] > 0 and p["peak_mb"] > 0
    assert phases["update: bare"]["tokens"] == phases["update: CISPO"]["tokens"]
    split = report["sampling_split"]
    assert split["prefill_tokens"] > 0 and split["decode_tokens"] > 0
    assert 0.0 <= report["padding_share"] < 1.0
    assert all(v > 0 for v in report["ratios"].values())
    assert {v["board"] for v in report["views"]} == {"rules", "compact", "letters"}
    assert "CISPO update vs bare" in proc.stdout
    cache = report["turn_cache"]
    reuse, full = cache["rows"]["reuse"], cache["rows"]["full prefill"]
    assert full["reused_tokens"] < reuse["reused_tokens"]
    assert reuse["turns"] == full["turns"] == cache["answers"] > 0
