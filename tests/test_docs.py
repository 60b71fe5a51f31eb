"""The docs: the site builds with every warning an error (``mkdocs build --strict``), every
page is in the nav, every built-in env has its page, and every Python block of every page
runs (in order, one namespace per page), unless marked ``<!-- not run: REASON -->``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from pathlib import Path

import gymnasium as gym
import pytest

import textgym  # noqa: F401  (registers the envs)
from textgym.envs import ENV_SPECS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))

#: A fenced Python block and the line before it (for the not-run marker).
_BLOCK = re.compile(r"(?:^(?P<mark><!--[^\n]*-->)\n)?^```python\n(?P<code>.*?)^```", re.M | re.S)
_NOT_RUN = re.compile(r"<!-- not run: (?P<reason>\S[^\n]*?) -->")

#: Gymnasium's env page template: each built-in env's docstring has these sections.
TEMPLATE = (
    "## Description",
    "## Action Space",
    "## Observation Space",
    "## Rewards",
    "## Episode End",
    "## Arguments",
    "## Version History",
)


def python_blocks(page: str) -> list[tuple[str, str | None]]:
    """(code, reason not run or None) for each ``python`` block of a docs page (or of
    ``../README.md``)."""
    blocks = []
    for m in _BLOCK.finditer((DOCS / page).read_text()):
        mark = m.group("mark")
        if mark is not None and not _NOT_RUN.fullmatch(mark):
            mark = None  # another comment, not a marker
        reason = _NOT_RUN.fullmatch(mark).group("reason") if mark else None
        blocks.append((m.group("code"), reason))
    return blocks


def test_the_block_finder_sees_markers_and_code() -> None:
    blocks = python_blocks("write/mcp.md")
    assert blocks[0][1] and "class Weather(MCPEnv)" in blocks[0][0]
    assert blocks[1][1] is None and "TextMCPCalculator-v0" in blocks[1][0]


RUNNABLE = [
    page for page in [*PAGES, "../README.md"] if any(r is None for _, r in python_blocks(page))
]


def test_most_pages_with_code_run_it() -> None:
    assert {"getting-started.md", "wrappers.md", "policies.md", "write/tool.md"} <= set(RUNNABLE)
    assert {f"envs/{name}" for name in os.listdir(DOCS / "envs")} <= set(RUNNABLE)


@pytest.mark.parametrize("page", RUNNABLE)
def test_the_code_blocks_of_a_page_run(page: str, tmp_path, monkeypatch) -> None:
    # a real module, so that classes defined on the page pickle (check_text_env does)
    module = types.ModuleType("docs_" + re.sub(r"\W", "_", page.removesuffix(".md").strip("./")))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.chdir(tmp_path)
    for i, (code, reason) in enumerate(python_blocks(page)):
        if reason is None:
            try:
                exec(compile(code, f"{page} block {i + 1}", "exec"), module.__dict__)
            except Exception as exc:  # say which block of which page
                raise AssertionError(f"{page}, python block {i + 1} failed: {exc!r}") from exc
    for value in list(module.__dict__.values()):  # envs the page made: stop their servers
        if isinstance(value, gym.Env):
            value.close()


def test_every_builtin_env_has_a_page_in_gymnasiums_template() -> None:
    pages = {p: (DOCS / p).read_text() for p in PAGES if p.startswith("envs/")}
    for env_id in ENV_SPECS:
        env = gym.make(env_id)
        cls = type(env.unwrapped)
        env.close()
        target = f"::: {cls.__module__}.{cls.__qualname__}"
        assert any(target in text for text in pages.values()), (env_id, target)
        named = [p for p, text in pages.items() if f"`{env_id}`" in text or f"# {env_id}" in text]
        assert named, env_id
        doc = cls.__doc__ or ""
        missing = [section for section in TEMPLATE if section not in doc]
        assert missing == [], (cls.__name__, missing)
        for name in list(cls.__init__.__code__.co_varnames[1 : cls.__init__.__code__.co_argcount]):
            assert f"``{name}``" in doc, (cls.__name__, name)  # every argument documented


def test_the_docs_site_builds_strict(tmp_path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    reference = (site / "reference" / "index.html").read_text()
    # the API reference is generated from docstrings: a known one is on the page
    assert "Base class for environments that speak text in and text out." in reference
    assert "make_rollout_func" in reference and "TextgymEnvironment" in reference
    # an env page renders its env's docstring (Gymnasium's template)
    reverse = (site / "envs" / "reverse" / "index.html").read_text()
    assert "Palindromes are never drawn" in reverse and "Version History" in reverse
    for page in PAGES:
        assert (site / page.removesuffix(".md").removesuffix("index") / "index.html").exists()


def test_every_docs_page_is_in_the_nav() -> None:
    """A page left out of mkdocs.yml's nav would be built but not reachable."""
    nav = (ROOT / "mkdocs.yml").read_text()
    assert PAGES and [p for p in PAGES if f" {p}\n" not in nav] == []


def test_the_reference_covers_every_public_module() -> None:
    """docs/reference.md renders every module of the package (the command's own modules
    aside: its reference is ``textgym --help``), and docs/architecture.md names each one's
    file or folder."""
    from tests.test_layers import MODULES

    reference = (DOCS / "reference.md").read_text()
    architecture = (DOCS / "architecture.md").read_text()
    public = [
        m
        for m in MODULES
        if not m.startswith("textgym.cli.") and not any(p.startswith("_") for p in m.split("."))
    ]
    assert [m for m in public if f"::: {m}\n" not in reference] == []

    def named(module: str) -> bool:  # its file, its package folder, or its parent's
        path = MODULES[module].relative_to(ROOT).as_posix()
        folder = path.rpartition("/")[0] + "/"
        return path in architecture or folder in architecture

    assert [m for m in public if not named(m)] == []
