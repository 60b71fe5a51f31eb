"""A hard kill loses nothing: ``train rl``, ``train sft`` and the pipeline, killed with
SIGKILL at several points in real subprocesses and started again, end where an
uninterrupted run ends (RL and SFT bit for bit; the pipeline with the same report)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from textgym.view import View

torch = pytest.importorskip("torch")

from safetensors.torch import load_file  # noqa: E402

pytestmark = [pytest.mark.slow]

VIEW = ["--env", "TextTicTacToe-LLM-Letters-v0", "--system-prompt", "none", "--history", "last"]


def textgym(*argv: str) -> list[str]:
    return [sys.executable, "-m", "textgym.cli", *argv]


def run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def kill_when(cmd: list[str], ready: Callable[[], bool]) -> None:
    """Start ``cmd`` and SIGKILL it as soon as ``ready()`` holds; the kill must happen."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env()
    )
    while proc.poll() is None and not ready():
        time.sleep(0.01)
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert not finished, (
        f"the run ended before the kill point (rc {proc.returncode}): {err[-2000:]}"
    )


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name


def metric_lines(path: Path) -> list[dict]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    timing = ("time/", "perf/")
    return [{k: v for k, v in r.items() if not k.startswith(timing)} for r in lines]


def lines_in(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.fixture(scope="module")
def warm_model(warm_model_for) -> Path:
    """The tiny model after a little SFT under the test's view: its RL groups have reward
    variance to learn from."""
    return warm_model_for(View("TextTicTacToe-LLM-Letters-v0", "", "last"))


@pytest.mark.parametrize(
    "opponent",
    [(), ("--opponent", "self"), ("--opponent", "snapshot:1", "--opponent-pool", "2")],
    ids=["scripted", "self-play", "snapshots"],
)
def test_train_rl_killed_twice_ends_bit_identical(warm_model, tmp_path, opponent) -> None:
    def rl(out: Path, *extra: str) -> list[str]:
        return textgym(
            "train", "rl", "--model", str(warm_model), "--out", str(out), *VIEW,
            "--steps", "4", "--games-per-batch", "8", "--group-size", "4",
            "--eval-every", "2", "--eval-games", "4", "--checkpoint-every", "1",
            "--max-new-tokens", "20", "--quiet", *opponent, *extra,
        )  # fmt: skip

    reference = tmp_path / "reference"
    run(rl(reference))

    killed = tmp_path / "killed"
    state = killed / "checkpoint" / "trainer_state.pt"
    kill_when(rl(killed), lambda: lines_in(killed / "metrics.jsonl") >= 1)  # mid-run
    kill_when(
        rl(killed, "--resume"), lambda: state.exists() and lines_in(killed / "metrics.jsonl") >= 3
    )
    run(rl(killed, "--resume"))

    assert_same_weights(reference / "checkpoint", killed / "checkpoint")
    trained, start = weights(reference / "checkpoint"), weights(warm_model)
    assert any(not torch.equal(trained[k], start[k]) for k in start)  # RL did change it
    assert metric_lines(killed / "metrics.jsonl") == metric_lines(reference / "metrics.jsonl")
    if opponent:  # who played the other seat is in every step's line
        against = [r["opponent"] for r in metric_lines(reference / "metrics.jsonl")]
        expected = ["self"] * 4 if opponent[1] == "self" else ["snapshot@0"]
        assert against[: len(expected)] == expected and len(against) == 4
    if "snapshot:1" in opponent:  # the pool's last two, and only those, stay on disk
        kept = sorted(p.name for p in (killed / "opponents").iterdir())
        assert kept == sorted(p.name for p in (reference / "opponents").iterdir())
        assert kept == ["step-2", "step-3"]


def test_train_sft_killed_mid_epoch_and_after_an_epoch_ends_bit_identical(
    tiny_model_path, tmp_path
) -> None:
    def sft(out: Path) -> list[str]:
        return textgym(
            "train", "sft", "--model", str(tiny_model_path), "--out", str(out), *VIEW,
            "--teacher", "teacher:0.7", "--games", "24", "--epochs", "3", "--batch-size", "8",
        )  # fmt: skip

    reference = tmp_path / "reference"
    run(sft(reference))
    assert not (tmp_path / "reference.partial").exists()  # removed once the model is saved

    killed = tmp_path / "killed"
    partial = tmp_path / "killed.partial"
    kill_when(sft(killed), lambda: (partial / "sft_state.pt").exists())  # after epoch 1
    saved = torch.load(partial / "sft_state.pt", weights_only=False)
    assert saved["epoch"] >= 1
    kill_when(sft(killed), lambda: saved["epoch"] < _epoch(partial))  # after the next one
    run(sft(killed))
    assert_same_weights(reference, killed)
    assert not partial.exists()


def _epoch(partial: Path) -> int:
    try:
        return int(torch.load(partial / "sft_state.pt", weights_only=False)["epoch"])
    except Exception:  # being replaced right now
        return 0


PIPELINE = """
import sys
from textgym.recipes.tictactoe.pipeline import preset_config, run_pipeline
settings = dict(hidden_size=32, teacher_games=40, sft_epochs=2, rl1_steps=2, rl2_steps=2,
                games_per_batch=8, group_size=4, eval_episodes=6, eval_every=1, audit=False)
run_pipeline(preset_config("quick", out_dir=sys.argv[1], **settings), progress=False)
"""


def test_pipeline_killed_in_sft_and_in_rl_ends_with_the_same_report(tmp_path) -> None:
    def pipeline(out: Path) -> list[str]:
        return [sys.executable, "-c", PIPELINE, str(out)]

    reference = tmp_path / "reference"
    run(pipeline(reference))

    killed = tmp_path / "killed"
    kill_when(pipeline(killed), lambda: (killed / "sft.partial" / "sft_state.pt").exists())
    kill_when(pipeline(killed), lambda: lines_in(killed / "rl1" / "metrics.jsonl") >= 1)
    run(pipeline(killed))

    def table(out: Path) -> list[str]:
        text = (out / "report.md").read_text()
        return [line for line in text.splitlines() if line.startswith("| ")]

    assert table(killed) == table(reference)
    timings = json.loads((killed / "timings.json").read_text())
    # two calls were killed before their end, yet their finished stages count in the total
    assert timings["total"] >= sum(v for k, v in timings.items() if k != "total")
    assert_same_weights(reference / "rl2" / "checkpoint", killed / "rl2" / "checkpoint")
    results = sorted((reference / "results.jsonl").read_text().splitlines())
    assert sorted((killed / "results.jsonl").read_text().splitlines()) == results
