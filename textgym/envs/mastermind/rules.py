"""Mastermind's rules, apart from the env: how a guess is scored against the code."""

from __future__ import annotations

from collections import Counter


def pegs(code: str, guess: str) -> tuple[int, int]:
    """(black, white): right symbol in the right place, right symbol in the wrong place."""
    black = sum(c == g for c, g in zip(code, guess, strict=True))
    common = sum((Counter(code) & Counter(guess)).values())
    return black, common - black
