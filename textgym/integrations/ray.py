"""A pool of envs in Ray actors (``pip install 'textgym[ray]'``): rollouts and evaluations
whose envs live in other processes or on other machines, while the policy stays where it
is (a local model in the driver, or a server).

Each actor holds a shard of the pool's slots and steps them in batches: one remote call
per actor per round, never one per env step. :func:`textgym.rollout.rollout` takes the
pool (``pool=``), and so do :func:`textgym.evaluation.evaluate` and ``textgym eval
--ray [ADDRESS]``. The episodes are the ones played in-process for the same seeds.

- **Workers find the envs**: textgym's own are registered when the actor imports
  textgym; an env of your own package is named ``module:EnvId`` (Gymnasium's form), or
  its module is listed in ``imports``. Each actor makes one env when it starts, so an env
  the workers cannot import is one error before any episode.
- **Checked before anything runs**: an address nothing answers at (one TCP connect
  within 5 s: ``ray.init`` alone retries for minutes), a cluster with fewer CPUs than
  the actors ask for (Ray would wait silently), an env id the workers cannot make.
- **A dead actor loses nothing**: the pool starts a fresh one for its shard and reports
  its slots as lost; the rollout replays their episodes from their seeds and the answers
  already given (the envs are deterministic), then goes on. No episode is lost or
  counted twice.
"""

from __future__ import annotations

import importlib
import socket
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

import textgym  # noqa: F401  (a worker that unpickles the actor registers the envs)
from textgym.rollout import clean_info
from textgym.view import View, as_view
from textgym.wrappers.chat import ChatHistory


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError("the Ray env pool needs ray: pip install 'textgym[ray]'") from None
    return ray


_AUTH_HINT = (
    " (a cluster started with token authentication, `ray start`'s default in Ray 2.60, "
    "needs RAY_AUTH_MODE=token here and its token: RAY_AUTH_TOKEN or ~/.ray/auth_token)"
)


def check_address(address: str, timeout: float = 5.0) -> None:
    """Refuse a Ray address nothing answers at (``ray.init`` would retry for minutes).

    ``host:port`` (a cluster's GCS, ``ray start --head``'s port 6379) and
    ``ray://host:port`` (Ray Client, port 10001) get one TCP connect within ``timeout``
    seconds; ``auto`` (the cluster this machine runs) is left to Ray.
    """
    if address == "auto":
        return
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not host or not port.isdigit():
        raise ValueError(f"a Ray address is host:port, ray://host:port or auto, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ValueError(
            f"cannot reach Ray at {address}: {why} (is `ray start --head` running there?)"
        ) from None


class _Shard:
    """The envs of some slots, in one actor (the class is made remote in the pool)."""

    def __init__(self, env_id: str, system_prompt: str | None, imports: Sequence[str]) -> None:
        for module in imports:
            importlib.import_module(module)
        self._make = lambda: ChatHistory(gym.make(env_id), system_prompt=system_prompt)
        self.envs: dict[int, Any] = {}
        self._make().close()  # an env the worker cannot make fails here, at start

    def ready(self) -> bool:
        """True once the actor is up (its env id resolved)."""
        return True

    def reset(self, items: list[tuple[int, int, dict[str, Any] | None]]) -> list[tuple]:
        out = []
        for slot, seed, options in items:
            if slot not in self.envs:
                self.envs[slot] = self._make()
            obs, info = self.envs[slot].reset(seed=seed, options=options)
            out.append((slot, (obs, clean_info(info)), list(self.envs[slot].messages)))
        return out

    def step(self, items: list[tuple[int, str]]) -> list[tuple]:
        out = []
        for slot, action in items:
            obs, reward, terminated, truncated, info = self.envs[slot].step(action)
            result = (obs, float(reward), bool(terminated), bool(truncated), clean_info(info))
            out.append((slot, result, list(self.envs[slot].messages)))
        return out


