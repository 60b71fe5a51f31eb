"""Play many episodes of a text env with one policy, in lockstep batches.

Each round gathers the conversation of every active env, makes **one** batched policy call,
steps every env with its answer, and records finished episodes; a finished slot starts the
next seed at once. Episodes keep, per turn, the conversation the policy saw, the exact
completion (token ids and log-probs when the policy has them), the reward and its
components.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym

from textgym.core import Completion, Conversation, Policy
from textgym.envs import probe_env
from textgym.policies.by_name import scripted_policy
from textgym.utils.progress import progress_bar
from textgym.view import View, as_view
from textgym.wrappers.chat import ChatHistory

_INFO_DROP = frozenset({"messages"})


@dataclass
class Turn:
    """One answer of the policy and what the env made of it."""

    messages: Conversation
    completion: Completion
    reward: float
    reward_components: dict[str, float]
    info: dict[str, Any]


@dataclass
class Episode:
    """A finished episode."""

    index: int
    """Position of the episode in the requested seed list."""
    seed: int
    options: dict[str, Any] | None
    turns: list[Turn] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False

    @property
    def total_reward(self) -> float:
        """Sum of the rewards of all turns."""
        return sum(t.reward for t in self.turns)

    @property
    def final_info(self) -> dict[str, Any]:
        """The info of the last step."""
        return self.turns[-1].info if self.turns else {}

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable record of the episode."""
        return asdict(self) | {"total_reward": self.total_reward}


def _clean_info(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k not in _INFO_DROP}


class OpponentBatcher:
    """An opponent policy shared by the envs of one rollout, whose turns are batched.

    Each env holds this object as its opponent (any env that takes a policy opponent:
    :class:`~textgym.envs.base.seat_env.SeatEnv`, the tic-tac-toe envs). The rollout steps
    its envs in threads; an env whose opponent must answer blocks in :meth:`complete`,
    and once every stepping env is blocked or done, the rollout answers all of them with
    **one** call of the real policy, in the order of the envs (so the answers do not
    depend on thread timing). Called outside a rollout's steps, it calls the policy
    directly.
    """

    def __init__(self, policy: Policy) -> None:
        if not callable(getattr(policy, "complete", None)):
            raise ValueError(f"the opponent must be a policy with complete(), got {policy!r}")
        self.policy = policy
        self.calls = 0
        """Calls of the real policy (one per round of blocked envs)."""
        self._cond = threading.Condition()
        self._local = threading.local()
        self._pending: list[tuple[int, int, Conversation, list[Completion]]] = []
        self._running = 0

    def __deepcopy__(self, memo: dict) -> OpponentBatcher:
        """Itself: the envs share one batcher (``gym.make`` copies its keyword arguments)."""
        return self

    def complete(self, conversations: Sequence[Conversation]) -> list[Completion]:
        """The policy's answers: batched with the other envs' when inside a step."""
        slot = getattr(self._local, "slot", None)
        if slot is None:
            self.calls += 1
            return self.policy.complete(conversations)
        box: list[Completion] = []
        with self._cond:
            for k, conversation in enumerate(conversations):
                self._pending.append((slot, k, conversation, box))
            self._running -= 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: len(box) == len(conversations))
        return box

    def run(self, jobs: Sequence[tuple[int, Callable[[], Any]]]) -> list[Any]:
        """Run ``jobs`` (slot, function) in threads, answering their opponent requests in
        batches; return their results in order (the first exception is raised)."""
        results: list[Any] = [None] * len(jobs)
        errors: list[BaseException] = []

        def work(i: int, slot: int, job: Callable[[], Any]) -> None:
            self._local.slot = slot
            try:
                results[i] = job()
            except BaseException as exc:  # handed to the caller's thread
                errors.append(exc)
            finally:
                self._local.slot = None
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

        with self._cond:
            self._running = len(jobs)
        threads = [
            threading.Thread(target=work, args=(i, slot, job), daemon=True)
            for i, (slot, job) in enumerate(jobs)
        ]
        for thread in threads:
            thread.start()
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._running == 0)
                batch = sorted(self._pending, key=lambda item: (item[0], item[1]))
                self._pending = []
                if not batch:
                    break
            try:
                self.calls += 1
                answers = self.policy.complete([conversation for _, _, conversation, _ in batch])
            except BaseException as exc:
                answers = [Completion(text="") for _ in batch]
                errors.append(exc)
            with self._cond:
                waiting = {id(box): box for *_, box in batch}
                for (_, _, _, box), answer in zip(batch, answers, strict=True):
                    box.append(answer)
                self._running += len(waiting)
                self._cond.notify_all()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return results


