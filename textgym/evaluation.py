"""Evaluation of players against tic-tac-toe opponents: win/draw/loss tables.

Every player faces exactly the same games: episode seeds are derived from one evaluation
seed, and the env's opponent randomness comes from those seeds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np

import textgym  # noqa: F401  (registers the envs)
from textgym.policies.base import Policy
from textgym.policies.scripted import (
    ScriptedPolicy,
    perfect_policy,
    random_policy,
    teacher_policy,
)
from textgym.rollout import Episode, rollout

SCRIPTED_PLAYERS = ("minimax", "random", "teacher:Q", "hf:PATH", "openai:MODEL")
OPPONENTS = ("optimal", "random", "P (random-move probability in [0, 1])")


def episode_seeds(seed: int, n: int) -> list[int]:
    """``n`` distinct-looking episode seeds derived from one evaluation seed."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n, dtype=np.uint32)]


def parse_player(spec: str, template: str = "<move>{}</move>", seed: int = 0) -> ScriptedPolicy:
    """A scripted player from its name: ``minimax``, ``random`` or ``teacher:Q``.

    ``teacher:Q`` plays an optimal move with probability Q and a random one otherwise.
    """
    if spec == "minimax":
        return perfect_policy(template, seed)
    if spec == "random":
        return random_policy(template, seed)
    if spec.startswith("teacher:"):
        try:
            q = float(spec.split(":", 1)[1])
        except ValueError:
            q = float("nan")
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"teacher:Q needs Q in [0, 1], got {spec!r}")
        return teacher_policy(q, template, seed)
    raise ValueError(f"unknown player {spec!r}; choose one of: {', '.join(SCRIPTED_PLAYERS)}")


def parse_opponent(spec: str) -> float:
    """The opponent's ``random_move_prob`` from ``optimal``, ``random`` or a number in [0, 1]."""
    if spec == "optimal":
        return 0.0
    if spec == "random":
        return 1.0
    try:
        p = float(spec)
    except ValueError:
        p = float("nan")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"unknown opponent {spec!r}; choose one of: {', '.join(OPPONENTS)}")
    return p


