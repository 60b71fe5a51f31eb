"""``textgym audit``: the tic-tac-toe board audit and the audit against every line of
perfect play."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from textgym.cli.common import (
    add_model_options,
    add_view_options,
    checked_policies,
    command_view,
    model_folder,
    split_list,
)
from textgym.evaluation import format_table
from textgym.policies.by_name import make_policy
from textgym.recipes.tictactoe.audit import audit_perfect_lines, audit_policy


def _cmd_audit(args: argparse.Namespace) -> int:
    """``textgym audit``: the board audit and the perfect-play audit of each ``--policy``."""
    view = command_view(args, model_folder(split_list(args.policy)))
    specs = checked_policies(args, view.env_id)
    rows = []
    for spec in specs:
        policy = make_policy(
            spec,
            view.env_id,
            seed=args.seed,
            max_new_tokens=view.max_new_tokens,
            base_url=args.base_url,
            device=args.device,
            dtype=args.dtype,
        )
        audit = None if args.no_board else audit_policy(policy, view)
        lines = audit_perfect_lines(policy, view)
        board = (
            ["-"] * 4  # not measured
            if audit is None
            else [
                str(audit.positions),
                f"{audit.rate('well_formed'):.1f}",
                f"{audit.rate('legal'):.1f}",
                f"{audit.rate('optimal'):.1f}",
            ]
        )
        rows.append(
            [
                spec,
                *board,
                str(lines.positions),
                str(len(lines.mistakes)),
                f"{100 * lines.loss:.2f}",
            ]
        )
        for cells, mark, answer in audit.mistakes[: args.show_mistakes] if audit else []:
            print(f"{spec}: {mark} to move on {cells}: answered {answer!r}", file=sys.stderr)
        for cells, mark, answer, p in lines.mistakes[: args.show_mistakes]:
            print(
                f"{spec}: vs perfect play, {mark} to move on {cells} (reached with p={p:.4f}): "
                f"answered {answer!r}",
                file=sys.stderr,
            )
    header = ["policy", "positions", "format%", "legal%", "optimal%"]
    print(format_table(rows, [*header, "perfect-play positions", "mistakes", "loss%"]))
    if args.no_board:
        print("board columns: not measured (--no-board)")
    print(
        "perfect-play columns: every line of the perfect opponent (every seat, every optimal "
        "reply); loss% is exact for a deterministic player (hf: greedy)"
    )
    return 0


def add_parser(sub: Any) -> None:
    """The subcommands ``audit`` (tic-tac-toe)."""
    p_audit = sub.add_parser(
        "audit",
        help="score players' moves on every position of the game (9,040) and against "
        "every line of perfect play",
    )
    p_audit.add_argument(
        "--policy",
        default="minimax",
        help="comma-separated players: minimax, random, teacher:Q, reference:Q, hf:PATH, "
        "openai:MODEL",
    )
    add_view_options(p_audit)
    p_audit.add_argument("--seed", type=int, default=0)
    p_audit.add_argument("--base-url", default=None, help="openai: the server's /v1 URL")
    add_model_options(p_audit)
    p_audit.add_argument(
        "--show-mistakes", type=int, default=0, help="print the first N non-optimal answers"
    )
    p_audit.add_argument(
        "--no-board",
        action="store_true",
        help="only the perfect-play audit (a few hundred answers, not 9,040)",
    )
    p_audit.set_defaults(func=_cmd_audit)