def rollout(
    policy: Policy,
    env: View | str | Callable[[], gym.Env],
    seeds: Sequence[int],
    *,
    num_envs: int = 64,
    options: Sequence[dict[str, Any] | None] | None = None,
    on_episode: Callable[[Episode], None] | None = None,
    progress: bool = False,
    max_turns: int = 64,
    opponent: Policy | None = None,
) -> list[Episode]:
    """Play one episode per seed and return them in seed order.

    Args:
        policy: answers batches of conversations.
        env: what to play and what the policy sees: a :class:`~textgym.view.View` (its
            env, its history: the ``"full"`` conversation or only the system prompt and
            the ``"last"`` observation, and its system prompt), an env id (its default
            view: the whole conversation, the env's own system prompt), or a function
            making a fresh env (seen like an env id). The view's answer budget is the
            policy's own (``make_policy(..., max_new_tokens=view.max_new_tokens)``).
        seeds: one episode per seed; the same seed gives the same game (see PerTurnSeeding).
        num_envs: episodes played at once (one policy call per round for all of them).
        options: per-episode ``reset`` options (e.g. ``{"random_move_prob": 0.3}``).
        on_episode: called with each episode as soon as it finishes (e.g. to append JSONL).
        progress: show a progress bar (episodes, rate, ETA) on a terminal's stderr.
        max_turns: an episode still running after this many answers is truncated.
        opponent: a policy that plays the env's other seat (made with
            ``gym.make(env_id, opponent=...)``; two-player envs take one). Its turns in
            all envs of a round are answered by one batched call (:class:`OpponentBatcher`).
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if options is not None and len(options) != len(seeds):
        raise ValueError(f"options needs one entry per seed ({len(seeds)}), got {len(options)}")
    batcher = OpponentBatcher(opponent) if opponent is not None else None
    if callable(env) and not isinstance(env, (View, str)):
        if batcher is not None:
            raise ValueError("an opponent needs an env id or a view, not an env factory")
        make, view = env, View()
    else:
        view = as_view(env)  # type: ignore[arg-type]
        kwargs = {} if batcher is None else {"opponent": batcher}
        make = lambda: gym.make(view.env_id, **kwargs)  # noqa: E731
    slots = [
        ChatHistory(make(), system_prompt=view.system_prompt)
        for _ in range(min(num_envs, len(seeds)))
    ]
    queue = list(range(len(seeds)))[::-1]
    active: dict[int, Episode] = {}
    finished: list[Episode] = []
    bar = progress_bar(len(seeds), "rollout", unit="episode", enabled=progress)

    def in_steps(jobs: list[tuple[int, Callable[[], Any]]]) -> list[Any]:
        """Run env calls: one after another, or in threads with batched opponent turns."""
        if batcher is None:
            return [job() for _, job in jobs]
        return batcher.run(jobs)

    def start(slots_to_fill: list[int]) -> None:
        picked = []
        for slot in slots_to_fill:
            if not queue:
                break
            i = queue.pop()
            opts = options[i] if options is not None else None
            active[slot] = Episode(index=i, seed=int(seeds[i]), options=opts)
            picked.append((slot, i, opts))
        in_steps(
            [
                (slot, lambda s=slot, i=i, o=opts: slots[s].reset(seed=int(seeds[i]), options=o))
                for slot, i, opts in picked
            ]
        )

    start(list(range(len(slots))))
    while active:
        order = sorted(active)
        prompts = [view.visible(slots[s].messages) for s in order]
        completions = policy.complete(prompts)
        if len(completions) != len(order):
            raise RuntimeError(f"policy returned {len(completions)} answers for {len(order)}")
        steps = in_steps(
            [
                (slot, lambda s=slot, c=completion: slots[s].step(c.text))
                for slot, completion in zip(order, completions, strict=True)
            ]
        )
        ended = []
        for slot, prompt, completion, result in zip(
            order, prompts, completions, steps, strict=True
        ):
            episode = active[slot]
            _, reward, terminated, truncated, info = result
            truncated = truncated or (not terminated and len(episode.turns) + 1 >= max_turns)
            episode.turns.append(
                Turn(
                    prompt,
                    completion,
                    float(reward),
                    dict(info.get("reward_components") or {}),
                    _clean_info(info),
                )
            )
            if terminated or truncated:
                episode.terminated, episode.truncated = bool(terminated), bool(truncated)
                finished.append(active.pop(slot))
                if on_episode is not None:
                    on_episode(episode)
                ended.append(slot)
        start(ended)
        bar.update(len(finished) - bar.n)
    bar.close()
    for env in slots:
        env.close()
    clear_cache = getattr(policy, "clear_cache", None)
    if callable(clear_cache):  # no episode continues: caches kept for next turns are dead
        clear_cache()
    return sorted(finished, key=lambda e: e.index)


def check_view(view: View, tokenizer: Any = None) -> list[str]:
    """Refuse a view the env cannot support; return warnings for doubtful ones.

    Refused (``ValueError``): an unknown env; ``history="last"`` on an env whose
    observations do not show everything needed (the question or the tool results would
    vanish after the first turn). With a ``tokenizer``, a budget shorter than the env's
    reference answers (measured on a few reference episodes) is refused too. Warned: a
    tool env without its system prompt (the tool schemas are in it).
    """
    with probe_env(view.env_id) as env:
        base: Any = env.unwrapped
        if view.history == "last" and not getattr(base, "markov_observations", False):
            raise ValueError(
                f"history 'last' cannot play {view.env_id}: its observations do not repeat "
                "what earlier turns showed (the task, tool results); use history 'full'"
            )
        warnings = []
        if view.system_prompt == "" and getattr(base, "schemas", None):
            warnings.append(
                f"{view.env_id} without its system prompt: the model never sees the tool schemas"
            )
    if tokenizer is not None:
        need = reference_answer_tokens(view, tokenizer)
        if need is not None and need > view.max_new_tokens:
            raise ValueError(
                f"max_new_tokens {view.max_new_tokens} cannot hold {view.env_id}'s answers: "
                f"its reference player's longest answer is {need} tokens with this "
                f"tokenizer (EOS included); use at least {need}"
            )
    return warnings


def reference_answer_tokens(view: View, tokenizer: Any, episodes: int = 4) -> int | None:
    """Tokens (EOS included) of the longest answer the env's reference player gives in a few
    episodes, or None when the env has no reference player."""
    try:
        policy = scripted_policy("reference", view.env_id, seed=0)
    except ValueError:
        return None
    played = rollout(policy, view, list(range(episodes)), num_envs=episodes)
    texts = [t.completion.text for e in played for t in e.turns]
    if not texts:
        return None
    return max(len(tokenizer(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts)
