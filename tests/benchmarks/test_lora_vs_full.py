"""benchmarks/lora_vs_full.py in its smoke mode: both arms trained, timed and audited."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "lora_vs_full.py"


@pytest.mark.slow
def test_both_arms_are_trained_timed_and_audited(tmp_path) -> None:
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    arms = {a["arm"]: a for a in json.loads(out.read_text())["arms"]}
    assert set(arms) == {"lora", "full"}
    assert arms["lora"]["lr"] != arms["full"]["lr"]
    for a in arms.values():
        assert a["steps"] > 0 and a["train_wall_s"] > 0 and a["peak_mb"] > 0
        assert 0.0 <= a["exact_loss_pct"] <= 100.0 and a["positions"] > 0
    assert "exact loss %" in proc.stdout