def make_policy(
    spec: str,
    template: str = "<move>{}</move>",
    seed: int = 0,
    temperature: float = 0.0,
    max_new_tokens: int = 32,
    base_url: str | None = None,
) -> Policy:
    """A policy from its name: ``minimax``, ``random``, ``teacher:Q``, ``hf:PATH`` or
    ``openai:MODEL`` (served at ``base_url``)."""
    if spec.startswith("openai:"):
        from textgym.policies.openai_policy import OpenAIPolicy

        return OpenAIPolicy(
            spec[7:],
            base_url=base_url,
            temperature=temperature,
            max_tokens=max_new_tokens,
            seed=seed,
        )
    if spec.startswith("hf:"):
        try:
            from textgym.policies.hf import HFPolicy
        except ImportError:
            raise ValueError(
                "hf: policies need torch and transformers: pip install 'textgym[hf]'"
            ) from None

        return HFPolicy(spec[3:], temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    return parse_player(spec, template, seed)


def answer_template(env_id: str) -> str:
    """How a scripted player must phrase a move in this env (its FormatCheck tag, if any)."""
    env = gym.make(env_id)
    try:
        tag = env.get_wrapper_attr("tag")
    except AttributeError:
        return "{}"
    finally:
        env.close()
    return f"<{tag}>{{}}</{tag}>"


def episode_record(episode: Episode, policy: str, opponent: str, env_id: str) -> dict[str, Any]:
    """The JSON line written for one finished evaluation episode."""
    infos = [t.info for t in episode.turns]
    return {
        "policy": policy,
        "opponent": opponent,
        "env": env_id,
        "index": episode.index,
        "seed": episode.seed,
        "result": episode.final_info.get("result"),
        "reward": episode.total_reward,
        "answers": len(episode.turns),
        "format_ok": sum(bool(i.get("format_ok", True)) for i in infos),
        "invalid_answers": sum(bool(i.get("illegal_action")) for i in infos),
        "truncated": episode.truncated,
        "answers_text": [t.completion.text for t in episode.turns],
    }


@dataclass
class Summary:
    """Aggregate results of one policy against one opponent, from episode records."""

    player: str
    opponent: str
    records: list[dict[str, Any]] = field(default_factory=list)

    def rate(self, result: str) -> float:
        """Percentage of games with this result (``win``, ``draw`` or ``loss``)."""
        return 100.0 * sum(r["result"] == result for r in self.records) / max(len(self), 1)

    def __len__(self) -> int:
        return len(self.records)

    def row(self) -> list[str]:
        """Table row: policy, opponent, games, W/D/L %, format %, invalid %, reward, turns."""
        n = max(len(self), 1)
        answers = max(sum(r["answers"] for r in self.records), 1)
        return [
            self.player,
            self.opponent,
            str(len(self)),
            f"{self.rate('win'):.1f}",
            f"{self.rate('draw'):.1f}",
            f"{self.rate('loss'):.1f}",
            f"{100.0 * sum(r['format_ok'] for r in self.records) / answers:.1f}",
            f"{100.0 * sum(r['invalid_answers'] > 0 for r in self.records) / n:.1f}",
            f"{sum(r['reward'] for r in self.records) / n:.3f}",
            f"{sum(r['answers'] for r in self.records) / n:.2f}",
        ]


HEADER = [
    "policy",
    "opponent",
    "games",
    "win%",
    "draw%",
    "loss%",
    "format%",
    "invalid%",
    "reward",
    "turns",
]


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
    opponent: str,
    episodes: int = 100,
    seed: int = 0,
    env_id: str = "TextTicTacToe-LLM-v0",
    out: str | Path | None = None,
    resume: bool = False,
    num_envs: int = 64,
    temperature: float = 0.0,
    max_new_tokens: int = 32,
    policy_obj: Policy | None = None,
    progress: bool = False,
    base_url: str | None = None,
    history: Literal["full", "last"] = "full",
    system_prompt: str | None = None,
) -> Summary:
    """Play ``episodes`` games of ``env_id`` against ``opponent`` and summarize them.

    Episode seeds come from ``seed``, so every policy faces exactly the same games. With
    ``out``, one JSON line per finished episode is appended and flushed as it finishes;
    with ``resume``, episodes already in ``out`` for this policy and opponent are skipped.
    ``history`` and ``system_prompt`` set what the policy sees (see
    :func:`textgym.rollout.rollout`).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if env_id not in gym.registry:
        known = ", ".join(sorted(e for e in gym.registry if e.startswith("Text")))
        raise ValueError(f"unknown env {env_id!r}; choose one of: {known}")
    p = parse_opponent(opponent)
    if policy_obj is None:
        policy_obj = make_policy(
            policy, answer_template(env_id), seed, temperature, max_new_tokens, base_url
        )
    summary = Summary(policy, opponent)
    done: set[int] = set()
    if out is not None and resume:
        for r in read_records(out):
            key = (r.get("policy"), r.get("opponent"), r.get("env"))
            index = r.get("index", -1)
            if key == (policy, opponent, env_id) and index not in done and 0 <= index < episodes:
                done.add(index)
                summary.records.append(r)

    seeds = episode_seeds(seed, episodes)
    todo = [i for i in range(episodes) if i not in done]
    fh = open(out, "a") if out is not None else None  # noqa: SIM115

    def save(episode: Episode) -> None:
        episode.index = todo[episode.index]
        record = episode_record(episode, policy, opponent, env_id)
        summary.records.append(record)
        if fh is not None:
            fh.write(json.dumps(record) + "\n")
            fh.flush()

    try:
        rollout(
            policy_obj,
            lambda: gym.make(env_id, random_move_prob=p),
            [seeds[i] for i in todo],
            num_envs=num_envs,
            on_episode=save,
            progress=progress,
            history=history,
            system_prompt=system_prompt,
        )
    finally:
        if fh is not None:
            fh.close()
    summary.records.sort(key=lambda r: r["index"])
    return summary


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> str:
    """A plain-text table with aligned columns."""
    table = [list(header), *map(list, rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(
            c.rjust(w) if i > 1 else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
