"""``textgym`` command line: ``envs``, ``play``, ``eval``, ``train sft``, ``train rl``,
``new-env``, ``model convert``, and tic-tac-toe's ``audit`` and ``pipeline``. Thin: it
calls the library.

``play``, ``eval`` and ``train`` take any registered env and share one option group for
what the model sees (:mod:`textgym.view`): ``--env``, ``--system-prompt``, ``--history`` and
``--max-new-tokens``. A model trained by ``train`` records its view, and the commands that
load it use the recorded view for every option not given.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym

import textgym
from textgym.envs import ENV_SPECS
from textgym.evaluation import (
    condition_options,
    episode_seeds,
    evaluate,
    evaluation_conditions,
    evaluation_note,
    format_table,
    summary_table,
)
from textgym.policies.by_name import check_policy_name
from textgym.view import (
    DEFAULT_ENV,
    View,
    check_view,
    load_view,
    parse_system_prompt,
    resolve_view,
)


def _cmd_envs(args: argparse.Namespace) -> int:
    for env_id in textgym.registered_env_ids():
        print(f"{env_id:<30} {ENV_SPECS[env_id][2]}")
    return 0


def _split(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _option_pairs(pairs: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` reset options from the command line."""
    from textgym.core import _parse_value

    out: dict[str, Any] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"--option takes NAME=VALUE, got {pair!r}")
        out[name.strip()] = _parse_value(value.strip())
    return out


def _curriculum(pairs: Sequence[str] | None) -> dict[str, tuple[float, float]] | None:
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


def _view(args: argparse.Namespace, model: str | None, tokenizer: Any = None) -> View:
    """The view from the view options, else the model folder's recorded view; checked.

    With a ``tokenizer`` and no budget given or recorded, the budget is measured from the
    env's reference answers (it then holds them by construction); with a given budget,
    the check measures whether it holds them.
    """
    recorded = load_view(model) if model is not None and Path(model).is_dir() else None
    view = resolve_view(recorded, args.env, args.system_prompt, args.history, args.max_new_tokens)
    auto = tokenizer is not None and args.max_new_tokens is None and recorded is None
    for warning in check_view(view, None if auto else tokenizer):
        print(f"textgym {args.command}: warning: {warning}", file=sys.stderr)
    return _auto_budget(view, tokenizer) if auto else view


def _cmd_play(args: argparse.Namespace) -> int:
    view = _view(args, None)
    env = gym.make(view.env_id)
    base: Any = env.unwrapped
    options = {**condition_options(view.env_id, args.opponent), **_option_pairs(args.option)}
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


def _policies(args: argparse.Namespace, env_id: str) -> list[str]:
    """The comma-separated policy names of ``--policy``, each checked before any work."""
    players = _split(args.policy)
    if not players:
        raise ValueError("--policy names no policy")
    for spec in players:
        check_policy_name(spec, env_id)
    return players


def _model_folder(specs: Sequence[str]) -> str | None:
    """The folder of the first ``hf:`` policy (its recorded view is the default)."""
    folders = [s[3:] for s in specs if s.startswith("hf:")]
    views = {str(load_view(f)) for f in folders if Path(f).is_dir() and load_view(f)}
    if len(views) > 1:
        raise ValueError(
            "the hf: models were trained with different views; give --env, --system-prompt, "
            "--history and --max-new-tokens"
        )
    return folders[0] if folders else None


def _cmd_eval(args: argparse.Namespace) -> int:
    specs = _split(args.policy)
    view = _view(args, _model_folder(specs))
    policies = _policies(args, view.env_id)
    conditions = _split(args.opponent) if args.opponent else evaluation_conditions(view.env_id)
    for condition in conditions:
        condition_options(view.env_id, condition)
    if args.resume and not args.out:
        raise ValueError("--resume needs --out (the JSONL file to resume)")
    if args.plot:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise ValueError("--plot needs matplotlib: pip install 'textgym[plot]'")
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
                    env_id=view.env_id,
                    out=args.out,
                    resume=args.resume,
                    num_envs=args.num_envs,
                    temperature=args.temperature,
                    max_new_tokens=view.max_new_tokens,
                    progress=not args.quiet,
                    base_url=args.base_url,
                    history=view.history,
                    system_prompt=view.system_prompt,
                )
            )
        if args.plot:
            from textgym.plots import plot_results

            path = args.plot if len(conditions) == 1 else _suffixed(args.plot, condition)
            print(f"wrote {plot_results(these, path)}", file=sys.stderr)
        summaries += these
    header, rows = summary_table(summaries)
    print(f"{view.env_id}: {args.episodes} episodes per row, seed {args.seed}")
    print(format_table(rows, header))
    notes = [evaluation_note(view.env_id, c) for c in conditions]
    for note in filter(None, notes):
        print("\n" + note)
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from textgym.envs.tictactoe.audit import audit_command

    return audit_command(args)


