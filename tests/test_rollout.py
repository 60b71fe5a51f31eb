"""Rollouts: lockstep batches, seed order, exact tokens kept, callbacks per finished episode."""

from __future__ import annotations

import pytest

from textgym.core import Completion
from textgym.envs.tictactoe.players import perfect_policy
from textgym.rollout import rollout
from textgym.view import View


class CountingPolicy:
    """Answers '<move>1</move>'... and records the batch sizes it was called with."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def complete(self, conversations):
        self.batches.append(len(conversations))
        return [
            Completion(text="<move>1</move>", prompt_ids=[1], completion_ids=[2], logprobs=[-0.5])
            for _ in conversations
        ]


def test_one_policy_call_per_round_for_all_active_envs() -> None:
    policy = CountingPolicy()
    seen = []
    episodes = rollout(
        policy, "TextTicTacToe-LLM-v0", list(range(10)), num_envs=4, on_episode=seen.append
    )
    assert max(policy.batches) == 4 and sum(policy.batches) == sum(len(e.turns) for e in episodes)
    assert [e.index for e in episodes] == list(range(10))
    assert sorted(e.index for e in seen) == list(range(10))
    turn = episodes[0].turns[0]
    assert turn.completion.logprobs == [-0.5] and turn.messages[0]["role"] == "system"
    assert turn.reward == pytest.approx(sum(turn.reward_components.values()))


def test_same_seeds_same_games_whatever_the_batching() -> None:
    a = rollout(perfect_policy(seed=1), "TextTicTacToe-LLM-v0", [5, 6, 7], num_envs=1)
    b = rollout(perfect_policy(seed=1), "TextTicTacToe-LLM-v0", [5, 6, 7], num_envs=1)
    assert [e.to_json() for e in a] == [e.to_json() for e in b]


def test_hf_policy_rollout_keeps_exact_tokens(tiny_model_path) -> None:
    pytest.importorskip("torch")
    from textgym.policies.hf import HFPolicy

    policy = HFPolicy(tiny_model_path, temperature=1.0, max_new_tokens=6, seed=0)
    episodes = rollout(policy, "TextTicTacToe-LLM-v0", list(range(6)), num_envs=6)
    for e in episodes:
        for t in e.turns:
            assert t.completion.prompt_ids == policy.encode(t.messages)
            assert len(t.completion.logprobs) == len(t.completion.completion_ids)
            assert t.info["format_ok"] is False or "<move>" in t.completion.text


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_envs"):
        rollout(CountingPolicy(), "TextTicTacToe-LLM-v0", [1], num_envs=0)
    with pytest.raises(ValueError, match="options"):
        rollout(CountingPolicy(), "TextTicTacToe-LLM-v0", [1, 2], options=[None])


def test_last_history_shows_only_system_and_latest_observation() -> None:
    policy = CountingPolicy()
    episodes = rollout(policy, View("TextTicTacToe-LLM-v0", history="last"), [0, 1], num_envs=2)
    for e in episodes:
        for t in e.turns:
            assert [m["role"] for m in t.messages] == ["system", "user"]
    with pytest.raises(ValueError, match="history"):
        rollout(policy, View("TextTicTacToe-LLM-v0", history="some"), [0])  # type: ignore[arg-type]


class _CountingPolicy:
    """Wraps a policy and records the size of every call."""

    def __init__(self, policy) -> None:
        self.policy, self.sizes = policy, []

    def complete(self, conversations):
        self.sizes.append(len(conversations))
        return self.policy.complete(conversations)


class _HashPolicy:
    """Answers a legal action picked by a hash of the whole conversation (in the env's
    answer tag), so its answers do not depend on how calls are batched or ordered; counts
    the size of every call."""

    def __init__(self, tag: str, salt: str) -> None:
        self.tag, self.salt, self.sizes = tag, salt, []

    def complete(self, conversations):
        import hashlib

        from textgym.core import Completion

        self.sizes.append(len(conversations))
        out = []
        for conversation in conversations:
            text = conversation[-1]["content"]
            line = [x for x in text.splitlines() if x.startswith("Legal")][-1]
            legal = [a.strip(" .") for a in line.split(":", 1)[1].split(",")]
            digest = hashlib.sha256((self.salt + repr(conversation)).encode()).digest()
            out.append(Completion(text=f"<{self.tag}>{legal[digest[0] % len(legal)]}</{self.tag}>"))
        return out


_TAGS = {"TextTicTacToe-LLM-v0": "move", "TextKuhnPoker-LLM-v0": "action"}


@pytest.mark.parametrize("env_id", sorted(_TAGS))
def test_an_opponent_policy_plays_batched_and_as_if_called_one_by_one(env_id) -> None:
    """With ``opponent=``, the opponent's turns of all envs in a round are one call, and
    the episodes are those of envs that call the same policy themselves, one turn at a
    time; the opponent's decisions are recorded with the episode."""
    import gymnasium as gym

    def play(batched: bool):
        player, other = _HashPolicy(_TAGS[env_id], "a"), _HashPolicy(_TAGS[env_id], "b")
        if batched:
            episodes = rollout(player, env_id, list(range(24)), num_envs=8, opponent=other)
        else:
            make = lambda: gym.make(env_id, opponent=other)  # noqa: E731
            episodes = rollout(player, make, list(range(24)), num_envs=8)
        return episodes, other

    batched, one = play(True)
    alone, each = play(False)
    assert [e.to_json() for e in batched] == [e.to_json() for e in alone]
    assert set(each.sizes) == {1} and max(one.sizes) > 1
    assert sum(one.sizes) == sum(each.sizes) and len(one.sizes) < len(each.sizes)
    recorded = [t for e in batched for t in e.opponent_turns]
    assert len(recorded) == sum(one.sizes)
    assert all(t.info["format_ok"] and not t.info["fallback"] for t in recorded)
    assert all(t.messages[-1]["role"] == "user" for t in recorded)
    assert all("opponent_outcome" in e.final_info for e in batched)


