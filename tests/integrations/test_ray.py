"""The Ray env pool on a local 2-CPU cluster: the episodes played in-process, batched
calls, a killed actor replayed without loss, and bad settings refused at once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

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
    with socket.socket() as free:  # a port nothing listens on: refused in well under 5 s
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(ValueError, match=f"cannot reach Ray at 127.0.0.1:{port}: "):
        RayEnvPool(VIEW, actors=1, address=f"127.0.0.1:{port}")
    with pytest.raises(ValueError, match="host:port, ray://host:port or auto"):
        RayEnvPool(VIEW, actors=1, address="localhost")


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


def test_eval_reaches_a_cluster_by_its_address(pool) -> None:
    """Another process joins the running cluster by ``--ray 127.0.0.1:PORT`` (its token
    comes with the environment Ray set here) and prints the table played in-process."""
    import ray

    from textgym.cli import main

    port = ray.get_runtime_context().gcs_address.rpartition(":")[2]
    argv = ["eval", "--env", VIEW.env_id, "--policy", "minimax", "--episodes", "8", "--quiet"]
    cli = [sys.executable, "-c", "from textgym.cli import main; raise SystemExit(main())"]
    done = subprocess.run(
        [*cli, *argv, "--ray", f"127.0.0.1:{port}", "--ray-actors", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    import contextlib
    import io

    here = io.StringIO()
    with contextlib.redirect_stdout(here):
        assert main(argv) == 0
    assert done.stdout == here.getvalue()


def _metrics(out):
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    clock = ("time/elapsed_s", "perf/tokens_per_s")
    return [{k: v for k, v in r.items() if k not in clock} for r in lines]


def test_train_rl_with_ray_is_the_run_played_here(
    pool, warm_model_for, tmp_path, capsys, monkeypatch
) -> None:
    """``textgym train rl --ray``: the episodes, evaluations and weights of the run played
    in-process; an opponent is refused (the pool plays one seat)."""
    from safetensors.torch import load_file

    from textgym.cli import main
    from textgym.integrations.ray import RayEnvPool

    calls = []
    step = RayEnvPool.step
    monkeypatch.setattr(
        RayEnvPool, "step", lambda self, items: calls.append(1) or step(self, items)
    )

    warm = warm_model_for(VIEW)
    argv = ["train", "rl", "--model", str(warm), "--steps", "2", "--quiet"]
    small = ["--games-per-batch", "8", "--group-size", "4", "--num-envs", "8"]
    evals = ["--eval-every", "2", "--eval-games", "8"]
    for name, extra in (("here", []), ("ray", ["--ray", "--ray-actors", "2"])):
        assert main([*argv, "--out", str(tmp_path / name), *small, *evals, *extra]) == 0
    assert calls  # the second run stepped its envs in the actors
    assert _metrics(tmp_path / "ray") == _metrics(tmp_path / "here")
    assert "eval/optimal/loss" in _metrics(tmp_path / "ray")[-1]
    here = load_file(tmp_path / "here" / "checkpoint" / "model.safetensors")
    there = load_file(tmp_path / "ray" / "checkpoint" / "model.safetensors")
    assert here.keys() == there.keys()
    assert all((here[k] == there[k]).all() for k in here)
    capsys.readouterr()
    out = str(tmp_path / "self")
    assert main([*argv, "--out", out, "--ray", "--opponent", "self"]) == 2
    assert "cannot take --opponent" in capsys.readouterr().err
    assert not (tmp_path / "self").exists()
