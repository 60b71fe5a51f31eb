"""Send training metrics to experiment trackers, besides ``metrics.jsonl``.

:func:`textgym.trainers.rl.train_rl` and :func:`textgym.trainers.sft.sft_train` call an
``on_metrics(record)`` hook with each step's metrics: a dict with ``"step"`` and numbers
(``reward/total``, ``loss/...``, ``eval/<condition>/reward``, ...). Any callable works, so
another tracker is a few lines::

    import wandb

    run = wandb.init(project="textgym")
    train_rl(config, on_metrics=lambda r: run.log(r, step=r["step"]))

:class:`TensorBoardLogger` is the one built in (``--log tensorboard`` on ``textgym train``;
``pip install 'textgym[tensorboard]'``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MetricsHook = Callable[[dict[str, Any]], None]
"""Called with each step's metrics (``"step"`` and numbers)."""

TRACKERS = ("tensorboard",)
"""The names ``--log`` takes."""

_NEEDS_TENSORBOARD = "--log tensorboard needs TensorBoard: pip install 'textgym[tensorboard]'"


class TensorBoardLogger:
    """Writes every finite number of each record as a TensorBoard scalar under its own
    name (``reward/total``, ...), at the record's ``step``, to event files in ``log_dir``.

    Args:
        log_dir: the folder TensorBoard reads (``tensorboard --logdir DIR``).
        prefix: put before every name (e.g. ``"sft/"``).
    """

    def __init__(self, log_dir: str | Path, prefix: str = "") -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ValueError(_NEEDS_TENSORBOARD) from None
        self.log_dir = Path(log_dir)
        self.prefix = prefix
        self._writer = SummaryWriter(log_dir=str(self.log_dir))

    def __call__(self, record: dict[str, Any]) -> None:
        """Write one step's numbers."""
        step = int(record["step"])
        for key, value in record.items():
            if key == "step" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(value):
                self._writer.add_scalar(self.prefix + key, float(value), step)
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()


def make_trackers(
    names: Sequence[str], out_dir: str | Path, prefix: str = "", check_only: bool = False
) -> list[Any]:
    """The trackers ``--log`` names, writing under ``out_dir`` (TensorBoard: ``out_dir/
    tensorboard``). An unknown name, or a tracker whose package is missing, is a
    ``ValueError``; ``check_only``: check that, before any work, and make nothing."""
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise ValueError(f"unknown --log {', '.join(unknown)}; choose from: {', '.join(TRACKERS)}")
    if "tensorboard" in names:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise ValueError(_NEEDS_TENSORBOARD)
    if check_only:
        return []
    return [TensorBoardLogger(Path(out_dir) / "tensorboard", prefix)] if names else []


def fan_out(hooks: Sequence[MetricsHook | None]) -> MetricsHook | None:
    """One hook calling each of ``hooks`` in turn (None when there are none)."""
    live = [h for h in hooks if h is not None]
    if not live:
        return None

    def call(record: dict[str, Any]) -> None:
        for hook in live:
            hook(record)

    return call


@contextmanager
def tracking(
    names: Sequence[str], out_dir: str | Path, prefix: str = ""
) -> Iterator[MetricsHook | None]:
    """The trackers ``names`` as one hook (None when there are none), closed on exit."""
    trackers = make_trackers(names, out_dir, prefix)
    try:
        yield fan_out(trackers)
    finally:
        for tracker in trackers:
            tracker.close()
