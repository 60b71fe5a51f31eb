"""Evaluation of policies on any text env: mean reward with its standard error, the env's
own episode metrics, format and invalid-answer rates, turns and answer tokens.

Every policy faces exactly the same episodes: episode seeds derive from one evaluation
seed, and the env's randomness comes from those seeds. A *condition* is a set of reset
options the episodes are played under, named by the env (tic-tac-toe's ``optimal`` and
``random`` opponents) or given as ``NAME=VALUE`` pairs (see
:meth:`textgym.core.TextEnv.parse_condition`). With ``out``, one JSON line per finished
episode is appended as it finishes, and ``resume`` skips the episodes already there.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from textgym.core import Completion, Conversation, Policy
from textgym.envs import check_takes_opponent, probe_env
from textgym.policies.by_name import make_policy
from textgym.rollout import EnvPool, Episode, rollout
from textgym.utils.files import SaveError, check_writable, describe_os_error, repair_jsonl
from textgym.utils.tables import format_table, markdown_table
from textgym.view import DEFAULT_ENV, View, as_view, load_view


def episode_seeds(seed: int, n: int) -> list[int]:
    """``n`` distinct-looking episode seeds derived from one evaluation seed."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n, dtype=np.uint32)]


def _condition_options(env: gym.Env, condition: str) -> dict[str, Any]:
    options = env.unwrapped.parse_condition(condition)  # type: ignore[attr-defined]
    env.reset(seed=0, options=options)  # an unknown option fails here, before any work
    return options


def condition_options(env_id: str, condition: str) -> dict[str, Any]:
    """The reset options of ``condition`` in ``env_id`` (checked by a test reset)."""
    with probe_env(env_id) as env:
        return _condition_options(env, condition)


def rate_metrics(env_id: str) -> tuple[str, ...]:
    """The yes/no episode metrics of ``env_id`` (:attr:`textgym.core.TextEnv.rate_metrics`)."""
    with probe_env(env_id) as env:
        return tuple(getattr(env.unwrapped, "rate_metrics", ()))


def evaluation_conditions(env_id: str) -> list[str]:
    """The names of the conditions ``env_id`` evaluates under by default."""
    with probe_env(env_id) as env:
        return list(env.unwrapped.evaluation_conditions())  # type: ignore[attr-defined]


def evaluation_note(env_id: str, condition: str) -> str | None:
    """The env's note for a condition (e.g. the best result possible), if any."""
    with probe_env(env_id) as env:
        base: Any = env.unwrapped
        return base.evaluation_note(base.parse_condition(condition))


def _count(infos: Sequence[dict[str, Any]], key: str) -> int | None:
    """How many infos have ``key`` true, or None when none of them reports ``key``."""
    if not any(key in i for i in infos):
        return None
    return sum(bool(i.get(key)) for i in infos)


