"""``textgym envs`` (the registered envs) and ``textgym play`` (any env in the terminal)."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

import gymnasium as gym

import textgym
from textgym.cli.common import add_view_options, command_view, option_pairs
from textgym.envs import ENV_SPECS
from textgym.evaluation import (
    condition_options,
    episode_seeds,
)


def _cmd_envs(args: argparse.Namespace) -> int:
    for env_id in textgym.registered_env_ids():
        print(f"{env_id:<30} {ENV_SPECS[env_id][2]}")
    return 0


def _cmd_play(args: argparse.Namespace) -> int:
    view = command_view(args, None)
    env = gym.make(view.env_id)
    base: Any = env.unwrapped
    options = {**condition_options(view.env_id, args.opponent), **option_pairs(args.option)}
    system = base.system_prompt if view.system_prompt is None else view.system_prompt
    with contextlib.suppress(AttributeError):
        system = env.get_wrapper_attr("system_prompt") if view.system_prompt is None else system
    if system:
        print(system + "\n")
    seed = args.seed if args.seed is not None else episode_seeds(0, 1)[0]
    obs, info = env.reset(seed=seed, options=options or None)
    total = 0.0
    while True:
        print(obs + "\n")
        try:
            answer = input("> ")
        except (EOFError, KeyboardInterrupt):
            print("\nbye")
            return 0
        legal = info.get("legal_actions")
        if legal is not None and answer.strip() not in legal and not args.raw:
            print(f"Not a legal move; choose one of: {', '.join(legal)}")
            continue
        obs, reward, terminated, truncated, info = env.step(_as_answer(env, answer, args.raw))
        total += float(reward)
        if terminated or truncated:
            print(obs + f"\n\nreward: {total:g}")
            return 0


def _as_answer(env: gym.Env, text: str, raw: bool) -> str:
    """What a person typed, in the env's answer format unless it has tags or ``raw``."""
    if raw or "<" in text:
        return text
    try:
        return env.get_wrapper_attr("format_action")(text.strip())
    except AttributeError:
        pass
    tag = getattr(env.unwrapped, "answer_tag", None)
    return f"<{tag}>{text.strip()}</{tag}>" if tag else text


def add_parser(sub: Any) -> None:
    """The subcommands ``envs`` and ``play``."""
    p_envs = sub.add_parser("envs", help="list the registered environments")
    p_envs.set_defaults(func=_cmd_envs)

    p_play = sub.add_parser("play", help="play any env in the terminal")
    add_view_options(p_play, env_default="TextTicTacToe-v0")
    p_play.add_argument(
        "--opponent",
        "--condition",
        default="default",
        help="the env's condition (tic-tac-toe: optimal | random | P) or NAME=VALUE",
    )
    p_play.add_argument(
        "--option", action="append", default=[], help="a reset option NAME=VALUE (repeatable)"
    )
    p_play.add_argument("--seed", type=int, default=None)
    p_play.add_argument(
        "--raw",
        action="store_true",
        help="send every answer as typed (no legal-move check, no answer tags added)",
    )
    p_play.set_defaults(func=_cmd_play)
