"""Charts of evaluation results (needs the ``plot`` extra: matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textgym.evaluation import Summary


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("plots need matplotlib: pip install 'textgym[plot]'") from None
    return plt


COLORS = {"loss": "#d62728", "draw": "#7f7f7f", "win": "#2ca02c"}


def plot_results(
    summaries: Sequence[Summary],
    path: str | Path,
    title: str = "",
    stacked: Sequence[str] | None = None,
) -> Path:
    """One horizontal bar per policy; saves a PNG.

    Without ``stacked``: the mean episode reward with its standard error. With ``stacked``
    (0/1 episode metrics that split the episodes, e.g. tic-tac-toe's ``loss``, ``draw``,
    ``win``): stacked bars of their percentages.
    """
    plt = _pyplot()
    if not summaries:
        raise ValueError("nothing to plot: no results")
    labels = [s.player for s in summaries]
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(summaries) + 1.8))
    if stacked is None:
        values = [s.mean_reward for s in summaries]
        ax.barh(labels, values, xerr=[s.stderr for s in summaries], color="#1f77b4", capsize=3)
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:.3f}", va="center", fontsize=9)
        ax.set_xlabel("mean episode reward (± s.e.)")
    else:
        left = [0.0] * len(summaries)
        palette = ["#d62728", "#7f7f7f", "#2ca02c", "#1f77b4", "#9467bd"]
        for k, name in enumerate(stacked):
            values = [s.rate(name) for s in summaries]
            color = COLORS.get(name, palette[k % len(palette)])
            bars = ax.barh(labels, values, left=left, color=color, label=name)
            for bar, v in zip(bars, values, strict=True):
                if v >= 8:
                    ax.text(
                        bar.get_x() + bar.get_width() / 2,
                        bar.get_y() + bar.get_height() / 2,
                        f"{v:.0f}",
                        ha="center",
                        va="center",
                        color="white",
                        fontsize=9,
                    )
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of episodes")
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.22),
            ncols=len(stacked),
            fontsize=8,
            frameon=False,
        )
    ax.invert_yaxis()
    ax.set_title(title or f"under {summaries[0].condition}")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


TRAINING_PANELS = (
    ("reward/total", "total reward"),
    ("reward/format", "format reward"),
    ("reward/outcome", "outcome reward"),
    ("reward/invalid_penalty", "invalid-move penalty"),
)


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """The trailing mean of the last ``window`` values at each point (fewer at the start);
    NaN values (a step without that metric) are skipped, and a point with none is NaN."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a whole number >= 1, got {window!r}")
    out = []
    for i in range(len(values)):
        seen = [v for v in values[max(0, i - window + 1) : i + 1] if v == v]
        out.append(sum(seen) / len(seen) if seen else float("nan"))
    return out


def _read_metrics(metrics_path: str | Path) -> list[dict]:
    import json

    records = []
    for line in Path(metrics_path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    if not records:
        raise ValueError(f"no metrics in {metrics_path}")
    return records


#: Marker colours of the greedy evaluations, one per condition.
EVAL_COLORS = ("#ff7f0e", "#2ca02c", "#d62728", "#9467bd")


def training_panels(records: Sequence[dict]) -> list[tuple[str, str]]:
    """The reward curves a run has: the total, then each reward component the env reported
    (those of :data:`TRAINING_PANELS` first, in that order, then any other), then each
    ``audit/<name>`` metric of the run's evaluation checks (``train_rl(checks=...)``)."""
    present = {k for r in records for k in r if k.startswith("reward/")}
    present.add("reward/total")
    known = [(key, title) for key, title in TRAINING_PANELS if key in present]
    named = {key for key, _ in TRAINING_PANELS}
    others = [(k, k.split("/", 1)[1] + " reward") for k in sorted(present - named)]
    audits = sorted({k for r in records for k in r if k.startswith("audit/")})
    return known + others + [(k, k.split("/", 1)[1].replace("_", " ")) for k in audits]


def training_figure(records: Sequence[dict], window: int | None = None):  # -> Figure
    """The reward curves vs step (the total, and each component the env reports: an env
    without a format or invalid-move reward gets no panel for it), each raw (faint) and as
    a moving average (bold, ``window`` steps; default a tenth of the run, at least 1), with
    the periodic greedy evaluations (``eval/<condition>/reward``) as markers on the total
    reward."""
    plt = _pyplot()
    steps = [r["step"] for r in records]
    window = window if window is not None else max(1, len(records) // 10)
    panels = training_panels(records)
    cols = 1 if len(panels) == 1 else 2
    rows = -(-len(panels) // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(4.5 * cols, 3 * rows), sharex=True, squeeze=False)
    axes = list(grid.flat)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for ax, (key, title) in zip(axes, panels, strict=False):
        if key.startswith("audit/"):  # measured now and then: the points, joined
            points = [(r["step"], float(r[key])) for r in records if key in r]
            ax.plot(*zip(*points, strict=True), marker="o", color=EVAL_COLORS[0], label="check")
            ax.set_title(title)
            ax.grid(alpha=0.3)
            continue
        raw = [float(r.get(key, float("nan"))) for r in records]
        ax.plot(steps, raw, color="#1f77b4", alpha=0.3, linewidth=1, label="per step")
        ax.plot(
            steps,
            moving_average(raw, window),
            color="#1f77b4",
            linewidth=2,
            label=f"mean of {window} steps",
        )
        ax.set_title(title)
        ax.grid(alpha=0.3)
    conditions = sorted(
        {
            k.split("/")[1]
            for r in records
            for k in r
            if k.startswith("eval/") and k.endswith("/reward")
        }
    )
    total = axes[0]
    for i, condition in enumerate(conditions):
        key = f"eval/{condition}/reward"
        points = [(r["step"], float(r[key])) for r in records if key in r]
        total.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            linestyle="--",
            color=EVAL_COLORS[i % len(EVAL_COLORS)],
            label=f"greedy vs {condition}",
        )
    total.legend(fontsize=7, loc="best")
    for ax in axes[max(0, len(panels) - cols) : len(panels)]:  # the lowest visible ones
        ax.set_xlabel("step")
    fig.tight_layout()
    return fig


def plot_training(metrics_path: str | Path, path: str | Path, window: int | None = None) -> Path:
    """:func:`training_figure` of a run's ``metrics.jsonl``, saved as a PNG at ``path``."""
    plt = _pyplot()
    fig = training_figure(_read_metrics(metrics_path), window)
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
