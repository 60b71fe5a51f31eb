"""The tic-tac-toe envs play exactly as recorded before they moved onto the turn-based
core: 192 episodes (4 env ids x 4 reset options x 12 seeds) compared by fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

from tests.envs.tictactoe.transcripts import fingerprints

RECORDED = Path(__file__).parent / "transcripts.json"


def test_every_transcript_is_the_recorded_one() -> None:
    recorded = json.loads(RECORDED.read_text())
    now = fingerprints()
    assert len(recorded) == 192
    changed = sorted(k for k in recorded if now.get(k) != recorded[k])
    assert not changed, f"{len(changed)} transcripts changed, e.g. {changed[:3]}"
