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
from typing import Any, Protocol

import gymnasium as gym

from textgym.core import Completion, Conversation, Policy
from textgym.envs import probe_env
from textgym.policies.by_name import scripted_policy
from textgym.utils.progress import progress_bar
from textgym.view import View, as_view
from textgym.wrappers.chat import ChatHistory

_INFO_DROP = frozenset({"messages", "opponent_turns"})


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
    opponent_turns: list[Turn] = field(default_factory=list)
    """A policy opponent's decisions (the other seat's view, its exact completion; info:
    ``seat``, ``format_ok``, ``fallback``), oldest first."""
    start_info: dict[str, Any] = field(default_factory=dict)
    """The info of the episode's reset (e.g. the board the first answer saw)."""

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


def clean_info(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` without what a record keeps elsewhere (the conversation, the opponent's
    turns)."""
    return {k: v for k, v in info.items() if k not in _INFO_DROP}


class _Aborted(BaseException):
    """Raised in an episode's thread when the rollout stops (another thread failed)."""


class Rounds:
    """Episodes played in threads whose policy requests are answered in rounds.

    Each episode runs in its own thread; whenever it needs an answer (the agent's turn,
    or an opponent's turn inside the env's ``step``) it blocks in :meth:`ask`. Once every
    running episode is blocked or done, :meth:`answer` makes **one** call per policy with
    all of its pending conversations, in the order of the env slots: the agent's and the
    opponent's prompts of the same policy object share that call (self-play), and the
    answers never depend on thread timing. Each blocked thread waits on its own event and
    only the rollout's thread waits for the round to be complete, so a round wakes each
    thread once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._quiet = threading.Condition(self._lock)
        self._local = threading.local()
        self._pending: list[tuple[int, int, Policy, Conversation, _Box]] = []
        self._waiting: set[_Box] = set()
        self._running = 0
        self._failed = False
        self.calls = 0
        """Policy calls made (one per policy and round)."""

    def ask(self, policy: Policy, conversations: Sequence[Conversation]) -> list[Completion]:
        """``policy``'s answers, batched with the round's other requests when called from an
        episode's thread (else a direct call)."""
        slot = getattr(self._local, "slot", None)
        if slot is None:
            self.calls += 1
            return policy.complete(conversations)
        box = _Box()
        with self._lock:
            if self._failed:
                raise _Aborted
            for k, conversation in enumerate(conversations):
                self._pending.append((slot, k, policy, conversation, box))
            self._waiting.add(box)
            self._running -= 1
            self._quiet.notify()
        box.ready.wait()
        if self._failed:
            raise _Aborted
        return box.answers

    def start(self, slot: int, job: Callable[[], Any], done: list[Any]) -> threading.Thread:
        """Run ``job`` in a thread playing for ``slot``; its result (or exception) is put in
        ``done`` as ``(slot, result, error)``."""

        def work() -> None:
            self._local.slot = slot
            result, error = None, None
            try:
                result = job()
            except _Aborted:
                pass
            except BaseException as exc:  # handed to the rollout's thread
                error = exc
            with self._lock:
                done.append((slot, result, error))
                self._running -= 1
                self._quiet.notify()

        with self._lock:
            self._running += 1
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        return thread

    def wait(self) -> None:
        """Until every episode thread is blocked on a request or finished."""
        with self._quiet:
            self._quiet.wait_for(lambda: self._running == 0)

    def answer(self) -> bool:
        """One call per policy for the pending requests; False when none was pending."""
        with self._lock:
            batch = sorted(self._pending, key=lambda item: (item[0], item[1]))
            self._pending = []
        if not batch:
            return False
        by_policy: dict[int, list[tuple[int, int, Policy, Conversation, _Box]]] = {}
        for item in batch:
            by_policy.setdefault(id(item[2]), []).append(item)
        for items in by_policy.values():
            self.calls += 1
            answers = items[0][2].complete([conversation for *_, conversation, _ in items])
            if len(answers) != len(items):
                raise RuntimeError(f"policy returned {len(answers)} answers for {len(items)}")
            for (*_, box), answer in zip(items, answers, strict=True):
                box.answers.append(answer)
        boxes = list(dict.fromkeys(box for *_, box in batch))
        with self._lock:
            self._running += len(boxes)
            self._waiting.difference_update(boxes)
        for box in boxes:
            box.ready.set()
        return True

    def abort(self) -> None:
        """Wake every blocked episode thread so that it stops."""
        with self._lock:
            self._failed = True
            waiting, self._waiting = list(self._waiting), set()
        for box in waiting:
            box.ready.set()


class _Box:
    """The answers one blocked request waits for."""

    __slots__ = ("answers", "ready")

    def __init__(self) -> None:
        self.answers: list[Completion] = []
        self.ready = threading.Event()


class OpponentBatcher:
    """An opponent policy shared by the envs of one rollout, whose turns are batched.

    Each env holds this object as its opponent (any env that takes a policy opponent:
    :class:`~textgym.envs.base.seat_env.SeatEnv`, the tic-tac-toe envs). Inside a rollout
    its requests wait for the round's one call of the policy (:class:`Rounds`); outside,
    it calls the policy directly. ``system_prompt`` is the system message the opponent
    reads instead of the game's rules ("" none; None the rules): the env's seat player
    (:class:`~textgym.envs.base.seat_env.PolicyPlayer`) builds its conversations with it,
    so what the opponent's turns record is what it read.
    """

    def __init__(
        self, policy: Policy, rounds: Rounds | None = None, system_prompt: str | None = None
    ) -> None:
        if not callable(getattr(policy, "complete", None)):
            raise ValueError(f"the opponent must be a policy with complete(), got {policy!r}")
        self.policy = policy
        self.rounds = rounds or Rounds()
        self.system_prompt = system_prompt

    def __deepcopy__(self, memo: dict) -> OpponentBatcher:
        """Itself: the envs share one batcher (``gym.make`` copies its keyword arguments)."""
        return self

    def complete(self, conversations: Sequence[Conversation]) -> list[Completion]:
        """The policy's answers: batched with the round's other requests inside a rollout."""
        return self.rounds.ask(self.policy, conversations)


class EnvPool(Protocol):
    """Envs that live elsewhere (other processes, other machines), stepped in batches.

    A pool holds ``size`` env slots, each a :class:`~textgym.wrappers.chat.ChatHistory`
    of the pool's env, and plays many slots per call: :meth:`reset` and :meth:`step` take
    ``(slot, ...)`` items and return, per item, ``(slot, result, messages)`` where
    ``result`` is what the env returned (``(observation, info)`` for a reset, the 5-tuple
    for a step) and ``messages`` the slot's conversation afterwards. A slot whose worker
    died is restarted by the pool and replayed by the rollout from its seed
    (:meth:`lost`). :mod:`textgym.integrations.ray` is one.
    """

    view: View
    size: int

    def reset(self, items: Sequence[tuple[int, int, dict[str, Any] | None]]) -> list[tuple]:
        """Reset each ``(slot, seed, options)``."""
        ...

    def step(self, items: Sequence[tuple[int, str]]) -> list[tuple]:
        """Step each ``(slot, action)``."""
        ...

    def lost(self) -> set[int]:
        """The slots whose envs were lost (and restarted fresh) since the last call."""
        ...


class _LocalPool:
    """The rollout's own envs as an :class:`EnvPool` (stepped here, never lost)."""

    def __init__(self, slots: list[ChatHistory], view: View) -> None:
        self.slots, self.view, self.size = slots, view, len(slots)

    def reset(self, items: Sequence[tuple[int, int, dict[str, Any] | None]]) -> list[tuple]:
        return [
            (s, self.slots[s].reset(seed=seed, options=o), self.slots[s].messages)
            for s, seed, o in items
        ]

    def step(self, items: Sequence[tuple[int, str]]) -> list[tuple]:
        return [(s, self.slots[s].step(a), self.slots[s].messages) for s, a in items]

    def lost(self) -> set[int]:
        return set()


def _turn(prompt: Conversation, completion: Completion, result: tuple) -> Turn:
    _, reward, _, _, info = result
    return Turn(
        prompt,
        completion,
        float(reward),
        dict(info.get("reward_components") or {}),
        clean_info(info),
    )


def _opponent_turns(info: dict[str, Any]) -> list[Turn]:
    """The opponent's recorded decisions in ``info`` as turns (reward 0: a trainer scores
    them from the episode's end)."""
    return [
        Turn(
            d["messages"],
            d["completion"],
            0.0,
            {},
            {k: v for k, v in d.items() if k not in ("messages", "completion")},
        )
        for d in info.get("opponent_turns") or []
    ]


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
    opponent_system_prompt: str | None = None,
    pool: EnvPool | None = None,
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
            ``gym.make(env_id, opponent=...)``; two-player envs take one). Episodes then
            play in threads, and each round makes one call per policy with every pending
            prompt of all envs and seats (:class:`Rounds`): the opponent may be ``policy``
            itself (self-play), whose two seats then share each call. The opponent's
            decisions are in each episode's ``opponent_turns``.
        opponent_system_prompt: the system message the opponent reads instead of the one
            the env gives it (None: the env's; "": none).
        pool: play in these envs (:class:`EnvPool`, e.g. Ray actors) instead of envs made
            here; ``env`` must be the pool's view. The episodes are the ones played here.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if options is not None and len(options) != len(seeds):
        raise ValueError(f"options needs one entry per seed ({len(seeds)}), got {len(options)}")
    slots: list[ChatHistory] = []
    rounds = None
    if pool is not None:
        if opponent is not None:
            raise ValueError("an env pool plays one seat: no opponent policy with a pool")
        if as_view(env) != pool.view:  # type: ignore[arg-type]
            raise ValueError(f"the pool plays {pool.view}, not {env!r}")
    else:
        rounds = Rounds() if opponent is not None else None
        if callable(env) and not isinstance(env, (View, str)):
            if rounds is not None:
                raise ValueError("an opponent needs an env id or a view, not an env factory")
            make, view = env, View()
        else:
            view = as_view(env)  # type: ignore[arg-type]
            kwargs: dict[str, Any] = {}
            if rounds is not None:
                kwargs["opponent"] = OpponentBatcher(opponent, rounds, opponent_system_prompt)
            make = lambda: gym.make(view.env_id, **kwargs)  # noqa: E731
        slots = [
            ChatHistory(make(), system_prompt=view.system_prompt)
            for _ in range(min(num_envs, len(seeds)))
        ]
        if rounds is None:
            pool = _LocalPool(slots, view)
    bar = progress_bar(len(seeds), "rollout", unit="episode", enabled=progress)
    try:
        if rounds is not None:
            finished = _in_rounds(
                policy, slots, view, seeds, options, on_episode, max_turns, bar, rounds
            )
        else:
            assert pool is not None
            finished = _lockstep(policy, pool, seeds, options, on_episode, max_turns, bar)
    finally:
        bar.close()
        for slot in slots:
            slot.close()
    for each in (policy, opponent):  # no episode continues: caches kept for next turns die
        clear_cache = getattr(each, "clear_cache", None)
        if callable(clear_cache):
            clear_cache()
    return sorted(finished, key=lambda e: e.index)


def _lockstep(
    policy: Policy,
    pool: EnvPool,
    seeds: Sequence[int],
    options: Sequence[dict[str, Any] | None] | None,
    on_episode: Callable[[Episode], None] | None,
    max_turns: int,
    bar: Any,
) -> list[Episode]:
    """One policy call per round for every active slot of ``pool``, then one batch of steps
    (the rollout's own envs are a pool too: :class:`_LocalPool`). A slot the pool lost is
    replayed: its episode's reset and every answer so far, again, then the round's step
    (the env is deterministic given its seed and actions, so the episode goes on as if
    nothing happened, counted once)."""
    view = pool.view
    queue = list(range(len(seeds)))[::-1]
    active: dict[int, Episode] = {}
    messages: dict[int, Conversation] = {}
    finished: list[Episode] = []

    def opts(i: int) -> dict[str, Any] | None:
        return options[i] if options is not None else None

    def replay(slots: set[int]) -> None:
        """Bring lost slots back to where their episodes were."""
        while slots:
            order = sorted(s for s in slots if s in active)
            for slot, (_, info), conversation in pool.reset(
                [(s, active[s].seed, opts(active[s].index)) for s in order]
            ):
                messages[slot] = conversation
                active[slot].start_info = active[slot].start_info or clean_info(info)
            depth = max((len(active[s].turns) for s in order), default=0)
            for k in range(depth):
                items = [
                    (s, active[s].turns[k].completion.text)
                    for s in order
                    if len(active[s].turns) > k
                ]
                for slot, _, conversation in pool.step(items):
                    messages[slot] = conversation
            slots = pool.lost() & set(active)

    def start(slots_to_fill: list[int]) -> None:
        items = []
        for slot in slots_to_fill:
            if not queue:
                break
            i = queue.pop()
            active[slot] = Episode(index=i, seed=int(seeds[i]), options=opts(i))
            items.append((slot, int(seeds[i]), opts(i)))
        if items:
            for slot, (_, info), conversation in pool.reset(items):
                active[slot].start_info = clean_info(info)
                active[slot].opponent_turns += _opponent_turns(info)
                messages[slot] = conversation
            replay(pool.lost() & set(active))

    start(list(range(min(pool.size, len(seeds)))))
    while active:
        order = sorted(active)
        prompts = [view.visible(messages[s]) for s in order]
        completions = policy.complete(prompts)
        if len(completions) != len(order):
            raise RuntimeError(f"policy returned {len(completions)} answers for {len(order)}")
        results = {}
        for slot, result, conversation in pool.step(
            [(s, c.text) for s, c in zip(order, completions, strict=True)]
        ):
            results[slot], messages[slot] = result, conversation
        lost = pool.lost() & set(active)
        if lost:  # bring them back, then step them again with this round's answers
            replay(lost)
            again = [(s, c.text) for s, c in zip(order, completions, strict=True) if s in lost]
            for slot, result, conversation in pool.step(again):
                results[slot], messages[slot] = result, conversation
        ended = []
        for slot, prompt, completion in zip(order, prompts, completions, strict=True):
            episode = active[slot]
            if _record(episode, prompt, completion, results[slot], max_turns):
                finished.append(active.pop(slot))
                if on_episode is not None:
                    on_episode(episode)
                ended.append(slot)
        start(ended)
        bar.update(len(finished) - bar.n)
    return finished


def _record(
    episode: Episode, prompt: Conversation, completion: Completion, result: tuple, max_turns: int
) -> bool:
    """Add a step to ``episode``; True when it has ended."""
    _, _, terminated, truncated, info = result
    truncated = truncated or (not terminated and len(episode.turns) + 1 >= max_turns)
    episode.turns.append(_turn(prompt, completion, result))
    episode.opponent_turns += _opponent_turns(info)
    if terminated or truncated:
        episode.terminated, episode.truncated = bool(terminated), bool(truncated)
        return True
    return False


def _in_rounds(
    policy: Policy,
    slots: list[ChatHistory],
    view: View,
    seeds: Sequence[int],
    options: Sequence[dict[str, Any] | None] | None,
    on_episode: Callable[[Episode], None] | None,
    max_turns: int,
    bar: Any,
    rounds: Rounds,
) -> list[Episode]:
    """Each episode in a thread; each round one call per policy (:class:`Rounds`).

    Between rounds, envs whose episode ended start the next seeds in slot order (before
    the round's calls, so new episodes join them), as :func:`_lockstep` does.
    """
    queue = list(range(len(seeds)))[::-1]
    idle = list(range(len(slots)))
    threads: dict[int, threading.Thread] = {}
    done: list[tuple[int, Episode | None, BaseException | None]] = []
    finished: list[Episode] = []

    def play(slot: int, i: int) -> Episode:
        env = slots[slot]
        opts = options[i] if options is not None else None
        episode = Episode(index=i, seed=int(seeds[i]), options=opts)
        _, info = env.reset(seed=int(seeds[i]), options=opts)
        episode.start_info = clean_info(info)
        episode.opponent_turns += _opponent_turns(info)
        while True:
            prompt = view.visible(env.messages)
            completion = rounds.ask(policy, [prompt])[0]
            if _record(episode, prompt, completion, env.step(completion.text), max_turns):
                return episode

    try:
        while queue or threads:
            for slot in sorted(idle):
                if queue:
                    i = queue.pop()
                    threads[slot] = rounds.start(slot, lambda s=slot, i=i: play(s, i), done)
            idle = []
            rounds.wait()
            for slot, episode, error in sorted(done, key=lambda item: item[0]):
                threads.pop(slot).join()
                if error is not None:
                    raise error
                assert episode is not None
                finished.append(episode)
                if on_episode is not None:
                    on_episode(episode)
                idle.append(slot)
            done.clear()
            bar.update(len(finished) - bar.n)
            if idle and queue:
                continue  # new episodes join this round's calls
            if not rounds.answer() and threads:
                raise RuntimeError("rollout stalled: episodes wait but nothing was asked")
    except BaseException:
        rounds.abort()
        for thread in threads.values():
            thread.join()
        raise
    return finished


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
