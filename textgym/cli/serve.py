"""``textgym serve``: any env behind an OpenEnv server ([openenv] extra)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from textgym.cli.common import port_number
from textgym.envs import check_env_id
from textgym.view import (
    parse_system_prompt,
)


def _cmd_serve(args: argparse.Namespace) -> int:
    check_env_id(args.env)  # before the server starts: one error line
    try:
        from textgym.integrations.openenv_server import ServerLimits, serve
    except ImportError as exc:
        raise ValueError(str(exc)) from None
    limits = ServerLimits(
        max_sessions=args.max_sessions,
        session_timeout=args.session_timeout,
        max_body_bytes=args.max_body_bytes,
        max_message_bytes=args.max_message_bytes,
        header_timeout=args.header_timeout,
        shutdown_timeout=args.shutdown_timeout,
    )
    print(
        f"textgym serve: {args.env} on http://{args.host}:{args.port} (OpenEnv; Ctrl-C stops)",
        file=sys.stderr,
    )
    serve(
        args.env,
        args.host,
        args.port,
        system_prompt=parse_system_prompt(args.system_prompt),
        log_level=args.log_level,
        limits=limits,
    )
    return 0


def add_parser(sub: Any) -> None:
    """The subcommand ``serve``."""
    p_serve = sub.add_parser(
        "serve", help="serve any env over OpenEnv's HTTP/WebSocket protocol ([openenv] extra)"
    )
    p_serve.add_argument("--env", required=True, help="the env to serve (textgym envs)")
    p_serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p_serve.add_argument("--port", type=port_number, default=8000, help="TCP port, 1-65535")
    p_serve.add_argument(
        "--max-sessions", type=int, default=64, help="sessions open at once (one env each)"
    )
    p_serve.add_argument(
        "--session-timeout",
        type=float,
        default=None,
        help="close a session idle this many seconds (default: only when its client goes)",
    )
    p_serve.add_argument(
        "--max-body-bytes", type=int, default=1 << 20, help="largest HTTP body (larger: 413)"
    )
    p_serve.add_argument(
        "--max-message-bytes",
        type=int,
        default=1 << 20,
        help="largest WebSocket message (larger: the connection closes, code 1009)",
    )
    p_serve.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        help="seconds a connection has to send a whole HTTP request head",
    )
    p_serve.add_argument(
        "--shutdown-timeout",
        type=float,
        default=5.0,
        help="seconds SIGINT/SIGTERM wait for sessions (running tools) before exiting",
    )
    p_serve.add_argument(
        "--system-prompt", default=None, help="env (the env's own) | none | a text"
    )
    p_serve.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    p_serve.set_defaults(func=_cmd_serve)
