"""The Ray env pool on a local 2-CPU cluster: the episodes played in-process, batched
calls, a killed actor replayed without loss, and bad settings refused at once."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from textgym.policies.by_name import make_policy
from textgym.rollout import rollout
from textgym.view import View

pytestmark = pytest.mark.ray

VIEW = View("TextTicTacToe-LLM-Letters-v0", system_prompt="", history="last")


class Counting:
    """A deterministic policy (its answers are a function of the conversation only, so
    replays and batching cannot change them) that counts calls; ``hook`` runs before the
    n-th call."""

    def __init__(self, hook=None, at: int = -1) -> None:
        self.inner = make_policy("minimax", VIEW.env_id, seed=0)
        self.calls, self.hook, self.at = 0, hook, at

    def complete(self, conversations):
        self.calls += 1
        if self.calls == self.at and self.hook is not None:
            self.hook()
        return self.inner.complete(conversations)


def _texts(episodes):
    return [
        (e.index, e.seed, [t.completion.text for t in e.turns], e.total_reward) for e in episodes
    ]


@pytest.fixture(scope="module")
def pool():
    """A pool of 2 actors on a local cluster of 4 logical CPUs (2 left for other pools)."""
    import ray

    from textgym.integrations.ray import RayEnvPool

    ray.init(num_cpus=4, include_dashboard=False, logging_level="ERROR")
    try:
        with RayEnvPool(VIEW, size=8, actors=2) as made:
            yield made
    finally:
        ray.shutdown()


def test_the_pool_plays_the_in_process_episodes_in_batches(pool) -> None:
    seeds = list(range(20))
    here = rollout(Counting(), VIEW, seeds, num_envs=8)
    there = rollout(Counting(), VIEW, seeds, pool=pool)
    assert _texts(there) == _texts(here)
    assert [e.start_info.get("board") for e in there] == [e.start_info.get("board") for e in here]


def test_a_killed_actor_is_replaced_and_its_episodes_replayed(pool) -> None:
    seeds = list(range(24))
    here = rollout(Counting(), VIEW, seeds, num_envs=8)
    policy = Counting(hook=lambda: pool.kill(1), at=3)  # mid-run, episodes under way
    before = pool.restarts
    there = rollout(policy, VIEW, seeds, pool=pool)
    assert pool.restarts == before + 1
    assert _texts(there) == _texts(here)  # none lost, none counted twice
    assert sorted(e.index for e in there) == list(range(24))


def test_bad_settings_are_refused_before_any_episode(pool) -> None:
    from textgym.integrations.ray import RayEnvPool

    with pytest.raises(ValueError, match="2 free CPUs for 5 actors"):
        RayEnvPool(VIEW, actors=5)
    with pytest.raises(ValueError, match="cannot make no_such_module:NoEnv-v0"):
        RayEnvPool("no_such_module:NoEnv-v0", actors=1, timeout=60)
    with pytest.raises(ValueError, match="the pool plays"):
        rollout(Counting(), "TextReverse-v0", [0], pool=pool)


def test_eval_with_ray_prints_the_in_process_table(pool, capsys) -> None:
    """``textgym eval --ray`` (here on the running local cluster) gives the same table."""
    from textgym.cli import main

    argv = ["eval", "--env", VIEW.env_id, "--policy", "minimax,random", "--episodes", "24"]
    assert main([*argv, "--num-envs", "8"]) == 0
    here = capsys.readouterr().out
    assert main([*argv, "--num-envs", "8", "--ray", "--ray-actors", "2"]) == 0
    assert capsys.readouterr().out == here
    assert main([*argv, "--ray", "--opponent-policy", "random"]) == 2
    assert "cannot take --opponent-policy" in capsys.readouterr().err
