"""``textgym eval``: policies against an env's evaluation conditions, with resumable JSONL
records."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from textgym.cli.common import (
    add_model_options,
    add_ray_options,
    add_view_options,
    checked_policies,
    command_view,
    model_folder,
    ray_pool,
    split_list,
    suffixed,
)
from textgym.evaluation import (
    condition_options,
    evaluate,
    evaluation_conditions,
    evaluation_note,
    format_table,
    summary_table,
)
from textgym.plots import plot_results


def _cmd_eval(args: argparse.Namespace) -> int:
    specs = split_list(args.policy)
    view = command_view(args, model_folder(specs))
    policies = checked_policies(args, view.env_id)
    if args.opponent:
        conditions = split_list(args.opponent)
    elif args.opponent_policy:  # the env's named conditions set its bot, which is replaced
        conditions = ["default"]
    else:
        conditions = evaluation_conditions(view.env_id)
    for condition in conditions:
        condition_options(view.env_id, condition)
    if args.resume and not args.out:
        raise ValueError("--resume needs --out (the JSONL file to resume)")
    if args.plot:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise ValueError("--plot needs matplotlib: pip install 'textgym[plot]'")
    if args.ray is not None and args.opponent_policy:
        raise ValueError("--ray plays one seat: it cannot take --opponent-policy")
    with ray_pool(args, view, args.num_envs) as pool:
        summaries = _evaluate_all(args, view, policies, conditions, pool)
    header, rows = summary_table(summaries)
    against = f"; the other seat: {args.opponent_policy}" if args.opponent_policy else ""
    print(f"{view.env_id}: {args.episodes} episodes per row, seed {args.seed}{against}")
    print(format_table(rows, header))
    notes = [evaluation_note(view.env_id, c) for c in conditions]
    for note in filter(None, notes):
        print("\n" + note)
    return 0


def _evaluate_all(
    args: argparse.Namespace, view: Any, policies: list[str], conditions: list[str], pool: Any
) -> list[Any]:
    """Every policy under every condition (plotted per condition with --plot)."""
    summaries = []
    for condition in conditions:
        these = []
        for spec in policies:
            these.append(
                evaluate(
                    spec,
                    condition,
                    episodes=args.episodes,
                    seed=args.seed,
                    view=view,
                    out=args.out,
                    resume=args.resume,
                    num_envs=args.num_envs,
                    temperature=args.temperature,
                    progress=not args.quiet,
                    base_url=args.base_url,
                    device=args.device,
                    dtype=args.dtype,
                    opponent_policy=args.opponent_policy,
                    pool=pool,
                )
            )
        if args.plot:
            path = args.plot if len(conditions) == 1 else suffixed(args.plot, condition)
            print(f"wrote {plot_results(these, path)}", file=sys.stderr)
        summaries += these
    return summaries


def add_parser(sub: Any) -> None:
    """The subcommands ``eval``."""
    p_eval = sub.add_parser("eval", help="evaluate policies on any env")
    p_eval.add_argument(
        "--policy",
        default="reference",
        help="comma-separated: reference | reference:Q | hf:PATH | openai:MODEL | the env's "
        "own names (tic-tac-toe: minimax, random, teacher:Q)",
    )
    p_eval.add_argument(
        "--opponent",
        "--condition",
        default=None,
        help="comma-separated conditions: the env's names (tic-tac-toe: optimal, random, P) or "
        "NAME=VALUE;NAME=VALUE reset options (default: the env's evaluation conditions)",
    )
    add_view_options(p_eval)
    p_eval.add_argument(
        "--opponent-policy",
        default=None,
        metavar="POLICY",
        help="a policy (any --policy name: hf:PATH, openai:MODEL, reference:Q, ...) that "
        "plays the other seat of a two-player env instead of its bot",
    )
    p_eval.add_argument("--episodes", type=int, default=100)
    p_eval.add_argument("--seed", type=int, default=0, help="derives every episode seed")
    p_eval.add_argument("--out", default=None, help="append one JSON line per finished episode")
    p_eval.add_argument("--resume", action="store_true", help="skip episodes already in --out")
    p_eval.add_argument("--num-envs", type=int, default=64, help="episodes played at once")
    add_ray_options(p_eval)
    p_eval.add_argument("--temperature", type=float, default=0.0, help="hf: 0 = greedy")
    p_eval.add_argument("--base-url", default=None, help="openai: the server's /v1 URL")
    add_model_options(p_eval)
    p_eval.add_argument("--plot", default=None, help="write a bar chart PNG here")
    p_eval.add_argument(
        "--progress",
        action="store_true",
        help="(the default now) a progress bar on a terminal",
    )
    p_eval.add_argument("--quiet", action="store_true", help="no progress bar")
    p_eval.set_defaults(func=_cmd_eval)
