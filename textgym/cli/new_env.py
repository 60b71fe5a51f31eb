"""``textgym new-env``: scaffold an installable package holding one env."""

from __future__ import annotations

import argparse
from typing import Any

from textgym.scaffold import KINDS, names, scaffold


def _cmd_new_env(args: argparse.Namespace) -> int:
    root = scaffold(args.name, args.dir, args.kind)
    _, pkg, cls = names(args.name)
    print(f"created {root}: pip install -e {root}, then gymnasium.make('{pkg}:{cls}-v0')")
    return 0


def add_parser(sub: Any) -> None:
    """The subcommands ``new-env``."""
    p_new = sub.add_parser("new-env", help="scaffold an installable package with one env")
    p_new.add_argument("name", help="e.g. my-env (package my_env, env MyEnv-v0)")
    p_new.add_argument("--dir", default=".", help="where to create the package folder")
    p_new.add_argument(
        "--kind",
        default="single-turn",
        choices=tuple(KINDS),
        help="the env to start from, with a reference player and tests that match it",
    )
    p_new.set_defaults(func=_cmd_new_env)