def episode_record(
    episode: Episode,
    policy: str,
    condition: str,
    env_id: str,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON line written for one finished evaluation episode (``settings``: what the
    policy saw and how it sampled, see :func:`run_settings`).

    Besides the summary fields, ``start`` is the info of the episode's reset and ``turns``
    holds each answer: ``seen`` (the newest message the policy read), ``answer`` (its
    text), ``reward``, ``components`` (the reward components) and ``info`` (the step's
    info but the conversation), what ``textgym view`` shows."""
    infos = [t.info for t in episode.turns]
    ids = [t.completion.completion_ids for t in episode.turns]
    return {
        "policy": policy,
        "condition": condition,
        "env": env_id,
        "settings": settings,
        "index": episode.index,
        "seed": episode.seed,
        "reward": episode.total_reward,
        "metrics": dict(episode.final_info.get("episode_metrics") or {}),
        "answers": len(episode.turns),
        "format_ok": _count(infos, "format_ok"),
        "invalid_answers": _count(infos, "invalid_action"),
        "answer_tokens": sum(map(len, ids)) if all(ids) and ids else None,
        "truncated": episode.truncated,
        "start": plain(_drop(episode.start_info)),
        "turns": [
            {
                "seen": _last_user_message(t.messages),
                "answer": t.completion.text,
                "reward": t.reward,
                "components": plain(t.reward_components),
                "info": plain(_drop(t.info)),
            }
            for t in episode.turns
        ],
    }


#: Info keys a record leaves out: the conversation (each turn keeps what the model read
#: last) and the reward components (kept on their own).
_NOT_RECORDED = frozenset({"messages", "reward_components", "opponent_turns"})


def _drop(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k not in _NOT_RECORDED}


def _last_user_message(messages: Sequence[dict[str, Any]]) -> str:
    """What the model read last before answering: the newest user message."""
    users = [m.get("content", "") for m in messages if m.get("role") == "user"]
    return str(users[-1]) if users else ""


def plain(value: Any) -> Any:
    """``value`` as plain JSON data: dicts with str keys, lists, str, int, float, bool and
    None (numpy scalars become numbers, tuples lists, anything else its ``str``)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return plain(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def run_settings(view: View, temperature: float) -> dict[str, Any]:
    """What besides the policy, the env, the condition and the seeds decides an
    evaluation's episodes: the view (history, system prompt as a digest, answer budget) and
    the sampling temperature. A resume reuses only records made with the same."""
    digest = None
    if view.system_prompt is not None:
        raw = view.system_prompt.encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(raw).hexdigest()[:16]
    return {
        "history": view.history,
        "system_prompt": digest,
        "max_new_tokens": int(view.max_new_tokens),
        "temperature": float(temperature),
    }


def _record_problem(record: Any) -> str | None:
    """What makes ``record`` unusable as a finished-episode record (None: nothing)."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    for name in ("policy", "condition", "env"):
        if not isinstance(record.get(name), str):
            return f"{name!r} is not a string"
    for name in ("index", "seed", "answers"):
        value = record.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name!r} is not an integer"
    reward = record.get("reward")
    if isinstance(reward, bool) or not isinstance(reward, int | float) or reward != reward:
        return "'reward' is not a number"
    if not isinstance(record.get("metrics"), dict):
        return "'metrics' is not an object"
    return None


def resumed_records(
    out: str | Path,
    key: tuple[str, str, str],
    seeds: Sequence[int],
    settings: dict[str, Any],
) -> dict[int, dict[str, Any]]:
    """The finished episodes of ``out`` that this evaluation can reuse, by index.

    Records of other policies, conditions or envs are left alone (one file may hold many
    evaluations). Records of this one (``key``: policy, condition, env) must have been
    made with the same seeds and ``settings``, else the file is refused: reusing them
    would mix two runs.

    Raises:
        ValueError: a line is JSON but not an episode record, or the file holds episodes
            of this evaluation made with another seed or other settings; the message
            names the file and the line.
    """
    reused: dict[int, dict[str, Any]] = {}
    for number, record in enumerate(read_records(out), 1):
        problem = _record_problem(record)
        if problem is not None:
            raise ValueError(
                f"{out}: record {number} is not an evaluation episode ({problem}); "
                "remove that line, or write to another --out"
            )
        if (record["policy"], record["condition"], record["env"]) != key:
            continue
        index = record["index"]
        if not 0 <= index < len(seeds) or index in reused:
            continue
        if record["seed"] != seeds[index]:
            raise ValueError(
                f"{out} holds episodes of {key[0]} on {key[2]} ({key[1]}) played with "
                "another --seed (episode seeds differ); resume with the seed it was "
                "started with, or write to another --out"
            )
        made_with = record.get("settings")
        if made_with is not None and made_with != settings:
            changed = sorted(k for k in settings if made_with.get(k) != settings[k])
            raise ValueError(
                f"{out} holds episodes of {key[0]} on {key[2]} ({key[1]}) played with "
                f"other settings ({', '.join(changed) or 'unknown'}); resume with the "
                "settings it was started with, or write to another --out"
            )
        reused[index] = record
    return reused


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


@dataclass
class Summary:
    """Aggregate results of one policy under one condition, from episode records."""

    player: str
    condition: str
    records: list[dict[str, Any]] = field(default_factory=list)
    rates: tuple[str, ...] = ()
    """The yes/no metrics (shown as percentages)."""

    def __len__(self) -> int:
        return len(self.records)

    @property
    def mean_reward(self) -> float:
        """Mean episode reward."""
        return _mean([r["reward"] for r in self.records])

    @property
    def stderr(self) -> float:
        """Standard error of the mean episode reward (0 for fewer than two episodes)."""
        n = len(self.records)
        if n < 2:
            return 0.0
        return float(np.std([r["reward"] for r in self.records], ddof=1) / math.sqrt(n))

    def metric_names(self) -> list[str]:
        """The env's episode metrics, in the order they first appear."""
        names: dict[str, None] = {}
        for r in self.records:
            names.update(dict.fromkeys(r.get("metrics") or {}))
        return list(names)

    def metric(self, name: str) -> float:
        """Mean of an episode metric over the episodes that report it (NaN if none)."""
        return _mean([r["metrics"][name] for r in self.records if name in (r.get("metrics") or {})])

    def is_rate(self, name: str) -> bool:
        """Whether a metric is yes/no (shown as a percentage)."""
        return name in self.rates

    def rate(self, name: str) -> float:
        """A 0/1 metric as a percentage of episodes (e.g. tic-tac-toe's ``win``)."""
        return 100.0 * self.metric(name)

    def _answer_rate(self, key: str) -> float | None:
        counted = [r for r in self.records if r.get(key) is not None]
        if not counted:
            return None
        return 100.0 * sum(r[key] for r in counted) / max(sum(r["answers"] for r in counted), 1)

    @property
    def format_rate(self) -> float | None:
        """Well-formed answers, % of answers (None when the env does not report it)."""
        return self._answer_rate("format_ok")

    @property
    def invalid_rate(self) -> float | None:
        """Invalid answers, % of answers (None when the env does not report it)."""
        return self._answer_rate("invalid_answers")

    @property
    def turns(self) -> float:
        """Mean answers per episode."""
        return _mean([r["answers"] for r in self.records])

    @property
    def answer_tokens(self) -> float | None:
        """Mean tokens per answer (None for policies without token ids)."""
        counted = [r for r in self.records if r.get("answer_tokens") is not None]
        if not counted:
            return None
        return sum(r["answer_tokens"] for r in counted) / max(sum(r["answers"] for r in counted), 1)


def summary_table(summaries: Sequence[Summary]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the evaluation table: one row per summary, one column per metric.

    Yes/no metrics are shown as a percentage of episodes (``win %``), the others as their
    mean. "format %" and "invalid % answers" count answers, not
    episodes; "-" marks what the env or the policy does not report.
    """
    metrics: dict[str, bool] = {}
    for s in summaries:
        for name in s.metric_names():
            metrics[name] = metrics.get(name, True) and s.is_rate(name)
    header = ["policy", "condition", "episodes", "reward", "± s.e."]
    header += [f"{m} %" if rate else m for m, rate in metrics.items()]
    header += ["format % answers", "invalid % answers", "turns", "tokens/answer"]

    def num(value: float | None, digits: int = 1) -> str:
        return "-" if value is None or value != value else f"{value:.{digits}f}"

    rows = []
    for s in summaries:
        row = [s.player, s.condition, str(len(s)), num(s.mean_reward, 3), num(s.stderr, 3)]
        row += [num(s.rate(m)) if rate else num(s.metric(m), 2) for m, rate in metrics.items()]
        row += [num(s.format_rate), num(s.invalid_rate), num(s.turns, 2), num(s.answer_tokens)]
        rows.append(row)
    return header, rows


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The finished-episode records of a JSONL file; a torn last line is ignored."""
    records = []
    p = Path(path)
    if not p.exists():
        return records
    with p.open() as fh:
        for line in fh:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def evaluate(
    policy: str,
    condition: str = "default",
    episodes: int = 100,
    seed: int = 0,
    view: View | str = DEFAULT_ENV,
    out: str | Path | None = None,
    resume: bool = False,
    num_envs: int = 64,
    temperature: float = 0.0,
    policy_obj: Policy | None = None,
    progress: bool = False,
    base_url: str | None = None,
    device: str | None = None,
    dtype: str = "float32",
    opponent_policy: str | None = None,
    pool: EnvPool | None = None,
) -> Summary:
    """Play ``episodes`` episodes of the view's env under ``condition`` and summarize them.

    Args:
        policy: the policy's name (``reference``, ``hf:PATH``, ...; see
            :func:`textgym.policies.by_name.make_policy`), or a label when ``policy_obj``
            is given.
        condition: reset options, by the env's name for them or as ``NAME=VALUE`` pairs
            (``default``: the env as it is).
        episodes: how many; their seeds derive from ``seed``, so every policy faces the
            same episodes.
        view: the env and what the policy sees (history, system prompt, answer budget;
            see :func:`textgym.rollout.rollout`), or an env id (its default view).
        out: append one JSON line per finished episode here.
        resume: skip the episodes of this policy, condition and env already in ``out``
            (refused when they were played with another seed or other settings; see
            :func:`resumed_records`).
        device: where an ``hf:`` policy's model runs.
        dtype: the dtype an ``hf:`` policy's model is loaded in.
        opponent_policy: a policy by name (as ``policy``) that plays the env's other seat
            instead of its bot, in a two-player env; an ``hf:`` model sees its own
            recorded view (system prompt, answer budget). Its turns are batched across
            the envs (:func:`textgym.rollout.rollout`); the records and the resume key
            carry its name.
        pool: play in these envs (an :class:`~textgym.rollout.EnvPool`, e.g.
            :class:`textgym.integrations.ray.RayEnvPool` of this view) instead of envs made
            here; the episodes are the same.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if out is not None and Path(out).is_dir():
        raise SaveError(f"--out {out} is a folder; give the path of a JSONL file in it")
    view = as_view(view)
    env_id = view.env_id
    with probe_env(env_id) as env:  # one env reads both, before any work
        options = _condition_options(env, condition)
        rates = tuple(getattr(env.unwrapped, "rate_metrics", ()))
    if policy_obj is None:
        policy_obj = make_policy(
            policy,
            env_id,
            seed,
            temperature,
            view.max_new_tokens,
            base_url,
            device=device,
            dtype=dtype,
        )
    opponent = None
    if opponent_policy is not None:
        opponent = opponent_policy_obj(opponent_policy, env_id, seed, temperature, view)
    summary = Summary(policy, condition, rates=rates)
    seeds = episode_seeds(seed, episodes)
    settings = run_settings(view, temperature)
    if opponent_policy is not None:
        settings["opponent_policy"] = opponent_policy
    done: dict[int, dict[str, Any]] = {}
    if out is not None and resume:
        done = resumed_records(out, (policy, condition, env_id), seeds, settings)
        summary.records.extend(done.values())
    todo = [i for i in range(episodes) if i not in done]
    if out is not None:
        check_writable(Path(out).parent, "--out")
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        repair_jsonl(out)
    fh = open(out, "a") if out is not None else None  # noqa: SIM115

    def save(episode: Episode) -> None:
        episode.index = todo[episode.index]
        record = episode_record(episode, policy, condition, env_id, settings)
        if fh is not None:
            try:
                fh.write(json.dumps(record) + "\n")
                fh.flush()
            except OSError as exc:
                raise SaveError(
                    f"cannot write {out}: {describe_os_error(exc)}; the {len(summary)} "
                    "episodes finished before are in it (rerun with --resume)"
                ) from None
        summary.records.append(record)

    try:
        rollout(
            policy_obj,
            view,
            [seeds[i] for i in todo],
            options=[options or None] * len(todo),
            num_envs=num_envs,
            on_episode=save,
            progress=progress,
            opponent=opponent,
            pool=pool,
        )
    finally:
        if fh is not None:
            fh.close()
    summary.records.sort(key=lambda r: r["index"])
    return summary


def opponent_policy_obj(
    name: str, env_id: str, seed: int, temperature: float, view: View
) -> Policy:
    """The opponent policy ``name`` for ``env_id``: seeded apart from the player (seed + 1),
    and an ``hf:`` model in its own recorded view (its system prompt replaces the one the
    env offers; its answer budget is its own)."""
    check_takes_opponent(env_id)
    budget, system = view.max_new_tokens, None
    if name.startswith("hf:"):
        own = load_view(name[3:])
        if own is not None and own.env_id != env_id:
            raise ValueError(
                f"the opponent {name} was trained on {own.env_id}; in {env_id} it would "
                f"read what it never saw: play it on {own.env_id}"
            )
        if own is not None:
            budget, system = own.max_new_tokens, own.system_prompt
    policy = make_policy(name, env_id, seed + 1, temperature, budget)
    return policy if system is None else SystemPromptPolicy(policy, system)


class SystemPromptPolicy:
    """A policy that reads ``system_prompt`` instead of the system message it is given
    ("" drops it): an opponent model sees the view it was trained with."""

    def __init__(self, policy: Policy, system_prompt: str) -> None:
        self.policy = policy
        self.system_prompt = system_prompt

    def complete(self, conversations: Sequence[Conversation]) -> list[Completion]:
        """The inner policy's answers to the conversations with the system message replaced."""
        head = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return self.policy.complete(
            [head + [m for m in c if m.get("role") != "system"] for c in conversations]
        )


__all__ = [
    "Summary",
    "SystemPromptPolicy",
    "condition_options",
    "episode_record",
    "episode_seeds",
    "evaluate",
    "evaluation_conditions",
    "evaluation_note",
    "format_table",
    "markdown_table",
    "opponent_policy_obj",
    "plain",
    "rate_metrics",
    "read_records",
    "resumed_records",
    "run_settings",
    "summary_table",
]
