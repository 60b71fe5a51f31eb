"""``textgym`` command line: ``envs``, ``play``, ``eval``, ``train sft``, ``train rl``,
``new-env``, ``model convert``/``merge``, ``serve``, and tic-tac-toe's ``audit`` and
``pipeline``; one module per command (``textgym/cli/*.py``), each adding its parser with
``add_parser`` and calling the library.

``play``, ``eval`` and ``train`` take any registered env and share one option group for
what the model sees (:mod:`textgym.view`): ``--env``, ``--system-prompt``, ``--history`` and
``--max-new-tokens``. A model trained by ``train`` records its view, and the commands that
load it use the recorded view for every option not given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import textgym
from textgym.cli import audit, envs, evaluate, model, new_env, pipeline, serve, train, view
from textgym.policies.openai_policy import PolicyError
from textgym.utils.files import SaveError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``textgym`` command."""
    parser = argparse.ArgumentParser(prog="textgym", description=textgym.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"textgym {textgym.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    envs.add_parser(sub)
    evaluate.add_parser(sub)
    audit.add_parser(sub)
    pipeline.add_parser(sub)
    new_env.add_parser(sub)
    model.add_parser(sub)
    train.add_parser(sub)
    serve.add_parser(sub)
    view.add_parser(sub)
    _show_defaults(parser)
    return parser


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Append ``(default: X)`` to every option of ``parser`` and its subcommands that has a
    default worth showing (not None, not a flag's False) and does not name it already."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _show_defaults(child)
            continue
        default = action.default
        if not action.option_strings or default is None or default is False:
            continue
        if isinstance(default, list | tuple | str) and not default:  # nothing to show
            continue
        if default == argparse.SUPPRESS:
            continue
        if action.help == argparse.SUPPRESS or "default" in (action.help or ""):
            continue
        shown = ",".join(map(str, default)) if isinstance(default, list | tuple) else default
        shown = str(shown).replace("%", "%%")
        action.help = f"{action.help or ''} (default: {shown})".strip()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``textgym`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        out = getattr(args, "out", None)
        saved = f"; finished episodes are in {out}, rerun with --resume" if out else ""
        if args.command in ("pipeline", "train"):
            saved = "; finished stages and the last checkpoint are kept, rerun to continue"
        print(f"\ntextgym {args.command}: interrupted{saved}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0
    except (ValueError, PolicyError, FloatingPointError, SaveError) as exc:
        print(f"textgym {args.command}: error: {exc}", file=sys.stderr)
        return 2


__all__ = ["build_parser", "main"]
