"""Progress bars with rate and ETA on a terminal; silence elsewhere.

A bar appears only when it is wanted (``enabled``), stderr is a terminal, and ``tqdm`` is
installed (it comes with the ``hf`` extra); otherwise :func:`progress_bar` returns an
object with the same methods that shows nothing, so logs and pipes stay clean.
"""

from __future__ import annotations

import sys
from typing import Any


class _Silent:
    """The methods of a tqdm bar that callers use, doing nothing."""

    n = 0

    def update(self, n: int = 1) -> None:
        """Count ``n`` more done (and show nothing)."""
        self.n += n

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        """Show ``text`` after the bar (here: nothing)."""

    def close(self) -> None:
        """End the bar (here: nothing)."""

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def shows_bars(enabled: bool = True) -> bool:
    """Whether :func:`progress_bar` would draw: wanted, stderr a terminal, tqdm there."""
    if not enabled:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    if not (callable(isatty) and isatty()):
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def progress_bar(total: int | None, desc: str, unit: str = "it", enabled: bool = True) -> Any:
    """A tqdm bar on stderr (count, rate, ETA) when :func:`shows_bars`, else a silent one."""
    if not shows_bars(enabled):
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=True)
