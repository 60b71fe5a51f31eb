"""What the commands share: the view option group and how it resolves, list and option
parsing, argument types."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import re
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from textgym.core import parse_value
from textgym.integrations.ray import RayEnvPool
from textgym.models.files import DTYPES
from textgym.policies.by_name import check_policy_name
from textgym.rollout import check_view, reference_answer_tokens
from textgym.trainers.trackers import TRACKERS
from textgym.view import (
    DEFAULT_ENV,
    View,
    load_view,
    resolve_view,
)


def split_list(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def option_pairs(pairs: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` reset options from the command line."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"--option takes NAME=VALUE, got {pair!r}")
        out[name.strip()] = parse_value(value.strip())
    return out


def parse_curriculum(pairs: Sequence[str] | None) -> dict[str, tuple[float, float]] | None:
    """``--curriculum NAME=LOW:HIGH`` (repeatable; ``none``: no curriculum; absent: the
    env's declared ranges)."""
    if pairs is None:
        return None
    if list(pairs) == ["none"]:
        return {}
    out: dict[str, tuple[float, float]] = {}
    for pair in pairs:
        name, eq, bounds = pair.partition("=")
        low, colon, high = bounds.partition(":")
        try:
            out[name.strip()] = (float(low), float(high if colon else low))
        except ValueError:
            raise ValueError(f"--curriculum takes NAME=LOW:HIGH (or none), got {pair!r}") from None
        if not eq:
            raise ValueError(f"--curriculum takes NAME=LOW:HIGH (or none), got {pair!r}")
    return out


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--dtype``: where and how ``hf:`` models are loaded."""
    parser.add_argument("--device", default="cpu", help="hf: where the model runs (cpu, cuda)")
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=DTYPES,
        help="hf: the weights' dtype (bfloat16-mixed: float32 weights computing in bfloat16)",
    )


def command_view(args: argparse.Namespace, model: str | None, tokenizer: Any = None) -> View:
    """The view from the view options, else the model folder's recorded view; checked.

    The model's tokenizer is loaded when none is given. With a tokenizer and no budget
    given or recorded, the budget is measured from the
    env's reference answers (it then holds them by construction); with a given budget,
    the check measures whether it holds them.
    """
    if tokenizer is None and model is not None and Path(model).exists():
        from textgym.models.loading import load_tokenizer

        tokenizer = load_tokenizer(model)  # every command checks the budget the same way
    recorded = load_view(model) if model is not None and Path(model).is_dir() else None
    view = resolve_view(recorded, args.env, args.system_prompt, args.history, args.max_new_tokens)
    auto = tokenizer is not None and args.max_new_tokens is None and recorded is None
    for warning in check_view(view, None if auto else tokenizer):
        print(f"textgym {args.command}: warning: {warning}", file=sys.stderr)
    return auto_budget(view, tokenizer) if auto else view


def checked_policies(args: argparse.Namespace, env_id: str) -> list[str]:
    """The comma-separated policy names of ``--policy``, each checked before any work."""
    players = split_list(args.policy)
    if not players:
        raise ValueError("--policy names no policy")
    for spec in players:
        check_policy_name(spec, env_id)
    return players


def model_folder(specs: Sequence[str]) -> str | None:
    """The folder of the first ``hf:`` policy (its recorded view is the default)."""
    folders = [s[3:] for s in specs if s.startswith("hf:")]
    views = {str(load_view(f)) for f in folders if Path(f).is_dir() and load_view(f)}
    if len(views) > 1:
        raise ValueError(
            "the hf: models were trained with different views; give --env, --system-prompt, "
            "--history and --max-new-tokens"
        )
    return folders[0] if folders else None


def auto_budget(view: View, tokenizer: Any) -> View:
    """The view with an answer budget that holds the env's reference answers: the longest
    reference answer plus half again, at least 16."""
    from dataclasses import replace

    need = reference_answer_tokens(view, tokenizer)
    if need is None:
        return view
    return replace(view, max_new_tokens=max(16, need + need // 2))


def suffixed(path: str, condition: str) -> str:
    stem, dot, ext = path.rpartition(".")
    return f"{stem}-{condition}.{ext}" if dot else f"{path}-{condition}"


def add_view_options(parser: argparse.ArgumentParser, env_default: str | None = None) -> None:
    """The option group for what the model sees (None defaults: the recorded view)."""
    group = parser.add_argument_group(
        "view",
        "what the model sees (default: the view recorded in the model folder, else "
        "the env's own system prompt, full history, and a budget that holds the env's answers)",
    )
    group.add_argument(
        "--env",
        default=env_default,
        help=f"a registered env id (`textgym envs`; default {env_default or DEFAULT_ENV})",
    )
    group.add_argument(
        "--system-prompt",
        default=None,
        help="env: the env's own (rules and format) | none: no system message | any text",
    )
    group.add_argument(
        "--history",
        choices=["full", "last"],
        default=None,
        help="full: the whole conversation | last: only the latest observation",
    )
    group.add_argument("--max-new-tokens", type=int, default=None, help="answer budget per turn")


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    """``--ray [ADDRESS]`` and ``--ray-actors N``: play the envs in Ray actors."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="play the envs in Ray actors (the [ray] extra): a cluster's address "
        "(host:port, ray://host:port or auto), or none for a local cluster; the policy "
        "stays here",
    )
    parser.add_argument(
        "--ray-actors", type=int, default=2, help="Ray actors, one CPU each (with --ray)"
    )