def _cmd_pipeline(args: argparse.Namespace) -> int:
    from textgym.envs.tictactoe.pipeline import preset_config, run_pipeline

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
        teacher_games=args.teacher_games,
        sft_epochs=args.sft_epochs,
        sft_lr=args.sft_lr,
        sft_batch_size=args.sft_batch_size,
        eval_episodes=args.eval_episodes,
        lora_rank=args.lora,
        device=args.device,
        dtype=args.dtype,
        tag_tokens=True if args.tag_tokens else None,
    )
    report = run_pipeline(config, progress=not args.quiet)
    print(report.table())
    print(f"\nreport: {report.out_dir / 'report.md'}")
    return 0


def _auto_budget(view: View, tokenizer: Any) -> View:
    """The view with an answer budget that holds the env's reference answers: the longest
    reference answer plus half again, at least 16."""
    from dataclasses import replace

    from textgym.view import reference_answer_tokens

    need = reference_answer_tokens(view, tokenizer)
    if need is None:
        return view
    return replace(view, max_new_tokens=max(16, need + need // 2))


def _cmd_train_sft(args: argparse.Namespace) -> int:
    from textgym.policies.by_name import make_policy
    from textgym.policies.hf import check_model_path, load_model
    from textgym.trainers.saving import check_writable, save_model
    from textgym.trainers.sft import SFTConfig, sft_tokens, sft_train, teacher_episodes
    from textgym.trainers.trackers import make_trackers, tracking

    make_trackers(args.log, Path(args.out), check_only=True)
    config = SFTConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    if args.games < 1:
        raise ValueError(f"--games must be >= 1, got {args.games}")
    check_model_path(args.model, "--model")
    out = Path(args.out)
    state_dir = out.with_name(out.name + ".partial")  # epochs done so far, for a rerun
    check_writable(out.parent, "--out")
    curriculum = _curriculum(args.curriculum)
    model, tok = load_model(args.model)
    if args.lora is not None:  # before any work: a rank that does not fit stops here
        from textgym.lora import add_lora

        model = add_lora(model, args.lora, args.model, seed=args.seed)
    view = _view(args, args.model, tok)
    check_policy_name(args.teacher, view.env_id)
    teacher = make_policy(args.teacher, view.env_id, seed=args.seed, base_url=args.base_url)
    kept, games = teacher_episodes(
        teacher,
        view.env_id,
        args.games,
        args.seed,
        curriculum=curriculum,
        history=view.history,
        system_prompt=view.system_prompt,
        min_reward=args.min_reward,
    )
    turns = sft_tokens(kept, tok)
    print(
        f"SFT on {len(kept)}/{len(games)} episodes with reward >= {args.min_reward:g} "
        f"({len(turns)} turns)",
        file=sys.stderr,
    )
    if (state_dir / "sft_state.pt").exists():
        print(f"continuing from the epochs saved in {state_dir}", file=sys.stderr)
    with tracking(args.log, out.with_name(out.name + ".logs"), prefix="sft/") as hook:
        on_step = None if hook is None else (lambda i, loss: hook({"step": i, "loss": loss}))
        losses = sft_train(
            model, tok, turns, config, on_step=on_step, state_dir=state_dir, progress=not args.quiet
        )
    save_model(out, model, tok, view)
    shutil.rmtree(state_dir, ignore_errors=True)
    print(f"final loss {losses[-1]:.4f}; model saved to {args.out} (view: {view.to_json()})")
    return 0


def _cmd_train_rl(args: argparse.Namespace) -> int:
    from textgym.policies.hf import check_model_path
    from textgym.trainers.rl import RLConfig, train_rl
    from textgym.trainers.trackers import make_trackers, tracking

    make_trackers(args.log, args.out, check_only=True)
    check_model_path(args.model, "--model")
    from textgym.trainers.saving import check_writable

    check_writable(args.out, "--out")
    tokenizer = None
    if args.max_new_tokens is None and load_view(args.model) is None:  # measure a budget
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.model)
    view = _view(args, args.model, tokenizer)
    config = RLConfig(
        model=args.model,
        out_dir=args.out,
        steps=args.steps,
        games_per_batch=args.games_per_batch,
        group_size=args.group_size,
        advantage_scale=args.advantage_scale,
        lr=args.lr,
        temperature=args.temperature,
        curriculum=_curriculum(args.curriculum),
        replay_share=args.replay_share,
        eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every,
        eval_games=args.eval_games,
        num_envs=args.num_envs,
        env_id=view.env_id,
        system_prompt=view.system_prompt,
        history=view.history,
        max_new_tokens=view.max_new_tokens,
        lora_rank=args.lora,
        seed=args.seed,
    )
    with tracking(args.log, args.out) as hook:
        train_rl(config, resume=args.resume, progress=not args.quiet, on_metrics=hook)
    print(f"checkpoint: {config.out_dir}/checkpoint; metrics: {config.out_dir}/metrics.jsonl")
    return 0


def _cmd_new_env(args: argparse.Namespace) -> int:
    from textgym.scaffold import names, scaffold

    root = scaffold(args.name, args.dir)
    _, pkg, cls = names(args.name)
    print(f"created {root}: pip install -e {root}, then gymnasium.make('{pkg}:{cls}-v0')")
    return 0


def _suffixed(path: str, condition: str) -> str:
    stem, dot, ext = path.rpartition(".")
    return f"{stem}-{condition}.{ext}" if dot else f"{path}-{condition}"


def _add_view_options(parser: argparse.ArgumentParser, env_default: str | None = None) -> None:
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


def _add_envs_play(sub: Any) -> None:
    """The subcommands ``envs`` and ``play``."""
    p_envs = sub.add_parser("envs", help="list the registered environments")
    p_envs.set_defaults(func=_cmd_envs)

    p_play = sub.add_parser("play", help="play any env in the terminal")
    _add_view_options(p_play, env_default="TextTicTacToe-v0")
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


def _add_eval(sub: Any) -> None:
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
    _add_view_options(p_eval)
    p_eval.add_argument("--episodes", type=int, default=100)
    p_eval.add_argument("--seed", type=int, default=0, help="derives every episode seed")
    p_eval.add_argument("--out", default=None, help="append one JSON line per finished episode")
    p_eval.add_argument("--resume", action="store_true", help="skip episodes already in --out")
    p_eval.add_argument("--num-envs", type=int, default=64, help="episodes played at once")
    p_eval.add_argument("--temperature", type=float, default=0.0, help="hf: 0 = greedy")
    p_eval.add_argument("--base-url", default=None, help="openai: the server's /v1 URL")
    p_eval.add_argument("--plot", default=None, help="write a bar chart PNG here")
    p_eval.add_argument(
        "--progress",
        action="store_true",
        help="(the default now) a progress bar on a terminal",
    )
    p_eval.add_argument("--quiet", action="store_true", help="no progress bar")
    p_eval.set_defaults(func=_cmd_eval)


def _add_audit(sub: Any) -> None:
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


def _add_pipeline(sub: Any) -> None:
    """The subcommands ``pipeline`` (tic-tac-toe)."""
    p_pipe = sub.add_parser(
        "pipeline", help="tiny model -> teacher SFT -> two CISPO rounds -> report"
    )
    p_pipe.add_argument(
        "--preset",
        default="default",
        help="default | fast (the answer tags as single tokens: 2/3 of the time, a less "
        "sure result) | faithful (SFT on only 200 teacher games, longer RL) | quick (about "
        "a minute) | smollm2 (the talk's recipe on SmolLM2-135M-Instruct with LoRA; python "
        "scripts/fetch_smollm2.py first)",
    )
    p_pipe.add_argument("--out", default=None, help="report folder (default runs/pipeline)")
    p_pipe.add_argument(
        "--model", default=None, help="start from this saved model folder or .gguf file"
    )
    p_pipe.add_argument("--teacher", default=None, help="teacher:Q | minimax | openai:MODEL")
    p_pipe.add_argument("--base-url", default=None, help="server of an openai: teacher")
    p_pipe.add_argument("--seed", type=int, default=None)
    p_pipe.add_argument("--rl1-steps", type=int, default=None)
    p_pipe.add_argument("--rl2-steps", type=int, default=None)
    p_pipe.add_argument("--games-per-batch", type=int, default=None)
    p_pipe.add_argument("--teacher-games", type=int, default=None)
    p_pipe.add_argument("--sft-epochs", type=int, default=None)
    p_pipe.add_argument("--sft-lr", type=float, default=None, help="SFT learning rate")
    p_pipe.add_argument("--sft-batch-size", type=int, default=None, help="turns per SFT step")
    p_pipe.add_argument("--eval-episodes", type=int, default=None, help="games per opponent")
    p_pipe.add_argument("--lora", type=_lora_rank, default=None, metavar="RANK", help=_LORA_HELP)
    p_pipe.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N")
    p_pipe.add_argument(
        "--dtype",
        default=None,
        choices=("auto", "float32", "bfloat16", "float16"),
        help="auto: bfloat16 on a CUDA device that supports it, else float32",
    )
    p_pipe.add_argument(
        "--tag-tokens",
        action="store_true",
        help="the tiny tokenizer's answer tags as single tokens (3 tokens per answer, not "
        "14); --preset fast is this with the SFT learning rate it needs",
    )
    p_pipe.add_argument("--quiet", action="store_true", help="no progress lines")
    p_pipe.set_defaults(func=_cmd_pipeline)


def _add_new_env(sub: Any) -> None:
    """The subcommands ``new-env``."""
    p_new = sub.add_parser("new-env", help="scaffold an installable package with one env")
    p_new.add_argument("name", help="e.g. my-env (package my_env, env MyEnv-v0)")
    p_new.add_argument("--dir", default=".", help="where to create the package folder")
    p_new.set_defaults(func=_cmd_new_env)


def _add_model(sub: Any) -> None:
    """The subcommands ``model convert`` and ``model merge``."""
    p_model = sub.add_parser("model", help="model files: convert a GGUF file, merge a LoRA adapter")
    actions = p_model.add_subparsers(dest="action", required=True)
    p_convert = actions.add_parser(
        "convert", help="write a .gguf file as a plain Hugging Face model folder"
    )
    p_convert.add_argument("gguf", help="the .gguf file (pip install 'textgym[gguf]')")
    p_convert.add_argument("out", help="the folder to write (model, tokenizer, chat template)")
    p_convert.set_defaults(func=_cmd_model_convert)
    p_merge = actions.add_parser(
        "merge", help="write a LoRA adapter folder merged into its base as a plain folder"
    )
    p_merge.add_argument("adapter", help="a folder trained with --lora (pip install peft)")
    p_merge.add_argument("out", help="the folder to write")
    p_merge.set_defaults(func=_cmd_model_merge)


def _cmd_model_convert(args: argparse.Namespace) -> int:
    from textgym.policies.hf import convert_gguf

    out = convert_gguf(args.gguf, args.out)
    print(f"{args.gguf} -> {out} (load it with --model {out} or hf:{out})")
    return 0


def _cmd_model_merge(args: argparse.Namespace) -> int:
    from textgym.lora import merge_lora

    out = merge_lora(args.adapter, args.out)
    print(f"{args.adapter} merged -> {out} (load it with --model {out} or hf:{out})")
    return 0


def _port(text: str) -> int:
    """argparse type of ``--port``: a TCP port, 1-65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 1-65535, got {port}")
    return port


def _lora_rank(text: str) -> int:
    """argparse type of ``--lora``: a whole number >= 1."""
    try:
        rank = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if rank < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {rank}")
    return rank


_LORA_HELP = (
    "train a LoRA adapter of this rank instead of the whole model (pip install "
    "'textgym[lora]'); the output holds only the adapter and loads on its base model "
    "anywhere a model folder does (`textgym model merge` writes a merged folder)"
)


def _add_log_option(parser: argparse.ArgumentParser, where: str) -> None:
    """``--log TRACKER`` (repeatable): send the training metrics there too."""
    from textgym.trainers.trackers import TRACKERS

    parser.add_argument(
        "--log",
        action="append",
        default=[],
        choices=list(TRACKERS),
        help=f"also send the metrics here (tensorboard: {where}; "
        "pip install 'textgym[tensorboard]')",
    )


def _add_train(sub: Any) -> None:
    """The subcommands ``train sft`` and ``train rl``."""
    p_train = sub.add_parser("train", help="run one training stage alone, on any env")
    stages = p_train.add_subparsers(dest="stage", required=True)
    p_sft = stages.add_parser("sft", help="imitate a teacher's good episodes")
    p_sft.add_argument("--model", required=True, help="saved model folder to start from")
    p_sft.add_argument("--out", required=True, help="where to save the trained model")
    _add_view_options(p_sft)
    p_sft.add_argument(
        "--teacher", default="reference:0.7", help="reference:Q | hf:PATH | openai:MODEL | ..."
    )
    p_sft.add_argument("--base-url", default=None, help="server of an openai: teacher")
    p_sft.add_argument("--games", type=int, default=8000, help="teacher episodes")
    p_sft.add_argument(
        "--min-reward", type=float, default=0.5, help="keep teacher episodes scoring this or more"
    )
    p_sft.add_argument(
        "--curriculum",
        action="append",
        default=None,
        help="NAME=LOW:HIGH reset-option range (repeatable; none: no options; default: the "
        "env's declared ranges)",
    )
    p_sft.add_argument("--epochs", type=int, default=6)
    p_sft.add_argument("--batch-size", type=int, default=256)
    p_sft.add_argument("--lr", type=float, default=3e-3)
    p_sft.add_argument("--seed", type=int, default=0)
    p_sft.add_argument("--lora", type=_lora_rank, default=None, metavar="RANK", help=_LORA_HELP)
    p_sft.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_log_option(p_sft, "OUT.logs/tensorboard")
    p_sft.set_defaults(func=_cmd_train_sft)

    p_rl = stages.add_parser("rl", help="CISPO with a stratified curriculum")
    p_rl.add_argument("--model", required=True, help="saved model folder to start from")
    p_rl.add_argument("--out", required=True, help="checkpoints, metrics.jsonl, training.png")
    _add_view_options(p_rl)
    p_rl.add_argument("--steps", type=int, default=30)
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
    p_rl.add_argument(
        "--curriculum",
        action="append",
        default=None,
        help="NAME=LOW:HIGH reset-option range stratified in every batch (repeatable; none: "
        "no options; default: the env's declared ranges)",
    )
    p_rl.add_argument(
        "--replay-share",
        type=float,
        default=0.0,
        help="share of groups that restart where the policy lost recently",
    )
    p_rl.add_argument("--eval-every", type=int, default=10)
    p_rl.add_argument(
        "--checkpoint-every",
        type=int,
        default=10,
        help="steps between checkpoints (a killed run continues from the last one)",
    )
    p_rl.add_argument("--eval-games", type=int, default=100)
    p_rl.add_argument("--num-envs", type=int, default=64, help="episodes played at once")
    p_rl.add_argument("--seed", type=int, default=0)
    p_rl.add_argument("--lora", type=_lora_rank, default=None, metavar="RANK", help=_LORA_HELP)
    p_rl.add_argument("--resume", action="store_true", help="continue from --out/checkpoint")
    p_rl.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_log_option(p_rl, "OUT/tensorboard")
    p_rl.set_defaults(func=_cmd_train_rl)


def _cmd_serve(args: argparse.Namespace) -> int:
    from textgym.policies.by_name import check_env_id

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


def _add_serve(sub: Any) -> None:
    """The subcommand ``serve``."""
    p_serve = sub.add_parser(
        "serve", help="serve any env over OpenEnv's HTTP/WebSocket protocol ([openenv] extra)"
    )
    p_serve.add_argument("--env", required=True, help="the env to serve (textgym envs)")
    p_serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p_serve.add_argument("--port", type=_port, default=8000, help="TCP port, 1-65535")
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``textgym`` command."""
    parser = argparse.ArgumentParser(prog="textgym", description=textgym.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"textgym {textgym.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    _add_envs_play(sub)
    _add_eval(sub)
    _add_audit(sub)
    _add_pipeline(sub)
    _add_new_env(sub)
    _add_model(sub)
    _add_train(sub)
    _add_serve(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``textgym`` console script."""
    args = build_parser().parse_args(argv)
    from textgym.policies.openai_policy import PolicyError
    from textgym.utils.files import SaveError

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


if __name__ == "__main__":
    sys.exit(main())
