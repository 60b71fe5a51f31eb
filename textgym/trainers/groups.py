"""Rollout groups, group-relative advantages and stratified opponent sampling.

A training batch is made of groups: G rollouts of the same episode seed and options, so
under :class:`~textgym.wrappers.PerTurnSeeding` they face the same opponent dice and the
differences in their rewards come from the policy. The advantage of a rollout is its reward
minus its group's mean. Dividing by the group's standard deviation is optional and off by
default: it inflates the tiny reward differences of nearly solved groups and biases
updates toward them (Liu et al., 2025, "Understanding R1-Zero-Like Training").

Opponent skill is stratified: the ``random_move_prob`` range is cut into equal buckets and
every batch holds an equal share of groups from each bucket (one more for some buckets
when the count does not divide), so no batch is all strong or all weak opponents.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np


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


def stratified_probs(
    n: int, low: float, high: float, buckets: int, rng: np.random.Generator
) -> list[float]:
    """``n`` opponent ``random_move_prob`` values with an equal share from each bucket.

    ``[low, high]`` is cut into ``buckets`` equal intervals; bucket ``k`` gets ``n // buckets``
    values (the remainder goes to distinct random buckets), each uniform within its bucket.
    The result is shuffled.
    """
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= high <= 1, got low={low!r}, high={high!r}")
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    edges = np.linspace(low, high, buckets + 1)
    counts = np.full(buckets, n // buckets)
    counts[rng.permutation(buckets)[: n % buckets]] += 1
    values = [
        float(rng.uniform(edges[k], edges[k + 1])) if high > low else float(low)
        for k in range(buckets)
        for _ in range(counts[k])
    ]
    return [values[i] for i in rng.permutation(len(values))]


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
    prob_range: tuple[float, float],
    buckets: int = 4,
) -> list[GroupPlan]:
    """The groups of one training batch: ``games // group_size`` seeds, stratified opponents."""
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
    probs = stratified_probs(n_groups, prob_range[0], prob_range[1], buckets, rng)
    seeds = rng.integers(2**31, size=n_groups)
    return [GroupPlan(g, int(seeds[g]), {"random_move_prob": probs[g]}) for g in range(n_groups)]
