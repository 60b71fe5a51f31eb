"""``textgym view``: the page's data from real eval files and runs, bad and hostile input,
and the page itself in headless Chromium (filter, open an episode, no console errors,
answers shown as text and never run)."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest

from textgym.cli import main
from textgym.evaluation import evaluate
from textgym.viewer import MAX_TEXT, NotARunError, build_page, page_data, read_source

ENV = "TextTicTacToe-LLM-Letters-v0"
HOSTILE = [
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    "</script><script>window.__pwned = 3</script>",
]


@pytest.fixture(scope="module")
def eval_file(tmp_path_factory) -> Path:
    """A real eval file: two scripted players, 12 games each against the perfect bot."""
    out = tmp_path_factory.mktemp("eval") / "results.jsonl"
    for policy in ("reference:0.5", "random"):
        evaluate(policy, "optimal", episodes=12, view=ENV, out=out)
    return out


def _hostile_copy(eval_file: Path, tmp_path: Path) -> Path:
    """The eval file with one more episode whose answers are HTML and script."""
    lines = eval_file.read_text().splitlines()
    record = next(r for r in map(json.loads, lines) if len(r["turns"]) >= len(HOSTILE))
    record["policy"] = "hostile"
    for turn, text in zip(record["turns"], HOSTILE, strict=False):
        turn["answer"] = text
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join([*lines, json.dumps(record)]) + "\n")
    return path


def test_records_keep_each_turn_and_the_page_draws_the_boards(eval_file) -> None:
    source = read_source(eval_file)
    assert len(source.episodes) == 24 and not source.notes
    data = page_data([source])
    episode = data["episodes"][0]
    assert episode["env"] == ENV and episode["turns"]
    first = episode["turns"][0]
    assert first["seen"] and first["answer"].startswith("<move>")
    png = base64.b64decode(data["pictures"][first["picture"]].split(",", 1)[1])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")  # the board before the first answer
    assert first["after"] == episode["turns"][1]["picture"]  # ... and the next one's
    assert len(set(data["pictures"])) == len(data["pictures"])  # each drawn once
    assert {e["policy"] for e in data["episodes"]} == {"reference:0.5", "random"}


def test_a_torn_last_line_is_skipped_with_a_note(eval_file, tmp_path) -> None:
    torn = tmp_path / "torn.jsonl"
    torn.write_text(eval_file.read_text() + '{"policy": "x", "rew')
    source = read_source(torn)
    assert len(source.episodes) == 24
    assert any("cut off" in note for note in source.notes)


def test_bad_input_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(NotARunError, match="does not exist"):
        read_source(tmp_path / "missing.jsonl")
    other = tmp_path / "other.jsonl"
    other.write_text('{"name": "not textgym"}\n[1, 2]\n')
    with pytest.raises(NotARunError, match="no textgym records"):
        read_source(other)
    with pytest.raises(NotARunError, match=r"neither results\.jsonl"):
        read_source(tmp_path)
    with pytest.raises(NotARunError, match="nothing to view"):
        build_page([])
    assert main(["view", str(other)]) == 2


def test_megabytes_of_text_are_cut_and_mixed_envs_stay_apart(eval_file, tmp_path) -> None:
    record = json.loads(eval_file.read_text().splitlines()[0])
    record["turns"][0]["answer"] = "x" * 3_000_000
    kuhn = evaluate("reference", "equilibrium", episodes=3, view="TextKuhnPoker-LLM-v0")
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [record, *kuhn.records]) + "\n")
    data = page_data([read_source(path)])
    answer = data["episodes"][0]["turns"][0]["answer"]
    assert len(answer) < MAX_TEXT + 100 and "2,996,000 more characters" in answer
    assert {e["env"] for e in data["episodes"]} == {ENV, "TextKuhnPoker-LLM-v0"}
    assert len(build_page([path]).encode()) < 300_000


def test_hostile_answers_cannot_leave_the_data(eval_file, tmp_path) -> None:
    page = build_page([_hostile_copy(eval_file, tmp_path)])
    assert "window.__pwned" in page  # the answers are in the page ...
    assert "<script>window" not in page and "<img src=x" not in page  # ... as escaped data
    assert page.count("</script>") == 2  # the data's and the code's, nothing else


def test_the_command_writes_one_page_and_names_it(eval_file, tmp_path, capsys) -> None:
    out = tmp_path / "page.html"
    assert main(["view", str(eval_file), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    assert out.read_text().startswith("<!doctype html>")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser():
    """Debian's Chromium, driven by Playwright; skipped without it, except in CI
    (``TEXTGYM_REQUIRE_BROWSER=1``), where the browser test must run."""
    executable = _chromium()
    required = os.environ.get("TEXTGYM_REQUIRE_BROWSER") == "1"
    if executable is None:
        if required:
            pytest.fail("TEXTGYM_REQUIRE_BROWSER=1 but no chromium on PATH")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser, page_path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
    page.goto(page_path.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    return page, errors


def test_the_page_filters_opens_an_episode_and_runs_nothing_it_shows(
    browser, eval_file, tmp_path
) -> None:
    html = tmp_path / "view.html"
    main(["view", str(_hostile_copy(eval_file, tmp_path)), "--out", str(html)])
    page, errors = _open(browser, html)
    assert page.text_content("#count").startswith("25 of 25 episodes")

    page.select_option("select[data-key=policy]", "reference:0.5")
    page.wait_for_function("document.querySelectorAll('tr.row').length === 12")
    assert page.text_content("#count").startswith("12 of 25 episodes")
    page.click("tr.row >> nth=2")
    title = page.text_content("#episode-title")
    turns = page.locator("#detail .turn")
    assert title.endswith("#2") and turns.count() >= 1
    assert (
        page.locator("#detail .turn")
        .first.locator("pre.answer")
        .text_content()
        .startswith("<move>")
    )
    assert page.locator("#detail img").count() >= 1  # the boards, drawn by the env
    assert "policy=reference%3A0.5" in page.url and "open=" in page.url

    page.select_option("select[data-key=policy]", "hostile")
    page.click("tr.row >> nth=0")
    answers = page.locator("#detail pre.answer").all_text_contents()
    assert answers[: len(HOSTILE)] == HOSTILE  # shown as the text it is
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#detail script, #detail img[src='x']").count() == 0

    page.fill("input[data-key=search]", "no answer says this")
    page.wait_for_function("document.querySelectorAll('tr.row').length === 0")
    assert errors == []


def test_runs_are_charted_side_by_side(browser, tmp_path) -> None:
    for name, slope in (("a", 1.0), ("b", -1.0)):
        run = tmp_path / name
        run.mkdir()
        lines = [{"step": s, "reward/total": slope * s, "loss/cispo": 0.1} for s in range(1, 21)]
        lines[9]["eval/optimal/reward"] = 0.5
        (run / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    html = tmp_path / "runs.html"
    assert main(["view", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(html)]) == 0
    page, errors = _open(browser, html)
    page.click("#tabs button[data-tab=runs]")
    charts = page.locator(".chart")
    names = charts.locator("h4").all_text_contents()
    assert names[:2] == ["reward/total", "eval/optimal/reward"] and "loss/cispo" in names
    legend = charts.first.locator(".legend").text_content()
    assert "a/a" in legend and "b/b" in legend
    assert charts.first.locator("path").count() == 4  # raw and smoothed, for each run
    assert errors == []
