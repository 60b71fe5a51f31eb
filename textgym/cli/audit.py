"""``textgym audit``: the exact audits: tic-tac-toe (the board audit and every line of
perfect play) and Kuhn poker (the strategy and its exploitability)."""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from typing import Any

from textgym.cli.common import (
    add_model_options,
    add_view_options,
    checked_policies,
    command_view,
    model_folder,
    split_list,
)
from textgym.envs import probe_env
from textgym.envs.kuhn.env import TextKuhnPokerEnv
from textgym.envs.tictactoe.env import TextTicTacToeEnv
from textgym.evaluation import format_table
from textgym.policies.by_name import make_policy
from textgym.recipes.kuhn.audit import audit_kuhn
from textgym.recipes.tictactoe.audit import audit_perfect_lines, audit_policy


def _game_of(env_id: str) -> str | None:
    """Which exact audit the env has: ``tictactoe``, ``kuhn`` or None."""
    with probe_env(env_id) as env:
        base = env.unwrapped
    if isinstance(base, TextTicTacToeEnv):
        return "tictactoe"
    if isinstance(base, TextKuhnPokerEnv):
        return "kuhn"
    return None


def _policy(args: argparse.Namespace, view: Any, spec: str) -> Any:
    """The policy ``spec`` as the audit's options and the view make it."""
    return make_policy(
        spec,
        view.env_id,
        seed=args.seed,
        temperature=1.0 if getattr(args, "samples", 1) > 1 else 0.0,
        max_new_tokens=view.max_new_tokens,
        base_url=args.base_url,
        device=args.device,
        dtype=args.dtype,
    )


def _cmd_audit(args: argparse.Namespace) -> int:
    """``textgym audit``: the exact audits of each ``--policy`` (tic-tac-toe: the board
    audit and every line of perfect play; Kuhn poker: its strategy and exploitability)."""
    view = command_view(args, model_folder(split_list(args.policy)))
    specs = checked_policies(args, view.env_id)
    game = _game_of(view.env_id)
    if game is None:
        raise ValueError(
            f"{view.env_id} has no exact audit: textgym audit knows the tic-tac-toe and the "
            "Kuhn poker envs (textgym eval measures any env)"
        )
    if game == "kuhn":
        return _audit_kuhn(args, view, specs)
    rows = []
    for spec in specs:
        policy = _policy(args, view, spec)
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


def _audit_kuhn(args: argparse.Namespace, view: Any, specs: list[str]) -> int:
    """Each policy's strategy at Kuhn poker's 12 information sets, and what it is worth."""
    rows = []
    for spec in specs:
        policy = _policy(args, view, spec)
        audit = audit_kuhn(policy, view, samples=args.samples)
        aggressive = [
            f"{card}{'/' + '-'.join(h) if h else ''}"
            for (card, h), p in audit.strategy.items()
            if p > Fraction(1, 2)
        ]
        rows.append(
            [
                spec,
                f"{float(audit.exploitability):.4f}",
                f"{float(audit.value_first):+.4f}",
                f"{float(audit.value_second):+.4f}",
                str(audit.invalid),
                " ".join(aggressive) or "-",
            ]
        )
    header = ["policy", "exploitability", "as player 1", "as player 2", "invalid"]
    print(format_table(rows, [*header, "bets/calls at"]))
    print(
        "exploitability: chips a hand a best responder wins, mean over the seats (0: an "
        "equilibrium); as player N: mean chips against the equilibrium (best: -1/18 = -0.0556 "
        "as player 1, +0.0556 as player 2); exact for a deterministic player (hf: greedy)"
    )
    if args.samples > 1:
        print(
            f"sampled at temperature 1, {args.samples} answers per information set: the "
            "strategy is the share of bets/calls (bets/calls at: where it is over 1/2), an "
            f"estimate (s.e. <= {0.5 / args.samples**0.5:.3f} each); the figures are exact "
            "for that estimate"
        )
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def add_parser(sub: Any) -> None:
    """The subcommands ``audit`` (tic-tac-toe, Kuhn poker)."""
    p_audit = sub.add_parser(
        "audit",
        help="exact audits: tic-tac-toe players on every position (9,040) and against "
        "every line of perfect play; Kuhn poker players' strategy and exploitability",
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
        "--samples",
        type=_positive,
        default=1,
        help="Kuhn poker: answers per information set; above 1 the policy samples at "
        "temperature 1 and the audit estimates its mixed strategy (default 1: greedy, exact)",
    )
    p_audit.add_argument(
        "--no-board",
        action="store_true",
        help="only the perfect-play audit (a few hundred answers, not 9,040)",
    )
    p_audit.set_defaults(func=_cmd_audit)
