"""Rollout groups, group-relative advantages and stratified opponent sampling.

A training batch is made of groups: G rollouts of the same episode seed and options, so
under :class:`~textgym.wrappers.PerTurnSeeding` they face the same opponent dice and the
differences in their rewards come from the policy. The advantage of a rollout is its reward
minus its group's mean. Dividing by the group's standard deviation is optional and off by
default: it inflates the tiny reward differences of nearly solved groups and biases
updates toward them (Liu et al., 2025, "Understanding R1-Zero-Like Training").

What varies between episodes is stratified: each curriculum option the env declares
(:meth:`textgym.core.TextEnv.curriculum_options`: tic-tac-toe's opponent skill, a string
length, a number of steps) has its range cut into equal buckets, and every batch holds an
equal share of groups from each bucket of each option (one more for some buckets when the
count does not divide), so no batch is all hard or all easy episodes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from textgym.envs import probe_env


def group_advantages(
    rewards: Sequence[float],
    groups: Sequence[Hashable],
    scale: Literal["none", "std"] = "none",
    eps: float = 1e-6,
) -> list[float]:
    """Reward minus the mean reward of the rollout's group (÷ group std when ``scale="std"``)."""
    if len(rewards) != len(groups):
        raise ValueError(f"{len(rewards)} rewards for {len(groups)} group labels")
    if scale not in ("none", "std"):
        raise ValueError(f"scale must be 'none' or 'std', got {scale!r}")
    members: dict[Hashable, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    out = [0.0] * len(rewards)
    for idx in members.values():
        values = np.array([rewards[i] for i in idx], dtype=np.float64)
        centered = values - values.mean()
        if scale == "std":
            centered = centered / (values.std() + eps)
        for i, a in zip(idx, centered, strict=True):
            out[i] = float(a)
    return out


def share_of_groups_with_variance(rewards: Sequence[float], groups: Sequence[Hashable]) -> float:
    """Fraction of groups whose rewards are not all equal (only those carry a gradient)."""
    values: dict[Hashable, set[float]] = defaultdict(set)
    for r, g in zip(rewards, groups, strict=True):
        values[g].add(round(float(r), 9))
    return sum(len(v) > 1 for v in values.values()) / max(len(values), 1)


def stratified_values(
    n: int,
    low: float,
    high: float,
    buckets: int,
    rng: np.random.Generator,
    integer: bool = False,
) -> list[float]:
    """``n`` values of one option with an equal share from each bucket of ``[low, high]``.

    ``[low, high]`` is cut into ``buckets`` equal intervals; bucket ``k`` gets ``n // buckets``
    values (the remainder goes to distinct random buckets), each uniform within its bucket.
    The result is shuffled. With ``integer``, the interval is ``[low, high + 1)`` and values
    are rounded down, so each whole number in the range is about equally likely.
    """
    if not low <= high:
        raise ValueError(f"need low <= high, got low={low!r}, high={high!r}")
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    top = high + 1 if integer else high
    edges = np.linspace(low, top, buckets + 1)
    counts = np.full(buckets, n // buckets)
    counts[rng.permutation(buckets)[: n % buckets]] += 1
    values = [
        float(rng.uniform(edges[k], edges[k + 1])) if top > low else float(low)
        for k in range(buckets)
        for _ in range(counts[k])
    ]
    if integer:
        values = [float(min(int(np.floor(v)), int(high))) for v in values]
    return [values[i] for i in rng.permutation(len(values))]


#: A curriculum: option name -> (low, high, whole numbers only).
Curriculum = Mapping[str, tuple[float, float, bool]]


@dataclass(frozen=True)
class GroupPlan:
    """One group of a batch: G rollouts of this seed with these reset options."""

    group: int
    seed: int
    options: dict[str, Any]


def plan_batch(
    step_seed: int | Sequence[int],
    games: int,
    group_size: int,
    curriculum: Curriculum | None = None,
    buckets: int = 4,
) -> list[GroupPlan]:
    """The groups of one training batch: ``games // group_size`` seeds, each with reset
    options stratified over every option of ``curriculum`` (none: no options)."""
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2 (advantages need a group), got {group_size}")
    if games < group_size or games % group_size:
        raise ValueError(
            f"games ({games}) must be a positive multiple of group_size ({group_size})"
        )
    # one flat entropy list: numpy >= 2.5 refuses nested seed sequences
    entropy = [step_seed] if isinstance(step_seed, int) else list(step_seed)
    rng = np.random.default_rng([*(int(x) for x in entropy), 0x7E47])
    n_groups = games // group_size
    columns: dict[str, list[Any]] = {}
    for name, (low, high, integer) in (curriculum or {}).items():
        values = stratified_values(n_groups, low, high, buckets, rng, integer)
        columns[name] = [int(v) for v in values] if integer else values
    seeds = rng.integers(2**31, size=n_groups)
    return [
        GroupPlan(g, int(seeds[g]), {name: column[g] for name, column in columns.items()})
        for g in range(n_groups)
    ]


def resolve_curriculum(
    env_id: str,
    wanted: dict[str, tuple[float, float]] | None,
    replay_options: dict[str, Any] | None = None,
) -> Curriculum:
    """The curriculum of a run, checked against the options ``env_id`` declares.

    Also checks ``replay_options`` with a test reset. An unknown option or a range outside
    the declared one is a ``ValueError`` naming the value and the choices.
    """
    with probe_env(env_id) as env:
        declared = env.unwrapped.curriculum_options()  # type: ignore[attr-defined]
        if replay_options:
            env.reset(seed=0, options=replay_options)
    if wanted is None:
        return {k: (r.low, r.high, r.integer) for k, r in declared.items()}
    out: dict[str, tuple[float, float, bool]] = {}
    for name, bounds in wanted.items():
        if name not in declared:
            choices = ", ".join(declared) if declared else "none"
            raise ValueError(f"{env_id} has no curriculum option {name!r}; its options: {choices}")
        low, high = (float(b) for b in bounds)
        spec = declared[name]
        if not spec.low <= low <= high <= spec.high:
            raise ValueError(
                f"curriculum {name}={low:g}:{high:g} must lie within "
                f"[{spec.low:g}, {spec.high:g}] with low <= high"
            )
        out[name] = (low, high, spec.integer)
    return out
