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
    ("reward/invalid", "invalid-move penalty"),
)


def plot_training(metrics_path: str | Path, path: str | Path) -> Path:
    """The four curves people watch (total, format, outcome reward; invalid penalty) vs step."""
    import json

    plt = _pyplot()
    records = []
    for line in Path(metrics_path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    if not records:
        raise ValueError(f"no metrics in {metrics_path}")
    steps = [r["step"] for r in records]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), sharex=True)
    for ax, (key, title) in zip(axes.flat, TRAINING_PANELS, strict=True):
        ax.plot(steps, [r.get(key, float("nan")) for r in records], color="#1f77b4")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("step")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