@pytest.mark.parametrize("env_id", sorted(_TAGS))
def test_self_play_shares_each_call_between_the_seats(env_id) -> None:
    """The same policy in both seats: each round is one call holding both seats' prompts,
    and the episodes are those of one-turn-at-a-time play."""
    import gymnasium as gym

    player = _HashPolicy(_TAGS[env_id], "a")
    merged = rollout(player, env_id, list(range(24)), num_envs=8, opponent=player)
    calls = list(player.sizes)
    player.sizes.clear()
    alone = rollout(player, lambda: gym.make(env_id, opponent=player), list(range(24)), num_envs=8)
    assert [e.to_json() for e in merged] == [e.to_json() for e in alone]
    answers = sum(len(e.turns) + len(e.opponent_turns) for e in merged)
    assert sum(calls) == answers and len(calls) < len(player.sizes)


def test_an_opponent_needs_an_env_that_takes_one() -> None:
    from textgym.evaluation import evaluate

    with pytest.raises(ValueError, match="no seat for an opponent policy"):
        evaluate("reference", episodes=2, view="TextReverse-v0", opponent_policy="reference")
    with pytest.raises(ValueError, match="not an env factory"):
        rollout(_CountingPolicy(None), lambda: None, [0], opponent=_CountingPolicy(None))


def test_the_opponent_reads_the_given_system_prompt_and_records_what_it_read() -> None:
    seen: list = []

    class Recording(_HashPolicy):
        def complete(self, conversations):
            seen.extend(conversations)
            return super().complete(conversations)

    player = Recording("action", "a")
    episodes = rollout(
        player, "TextKuhnPoker-LLM-v0", list(range(8)), opponent=player, opponent_system_prompt=""
    )
    recorded = [t.messages for e in episodes for t in e.opponent_turns]
    assert recorded and all(m[0]["role"] == "user" for m in recorded)
    assert all(m in seen for m in recorded)  # exactly the conversations the policy answered


def test_a_failing_policy_stops_a_rollout_in_rounds_with_its_error() -> None:
    """An error in a round's call reaches the caller; no episode thread is left waiting."""
    import threading

    class Failing(_HashPolicy):
        def complete(self, conversations):
            if len(self.sizes) == 3:
                raise RuntimeError("the server went away")
            return super().complete(conversations)

    before = threading.active_count()
    player = Failing("move", "a")
    with pytest.raises(RuntimeError, match="the server went away"):
        rollout(player, "TextTicTacToe-LLM-v0", list(range(16)), num_envs=8, opponent=player)
    assert threading.active_count() == before
