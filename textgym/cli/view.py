"""``textgym view``: one self-contained HTML page of eval files and run folders."""

from __future__ import annotations

import argparse
import webbrowser
from pathlib import Path
from typing import Any

from textgym.viewer import write_page


def default_out(path: str) -> Path:
    """Where the page of ``path`` goes when ``--out`` is not given: next to an eval file
    (``results.jsonl`` -> ``results.html``), inside a run folder (``view.html``)."""
    p = Path(path)
    return p / "view.html" if p.is_dir() else p.with_suffix(".html")


def _cmd_view(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else default_out(args.paths[0])
    page = write_page(args.paths, out)
    size = page.stat().st_size
    print(f"{page} ({size / 1e6:.1f} MB)")
    if args.open:
        webbrowser.open(page.resolve().as_uri())
    return 0


def add_parser(sub: Any) -> None:
    """The subcommand ``view``."""
    p_view = sub.add_parser(
        "view",
        help="write one HTML page (no server, no network) of eval files and run folders: "
        "episodes turn by turn, training curves, runs side by side",
    )
    p_view.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="an eval JSONL file (textgym eval --out), a pipeline run folder or a training "
        "run folder; two or more are shown side by side",
    )
    p_view.add_argument(
        "--out", default=None, help="the HTML file (default: next to or inside the first PATH)"
    )
    p_view.add_argument("--open", action="store_true", help="open the page in a browser")
    p_view.set_defaults(func=_cmd_view)
