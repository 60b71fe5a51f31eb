"""The ``textgym`` entry point: the console script."""

from __future__ import annotations

import shutil
import subprocess

import pytest


@pytest.mark.skipif(shutil.which("textgym") is None, reason="console script not installed")
def test_console_script_is_installed() -> None:
    out = subprocess.run(["textgym", "envs"], capture_output=True, text=True, check=True)
    assert "TextTicTacToe-v0" in out.stdout


def _parsers(parser, path=()):
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


def test_every_help_shows_the_defaults() -> None:
    from textgym.cli import build_parser

    checked = 0
    for path, parser in _parsers(build_parser()):
        text = parser.format_help()
        for action in parser._actions:
            default = action.default
            if not action.option_strings or default is None or default is False:
                continue
            if isinstance(default, list | tuple | str) and not default:
                continue
            if action.help == "==SUPPRESS==" or default == "==SUPPRESS==":
                continue
            assert "default" in (action.help or ""), (path, action.option_strings)
            checked += 1
        assert "%(default)" not in text
    assert checked > 40
    evaluate = dict(_parsers(build_parser()))[("eval",)].format_help()
    assert "(default: 100)" in evaluate and "(default: 0)" in evaluate
