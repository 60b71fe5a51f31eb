"""Metrics to experiment trackers: TensorBoard, and the hook any other tracker uses."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from textgym.trainers.trackers import TensorBoardLogger, fan_out, make_trackers, tracking


def scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar TensorBoard reads back from ``log_dir``: name -> [(step, value)]."""
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_logger_writes_each_finite_number_at_its_step(tmp_path) -> None:
    logger = TensorBoardLogger(tmp_path / "tb", prefix="rl/")
    logger({"step": 1, "reward/total": 0.5, "loss": 2.0, "note": "text", "flag": True})
    logger({"step": 2, "reward/total": 0.75, "loss": math.nan})
    logger.close()
    got = scalars(tmp_path / "tb")
    assert set(got) == {"rl/reward/total", "rl/loss"}
    assert got["rl/reward/total"] == [(1, 0.5), (2, 0.75)]
    assert got["rl/loss"] == [(1, 2.0)]  # NaN left out


def test_make_trackers_and_fan_out(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown --log wandb; choose from: tensorboard"):
        make_trackers(["wandb"], tmp_path)
    assert make_trackers(["tensorboard"], tmp_path, check_only=True) == []
    assert not (tmp_path / "tensorboard").exists()
    (tracker,) = make_trackers(["tensorboard", "tensorboard"], tmp_path)
    seen = []
    hook = fan_out([tracker, seen.append, None])
    hook({"step": 3, "x": 1.0})
    tracker.close()
    assert seen == [{"step": 3, "x": 1.0}]
    assert scalars(tmp_path / "tensorboard") == {"x": [(3, 1.0)]}
    assert fan_out([None]) is None


def test_tracking_is_one_hook_whose_trackers_close_on_exit(tmp_path) -> None:
    with tracking([], tmp_path) as hook:
        assert hook is None
    with pytest.raises(RuntimeError, match="stop"), tracking(["tensorboard"], tmp_path) as hook:
        hook({"step": 1, "x": 2.0})
        raise RuntimeError("stop")  # the event file is still closed and complete
    assert scalars(tmp_path / "tensorboard") == {"x": [(1, 2.0)]}
