"""Training curves: smoothed, with the periodic greedy evaluations on top."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("matplotlib")

from textgym.plots import moving_average, plot_training, training_figure


def test_moving_average_is_trailing_and_skips_missing_values() -> None:
    assert moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert moving_average([1.0, 2.0, 3.0], 1) == [1.0, 2.0, 3.0]
    out = moving_average([float("nan"), 2.0, float("nan"), 4.0], 2)
    assert math.isnan(out[0]) and out[1:] == [2.0, 2.0, 4.0]
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="window"):
            moving_average([1.0], bad)


def records(n: int = 20) -> list[dict]:
    rows = []
    for step in range(1, n + 1):
        row = {
            "step": step,
            "reward/total": step % 3,
            "reward/format": 0.2,
            "reward/outcome": step % 2,
            "reward/invalid_penalty": -0.1 * (step % 4 == 0),
        }
        if step % 5 == 0:
            row |= {"eval/random/reward": 1.0, "eval/optimal/reward": 0.5 + step / 100}
        rows.append(row)
    return rows


def test_each_panel_has_raw_and_smoothed_curves_and_the_total_has_the_evaluations() -> None:
    fig = training_figure(records(), window=4)
    total, fmt, outcome, invalid = fig.axes
    for ax in (fmt, outcome, invalid):
        raw, smooth = ax.get_lines()
        assert raw.get_alpha() < 1 and smooth.get_linewidth() > raw.get_linewidth()
    labels = [line.get_label() for line in total.get_lines()]
    assert labels == ["per step", "mean of 4 steps", "greedy vs optimal", "greedy vs random"]
    optimal = total.get_lines()[2]
    assert list(optimal.get_xdata()) == [5, 10, 15, 20]
    assert list(optimal.get_ydata()) == pytest.approx([0.55, 0.6, 0.65, 0.7])
    smooth = total.get_lines()[1]
    assert list(smooth.get_ydata())[3] == pytest.approx((1 + 2 + 0 + 1) / 4)


def test_plot_training_writes_a_png_without_evaluations_too(tmp_path) -> None:
    path = tmp_path / "metrics.jsonl"
    rows = [{k: v for k, v in r.items() if not k.startswith("eval/")} for r in records(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{torn")
    out = plot_training(path, tmp_path / "training.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="no metrics"):
        plot_training(empty, tmp_path / "x.png")


def test_only_the_reward_components_the_env_reports_get_a_panel() -> None:
    rows = [
        {"step": s, "reward/total": 0.1 * s, "reward/outcome": 0.1 * s, "reward/similarity": 0.5}
        for s in range(1, 6)
    ]
    fig = training_figure(rows)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == [
        "total reward",
        "outcome reward",
        "similarity reward",
    ]
    assert [ax.get_xlabel() for ax in visible] == ["", "step", "step"]
    only_total = training_figure([{"step": 1, "reward/total": 1.0}])
    assert [ax.get_title() for ax in only_total.axes] == ["total reward"]


def test_the_checks_of_a_run_get_a_panel_of_their_points() -> None:
    """``audit/<name>`` metrics, logged every few steps by ``train_rl(checks=...)``, each get
    a panel with a point at each step that has them."""
    rows = [{"step": s, "reward/total": 0.1 * s} for s in range(1, 7)]
    rows[2]["audit/exact_loss"], rows[5]["audit/exact_loss"] = 5.0, 3.0
    fig = training_figure(rows)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["total reward", "exact loss"]
    (line,) = visible[1].get_lines()
    assert list(line.get_xdata()) == [3, 6] and list(line.get_ydata()) == [5.0, 3.0]
