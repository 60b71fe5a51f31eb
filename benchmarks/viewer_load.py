"""How fast ``textgym view``'s page opens with many episodes, in headless Chromium.

Plays N real tic-tac-toe episodes (scripted players, every answer and board recorded, as
``textgym eval --out`` writes them), builds the page, and times in Debian's Chromium
(driven by Playwright): opening it until its list is drawn, a filter on the text of every
answer, and opening an episode; next to an empty page opened the same way (the browser's
own cost). Also prints the file and page sizes.

Goal: 10,000 episodes open in under 3 s. Usage:
    python benchmarks/viewer_load.py [--episodes 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from textgym.evaluation import evaluate
from textgym.viewer import build_page

ENV = "TextTicTacToe-LLM-Letters-v0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="page opens timed (median)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    eval_file = folder / "results.jsonl"
    started = time.perf_counter()
    players = ("reference:0.5", "random", "minimax", "teacher:0.7")
    for policy in players:
        evaluate(policy, "optimal", episodes=args.episodes // len(players), view=ENV, out=eval_file)
    played = time.perf_counter() - started
    started = time.perf_counter()
    page_path = folder / "view.html"
    page_path.write_text(build_page([eval_file]), encoding="utf-8")
    built = time.perf_counter() - started
    empty = folder / "empty.html"
    empty.write_text("<!doctype html><body data-ready='1'></body>")

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])

        def open_page(path: Path) -> tuple[float, object]:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            start = time.perf_counter()
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-ready='1']", state="attached")
            return time.perf_counter() - start, page

        opens, blanks = [], []
        for _ in range(args.repeats):
            seconds, page = open_page(page_path)
            opens.append(seconds)
            blank, other = open_page(empty)
            blanks.append(blank)
            other.close()
        before = page.text_content("#count")
        start = time.perf_counter()
        page.fill("input[data-key=search]", "<move>5</move>")
        page.wait_for_function(
            "text => document.getElementById('count').textContent !== text", arg=before
        )
        filtered = time.perf_counter() - start
        start = time.perf_counter()
        page.click("tr.row >> nth=0")
        page.wait_for_selector("#episode-title")
        opened = time.perf_counter() - start
        count = page.text_content("#count")
        browser.close()
    opens.sort()
    blanks.sort()
    median, blank = opens[len(opens) // 2], blanks[len(blanks) // 2]
    size = eval_file.stat().st_size / 1e6
    html = page_path.stat().st_size / 1e6
    print(f"{args.episodes:,} episodes of {ENV}: played in {played:.1f} s")
    print(f"eval file {size:.1f} MB -> page {html:.1f} MB, built in {built:.2f} s")
    print(
        f"page open until drawn: {median:.2f} s (median of {args.repeats}); "
        f"empty page {blank:.2f} s"
    )
    print(
        f"filter on every answer's text: {filtered:.2f} s, 0.12 s of it the typing pause "
        f"({count}); open an episode {opened:.2f} s"
    )
    print(f"goal: open in under 3 s: {'met' if median < 3 else 'NOT met'}")


if __name__ == "__main__":
    main()