class RayEnvPool:
    """``size`` env slots of ``env`` (a view or an env id) in ``actors`` Ray actors.

    Args:
        env: the view the rollout plays (its env id and system prompt make the envs).
        size: env slots (episodes at once); slot ``s`` lives in actor ``s % actors``.
        actors: Ray actors, one CPU each.
        address: a Ray cluster's address; None starts a local one (``num_cpus=actors``).
            A Ray connection this process already has is used as it is.
        imports: modules each worker imports first (your env's package).
        timeout: seconds to wait for the cluster and for the actors to start.
    """

    def __init__(
        self,
        env: View | str,
        size: int = 64,
        actors: int = 2,
        address: str | None = None,
        imports: Sequence[str] = (),
        timeout: float = 30.0,
    ) -> None:
        ray = _ray()
        if size < 1 or actors < 1:
            raise ValueError(f"size and actors must be >= 1, got {size} and {actors}")
        self.view = as_view(env)
        self.size, self.actors = size, actors
        self._args = (self.view.env_id, self.view.system_prompt, tuple(imports))
        self._timeout = timeout
        self._started = False
        if address is not None:
            check_address(address, min(timeout, 5.0))
        if not ray.is_initialized():
            try:
                if address is None:
                    ray.init(num_cpus=actors, include_dashboard=False, logging_level="ERROR")
                else:
                    ray.init(address=address, logging_level="ERROR")
            except Exception as exc:  # ray raises many kinds here; one line for the user
                where = "a local cluster" if address is None else address
                hint = "" if address is None else _AUTH_HINT
                raise ValueError(f"cannot start or reach Ray at {where}: {exc}{hint}") from None
            self._started = True
        deadline = time.monotonic() + 5.0  # actors just killed give their CPUs back late
        while (cpus := float(ray.available_resources().get("CPU", 0))) < actors:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if cpus < actors:
            raise ValueError(
                f"the Ray cluster has {cpus:g} free CPUs for {actors} actors of one CPU each: "
                "Ray would wait for CPUs forever; ask for fewer actors"
            )
        self._remote = ray.remote(num_cpus=1, max_restarts=0)(_Shard)
        self._shards = [self._spawn() for _ in range(actors)]
        self._lost: set[int] = set()
        self.restarts = 0
        """Actors found dead and replaced so far."""

    def _spawn(self) -> Any:
        ray = _ray()
        shard = self._remote.remote(*self._args)
        try:
            ray.get(shard.ready.remote(), timeout=self._timeout)
        except ray.exceptions.GetTimeoutError:
            raise ValueError(
                f"a Ray actor did not start within {self._timeout:g} s (busy cluster?)"
            ) from None
        except ray.exceptions.RayActorError as exc:
            cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
            raise ValueError(
                f"Ray workers cannot make {self.view.env_id}: {cause} (name your env "
                "module:EnvId, or list its module in imports)"
            ) from None
        return shard

    def _call(self, method: str, items: Sequence[tuple]) -> list[tuple]:
        ray = _ray()
        by_shard: dict[int, list[tuple]] = defaultdict(list)
        for item in items:
            by_shard[item[0] % self.actors].append(item)
        pending = {k: getattr(self._shards[k], method).remote(v) for k, v in by_shard.items()}
        out: list[tuple] = []
        for k, ref in pending.items():
            try:
                out += ray.get(ref)
            except ray.exceptions.RayActorError:
                self._shards[k] = self._spawn()  # a fresh actor: its slots start empty
                self.restarts += 1
                self._lost |= {s for s in range(self.size) if s % self.actors == k}
        return sorted(out, key=lambda item: item[0])

    def reset(self, items: Sequence[tuple[int, int, dict[str, Any] | None]]) -> list[tuple]:
        """Reset each ``(slot, seed, options)``; the slots of a dead actor are left out
        and reported by :meth:`lost`."""
        return self._call("reset", items)

    def step(self, items: Sequence[tuple[int, str]]) -> list[tuple]:
        """Step each ``(slot, action)``; the slots of a dead actor are left out and
        reported by :meth:`lost`."""
        return self._call("step", items)

    def lost(self) -> set[int]:
        """Slots whose actor died (and was replaced) since the last call."""
        lost, self._lost = self._lost, set()
        return lost

    def kill(self, actor: int) -> None:
        """Kill one actor (to test what a crash does)."""
        _ray().kill(self._shards[actor], no_restart=True)

    def close(self) -> None:
        """Stop the actors (and the local cluster this pool started)."""
        ray = _ray()
        for shard in self._shards:
            ray.kill(shard)
        self._shards = []
        if self._started:
            ray.shutdown()

    def __enter__(self) -> RayEnvPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["RayEnvPool", "check_address"]
