"""Play many episodes of a text env with one policy, in lockstep batches.

Each round gathers the conversation of every active env, makes **one** batched policy call,
steps every env with its answer, and records finished episodes; a finished slot starts the
next seed at once. Episodes keep, per turn, the conversation the policy saw, the exact
completion (token ids and log-probs when the policy has them), the reward and its
components.
"""

from __future__ import annotations

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
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if options is not None and len(options) != len(seeds):
        raise ValueError(f"options needs one entry per seed ({len(seeds)}), got {len(options)}")
    if callable(env) and not isinstance(env, (View, str)):
        make, view = env, View()
    else:
        view = as_view(env)  # type: ignore[arg-type]
        make = lambda: gym.make(view.env_id)  # noqa: E731
    slots = [
        ChatHistory(make(), system_prompt=view.system_prompt)
        for _ in range(min(num_envs, len(seeds)))
    ]
    queue = list(range(len(seeds)))[::-1]
    active: dict[int, Episode] = {}
    finished: list[Episode] = []
    bar = progress_bar(len(seeds), "rollout", unit="episode", enabled=progress)

    def start(slot: int) -> None:
        if not queue:
            return
        i = queue.pop()
        opts = options[i] if options is not None else None
        slots[slot].reset(seed=int(seeds[i]), options=opts)
        active[slot] = Episode(index=i, seed=int(seeds[i]), options=opts)

    for slot in range(len(slots)):
        start(slot)
    while active:
        order = sorted(active)
        prompts = [view.visible(slots[s].messages) for s in order]
        completions = policy.complete(prompts)
        if len(completions) != len(order):
            raise RuntimeError(f"policy returned {len(completions)} answers for {len(order)}")
        for slot, prompt, completion in zip(order, prompts, completions, strict=True):
            episode = active[slot]
            _, reward, terminated, truncated, info = slots[slot].step(completion.text)
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
                start(slot)
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