@contextmanager
def ray_pool(args: argparse.Namespace, view: View, size: int) -> Iterator[RayEnvPool | None]:
    """The Ray env pool ``--ray`` asks for (None without it), closed on the way out."""
    if args.ray is None:
        yield None
        return
    address = None if args.ray == "local" else args.ray
    pool = RayEnvPool(view, size=size, actors=args.ray_actors, address=address)
    try:
        yield pool
    finally:
        pool.close()


def port_number(text: str) -> int:
    """argparse type of ``--port``: a TCP port, 1-65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 1-65535, got {port}")
    return port


def lora_rank(text: str) -> int:
    """argparse type of ``--lora``: a whole number >= 1."""
    try:
        rank = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if rank < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {rank}")
    return rank


LORA_HELP = (
    "train a LoRA adapter of this rank instead of the whole model (pip install "
    "'textgym[lora]'); the output holds only the adapter and loads on its base model "
    "anywhere a model folder does (`textgym model merge` writes a merged folder)"
)


def add_log_option(parser: argparse.ArgumentParser, where: str) -> None:
    """``--log TRACKER`` (repeatable): send the training metrics there too."""
    parser.add_argument(
        "--log",
        action="append",
        default=[],
        choices=list(TRACKERS),
        help=f"also send the metrics here (tensorboard: {where}; "
        "pip install 'textgym[tensorboard]')",
    )


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of dataclass ``cls`` (on one line, without reST
    markup), read from its source: the one text both the class and its options show."""
    source = textwrap.dedent(inspect.getsource(cls))
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    docs: dict[str, str] = {}
    statements = body.body
    for node, after in itertools.pairwise(statements):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            text = " ".join(after.value.value.split())
            text = re.sub(r":\w+:`~?([^`]*)`", r"\1", text).replace("``", "")
            docs[node.target.id] = text.rstrip(".").replace("%", "%%")
    return docs


def config_option(
    parser: argparse.ArgumentParser | Any,
    cls: type,
    name: str,
    flag: str | None = None,
    **kwargs: Any,
) -> None:
    """Add ``--NAME`` (or ``flag``) for field ``name`` of config dataclass ``cls``: its
    default and help come from the field itself (the default shown), so an option
    cannot drift from the config it fills; ``kwargs`` add a ``type`` or ``choices``."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    if field.default is dataclasses.MISSING:
        raise ValueError(f"{cls.__name__}.{name} has no default to offer as an option")
    default = field.default
    if "type" not in kwargs and "choices" not in kwargs and default is not None:
        kwargs["type"] = type(default)
    help_text = field_docs(cls).get(name, "")
    parser.add_argument(
        flag or "--" + name.replace("_", "-"),
        dest=kwargs.pop("dest", name),
        default=default,
        help=help_text or None,  # the parser adds "(default: X)" (cli.build_parser)
        **kwargs,
    )
