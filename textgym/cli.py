"""``textgym`` command line: ``envs``, ``play``, ``eval``, ``audit``, ``pipeline`` and
``train``. Thin: it calls the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import gymnasium as gym

import textgym
from textgym.envs import ENV_SPECS
from textgym.envs.tictactoe.solver import best_response_to_random
from textgym.evaluation import (
    OPPONENTS,
    SCRIPTED_PLAYERS,
    episode_seeds,
    evaluate,
    format_table,
    parse_opponent,
    parse_player,
)
from textgym.pipeline import ENV_ID


def _cmd_envs(args: argparse.Namespace) -> int:
    for env_id in textgym.registered_env_ids():
        print(f"{env_id:<24} {ENV_SPECS[env_id][2]}")
    return 0


def _cmd_play(args: argparse.Namespace) -> int:
    p = parse_opponent(args.opponent)
    first = {"first": True, "second": False, "random": None}[args.seat]
    env = gym.make("TextTicTacToe-v0", random_move_prob=p, agent_mark=args.mark, agent_first=first)
    print(env.unwrapped.system_prompt + "\n")
    seed = args.seed if args.seed is not None else episode_seeds(0, 1)[0]
    obs, info = env.reset(seed=seed)
    while True:
        print(obs + "\n")
        try:
            answer = input("> ")
        except (EOFError, KeyboardInterrupt):
            print("\nbye")
            return 0
        if answer.strip() not in info["legal_actions"]:
            print(f"Not a legal move; choose one of: {', '.join(info['legal_actions'])}")
            continue
        obs, reward, terminated, truncated, info = env.step(answer)
        if terminated or truncated:
            print(obs + f"\n\nreward: {reward}")
            return 0


def _players(spec_list: str) -> list[str]:
    """The comma-separated player names of ``--policy``, each checked before any work."""
    players = [s.strip() for s in spec_list.split(",") if s.strip()]
    if not players:
        raise ValueError("--policy names no player")
    for spec in players:
        if not spec.startswith(("hf:", "openai:")):
            parse_player(spec)
    return players


def _cmd_eval(args: argparse.Namespace) -> int:
    players = _players(args.policy)
    opponents = [s.strip() for s in args.opponent.split(",") if s.strip()]
    for spec in opponents:
        parse_opponent(spec)
    if args.resume and not args.out:
        raise ValueError("--resume needs --out (the JSONL file to resume)")
    if args.plot:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise ValueError("--plot needs matplotlib: pip install 'textgym[plot]'")
    rows = []
    for opponent in opponents:
        summaries = []
        for player in players:
            summary = evaluate(
                player,
                opponent,
                episodes=args.episodes,
                seed=args.seed,
                env_id=args.env,
                out=args.out,
                resume=args.resume,
                num_envs=args.num_envs,
                temperature=args.temperature,
                max_new_tokens=args.max_new_tokens,
                progress=args.progress,
                base_url=args.base_url,
                history=args.history,
            )
            rows.append(summary.row())
            summaries.append(summary)
        if args.plot:
            from textgym.plots import plot_results

            path = args.plot if len(opponents) == 1 else _suffixed(args.plot, opponent)
            print(f"wrote {plot_results(summaries, path)}", file=sys.stderr)
    print(format_table(rows))
    if 1.0 in {parse_opponent(o) for o in opponents}:
        first = best_response_to_random("first").outcomes
        second = best_response_to_random("second").outcomes
        print(
            "\nCeiling vs a random opponent (exact, best response): "
            f"moving first {float(first.win):.1%} win / {float(first.loss):.1%} loss, "
            f"moving second {float(second.win):.1%} win / {float(second.loss):.1%} loss."
        )
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from textgym.audit import audit_perfect_lines, audit_policy
    from textgym.evaluation import answer_template, make_policy

    rows = []
    for spec in _players(args.policy):
        policy = make_policy(
            spec,
            answer_template(args.env),
            seed=args.seed,
            max_new_tokens=args.max_new_tokens,
            base_url=args.base_url,
        )
        audit = audit_policy(policy, args.env, system_prompt=args.system_prompt)
        lines = audit_perfect_lines(
            policy, args.env, system_prompt=args.system_prompt, history=args.history
        )
        rows.append(
            [
                spec,
                str(audit.positions),
                f"{audit.rate('well_formed'):.1f}",
                f"{audit.rate('legal'):.1f}",
                f"{audit.rate('optimal'):.1f}",
                str(lines.positions),
                str(len(lines.mistakes)),
                f"{100 * lines.loss:.2f}",
            ]
        )
        for board, mark, answer in audit.mistakes[: args.show_mistakes]:
            print(f"{spec}: {mark} to move on {board}: answered {answer!r}", file=sys.stderr)
        for board, mark, answer, p in lines.mistakes[: args.show_mistakes]:
            print(
                f"{spec}: vs perfect play, {mark} to move on {board} (reached with p={p:.4f}): "
                f"answered {answer!r}",
                file=sys.stderr,
            )
    header = ["policy", "positions", "format%", "legal%", "optimal%"]
    print(format_table(rows, [*header, "perfect-play positions", "mistakes", "loss%"]))
    print(
        "perfect-play columns: every line of the perfect opponent (every seat, every optimal "
        "reply); loss% is exact for a deterministic player (hf: greedy)"
    )
    return 0


def _cmd_pipeline(args: argparse.Namespace) -> int:
    from textgym.pipeline import preset_config, run_pipeline

    config = preset_config(
        args.preset,
        out_dir=args.out,
        model=args.model,
        teacher=args.teacher,
        base_url=args.base_url,
        seed=args.seed,
        rl1_steps=args.rl1_steps,
        rl2_steps=args.rl2_steps,
        games_per_batch=args.games_per_batch,
    )
    report = run_pipeline(config, progress=not args.quiet)
    print(report.table())
    print(f"\nreport: {report.out_dir / 'report.md'}")
    return 0


def _cmd_train_sft(args: argparse.Namespace) -> int:
    from textgym.evaluation import make_policy
    from textgym.pipeline import SYSTEM_PROMPT, mixed_teacher_games
    from textgym.policies.hf import load_model
    from textgym.trainers.sft import SFTConfig, sft_tokens, sft_train

    config = SFTConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    if args.games < 1:
        raise ValueError(f"--games must be >= 1, got {args.games}")
    model, tok = load_model(args.model)
    teacher = make_policy(args.teacher, seed=args.seed, base_url=args.base_url)
    prompt = None if args.env_prompt else SYSTEM_PROMPT
    kept, games = mixed_teacher_games(
        teacher, args.games, args.seed, args.env, system_prompt=prompt
    )
    turns = sft_tokens(kept, tok)
    print(f"SFT on {len(kept)}/{len(games)} games the teacher did not lose", file=sys.stderr)
    losses = sft_train(model, tok, turns, config)
    model.save_pretrained(args.out)
    tok.save_pretrained(args.out)
    print(f"final loss {losses[-1]:.4f}; model saved to {args.out}")
    return 0


def _cmd_train_rl(args: argparse.Namespace) -> int:
    from textgym.pipeline import SYSTEM_PROMPT
    from textgym.trainers.rl import RLConfig, train_rl

    config = RLConfig(
        model=args.model,
        out_dir=args.out,
        steps=args.steps,
        games_per_batch=args.games_per_batch,
        group_size=args.group_size,
        advantage_scale=args.advantage_scale,
        lr=args.lr,
        temperature=args.temperature,
        prob_low=args.prob_low,
        prob_high=args.prob_high,
        replay_share=args.replay_share,
        eval_every=args.eval_every,
        system_prompt=None if args.env_prompt else SYSTEM_PROMPT,
        env_id=args.env,
        seed=args.seed,
    )
    train_rl(config, resume=args.resume)
    print(f"checkpoint: {config.out_dir}/checkpoint; metrics: {config.out_dir}/metrics.jsonl")
    return 0


def _cmd_new_env(args: argparse.Namespace) -> int:
    from textgym.scaffold import names, scaffold

    root = scaffold(args.name, args.dir)
    _, pkg, cls = names(args.name)
    print(f"created {root}: pip install -e {root}, then gymnasium.make('{pkg}:{cls}-v0')")
    return 0


def _suffixed(path: str, opponent: str) -> str:
    stem, dot, ext = path.rpartition(".")
    return f"{stem}-{opponent}.{ext}" if dot else f"{path}-{opponent}"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``textgym`` command."""
    parser = argparse.ArgumentParser(prog="textgym", description=textgym.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"textgym {textgym.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p_envs = sub.add_parser("envs", help="list the registered environments")
    p_envs.set_defaults(func=_cmd_envs)

    p_play = sub.add_parser("play", help="play tic-tac-toe in the terminal")
    p_play.add_argument("--opponent", default="optimal", help="optimal | random | P in [0, 1]")
    p_play.add_argument("--mark", choices=["X", "O"], default=None, help="your mark")
    p_play.add_argument("--seat", choices=["first", "second", "random"], default="random")
    p_play.add_argument("--seed", type=int, default=None)
    p_play.set_defaults(func=_cmd_play)

    p_eval = sub.add_parser("eval", help="evaluate players against opponents")
    p_eval.add_argument(
        "--policy",
        default="minimax,random",
        help=f"comma-separated players: {', '.join(SCRIPTED_PLAYERS)}",
    )
    p_eval.add_argument(
        "--opponent",
        default="optimal,random",
        help=f"comma-separated opponents: {', '.join(OPPONENTS)}",
    )
    p_eval.add_argument("--env", default="TextTicTacToe-LLM-v0", help="a registered env id")
    p_eval.add_argument("--episodes", type=int, default=100)
    p_eval.add_argument("--seed", type=int, default=0, help="derives every episode seed")
    p_eval.add_argument("--out", default=None, help="append one JSON line per finished episode")
    p_eval.add_argument("--resume", action="store_true", help="skip episodes already in --out")
    p_eval.add_argument("--num-envs", type=int, default=64, help="episodes played at once")
    p_eval.add_argument("--temperature", type=float, default=0.0, help="hf: 0 = greedy")
    p_eval.add_argument("--max-new-tokens", type=int, default=32, help="hf: answer budget")
    p_eval.add_argument("--base-url", default=None, help="openai: the server's /v1 URL")
    p_eval.add_argument(
        "--history",
        choices=["full", "last"],
        default="full",
        help="what the policy sees: the whole conversation or the latest observation",
    )
    p_eval.add_argument("--plot", default=None, help="write a W/D/L bar chart PNG here")
    p_eval.add_argument("--progress", action="store_true", help="print progress to stderr")
    p_eval.set_defaults(func=_cmd_eval)

    p_audit = sub.add_parser(
        "audit",
        help="score players' moves on every position of the game (9,040) and against "
        "every line of perfect play",
    )
    p_audit.add_argument(
        "--policy",
        default="minimax",
        help=f"comma-separated players: {', '.join(SCRIPTED_PLAYERS)}",
    )
    p_audit.add_argument("--env", default="TextTicTacToe-LLM-v0", help="a tic-tac-toe env id")
    p_audit.add_argument(
        "--system-prompt", default=None, help="replaces the env's system prompt (as in training)"
    )
    p_audit.add_argument("--seed", type=int, default=0)
    p_audit.add_argument("--max-new-tokens", type=int, default=32, help="hf: answer budget")
    p_audit.add_argument("--base-url", default=None, help="openai: the server's /v1 URL")
    p_audit.add_argument(
        "--history",
        choices=["last", "full"],
        default="last",
        help="what the player sees on the lines of perfect play (as in rollouts)",
    )
    p_audit.add_argument(
        "--show-mistakes", type=int, default=0, help="print the first N non-optimal answers"
    )
    p_audit.set_defaults(func=_cmd_audit)

    p_pipe = sub.add_parser(
        "pipeline", help="tiny model -> teacher SFT -> two CISPO rounds -> report"
    )
    p_pipe.add_argument("--preset", default="default", help="default | quick (about a minute)")
    p_pipe.add_argument("--out", default=None, help="report folder (default runs/pipeline)")
    p_pipe.add_argument("--model", default=None, help="start from this saved model folder")
    p_pipe.add_argument("--teacher", default=None, help="teacher:Q | minimax | openai:MODEL")
    p_pipe.add_argument("--base-url", default=None, help="server of an openai: teacher")
    p_pipe.add_argument("--seed", type=int, default=None)
    p_pipe.add_argument("--rl1-steps", type=int, default=None)
    p_pipe.add_argument("--rl2-steps", type=int, default=None)
    p_pipe.add_argument("--games-per-batch", type=int, default=None)
    p_pipe.add_argument("--quiet", action="store_true", help="no progress lines")
    p_pipe.set_defaults(func=_cmd_pipeline)

    p_new = sub.add_parser("new-env", help="scaffold an installable package with one env")
    p_new.add_argument("name", help="e.g. my-env (package my_env, env MyEnv-v0)")
    p_new.add_argument("--dir", default=".", help="where to create the package folder")
    p_new.set_defaults(func=_cmd_new_env)

    p_train = sub.add_parser("train", help="run one training stage alone")
    stages = p_train.add_subparsers(dest="stage", required=True)
    p_sft = stages.add_parser("sft", help="imitate a teacher's games it did not lose")
    p_sft.add_argument("--model", required=True, help="saved model folder to start from")
    p_sft.add_argument("--out", required=True, help="where to save the trained model")
    p_sft.add_argument("--teacher", default="teacher:0.7")
    p_sft.add_argument("--env", default=ENV_ID, help="a tic-tac-toe LLM env id")
    p_sft.add_argument("--base-url", default=None, help="server of an openai: teacher")
    p_sft.add_argument("--games", type=int, default=8000)
    p_sft.add_argument("--epochs", type=int, default=6)
    p_sft.add_argument("--batch-size", type=int, default=256)
    p_sft.add_argument("--lr", type=float, default=3e-3)
    p_sft.add_argument("--seed", type=int, default=0)
    p_sft.add_argument(
        "--env-prompt", action="store_true", help="keep the env's rules as system prompt"
    )
    p_sft.set_defaults(func=_cmd_train_sft)
    p_rl = stages.add_parser("rl", help="CISPO against stratified opponents")
    p_rl.add_argument("--model", required=True, help="saved model folder to start from")
    p_rl.add_argument("--out", required=True, help="checkpoints, metrics.jsonl, training.png")
    p_rl.add_argument("--steps", type=int, default=30)
    p_rl.add_argument("--env", default=ENV_ID, help="a tic-tac-toe LLM env id")
    p_rl.add_argument("--games-per-batch", type=int, default=256)
    p_rl.add_argument("--group-size", type=int, default=8)
    p_rl.add_argument(
        "--advantage-scale",
        choices=("none", "std"),
        default="none",
        help="std: divide each group's centred rewards by the group's std",
    )
    p_rl.add_argument("--lr", type=float, default=1e-3)
    p_rl.add_argument("--temperature", type=float, default=1.0)
    p_rl.add_argument("--prob-low", type=float, default=0.2)
    p_rl.add_argument("--prob-high", type=float, default=0.7)
    p_rl.add_argument(
        "--replay-share",
        type=float,
        default=0.0,
        help="share of groups that start where the policy lost recently (perfect opponent)",
    )
    p_rl.add_argument("--eval-every", type=int, default=10)
    p_rl.add_argument("--seed", type=int, default=0)
    p_rl.add_argument("--resume", action="store_true", help="continue from --out/checkpoint")
    p_rl.add_argument(
        "--env-prompt", action="store_true", help="keep the env's rules as system prompt"
    )
    p_rl.set_defaults(func=_cmd_train_rl)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``textgym`` console script."""
    args = build_parser().parse_args(argv)
    from textgym.policies.openai_policy import PolicyError

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
    except (ValueError, PolicyError, FloatingPointError) as exc:
        print(f"textgym {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
