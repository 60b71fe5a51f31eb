"""Self-play and snapshot opponents: parsing, refusals, scoring the other seat, per-seat
baselines, and a self-play step on Kuhn poker (a chance move, hidden cards)."""

from __future__ import annotations

import json

import pytest

from textgym.core import Completion
from textgym.rollout import Episode, Turn
from textgym.trainers.groups import group_advantages
from textgym.trainers.opponents import (
    SeatScoring,
    both_seats,
    parse_opponent,
    seat_episodes,
    seat_scoring,
)


def test_opponent_names_parse_and_bad_ones_are_refused() -> None:
    assert parse_opponent("self").trains_both_seats
    spec = parse_opponent("snapshot:5")
    assert (spec.kind, spec.every, spec.trains_both_seats) == ("snapshot", 5, False)
    for bad, needle in [
        ("snapshot:0", ">= 1"),
        ("snapshot:-2", ">= 1"),
        ("snapshot:x", "whole number"),
        ("snapshot", "whole number"),
        ("frozen", "unknown opponent 'frozen'"),
    ]:
        with pytest.raises(ValueError, match=needle):
            parse_opponent(bad)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"opponent": "snapshot:0"}, "snapshot interval"),
        ({"opponent": "others"}, "unknown opponent"),
        ({"opponent": "self", "env_id": "TextReverse-v0"}, "no seat for an opponent"),
        ({"opponent": "self", "history": "full"}, "history 'last'"),
        (
            {"opponent": "self", "curriculum": {"random_move_prob": (0.0, 0.5)}},
            "leave it out",
        ),
        ({"opponent": "self", "replay_share": 0.25}, "replay_share to 0"),
        ({"opponent": "snapshot:2", "opponent_pool": 0}, "opponent_pool"),
    ],
)
def test_bad_opponent_settings_are_refused_before_any_work(tmp_path, kwargs, needle) -> None:
    from textgym.trainers.config import RLConfig

    kwargs = {"history": "last", **kwargs}
    with pytest.raises(ValueError, match=needle):
        RLConfig(model="unused", out_dir=str(tmp_path / "out"), **kwargs)
    assert not (tmp_path / "out").exists()


def test_an_opponent_drops_the_bot_curriculum() -> None:
    from textgym.trainers.config import RLConfig

    config = RLConfig(model="m", out_dir="o", opponent="self", history="last")
    assert config.curriculum == {}


def _turn(reward: float = 0.0, **info) -> Turn:
    return Turn([{"role": "user", "content": "x"}], Completion(text="t"), reward, {}, info)


def _episode(index: int, agent: float, opponent: float, decisions: list[dict]) -> Episode:
    end = _turn(agent, opponent_outcome=opponent, opponent_forfeit_outcome=0.0)
    return Episode(index, 7, None, [end], True, False, [_turn(**d) for d in decisions])


def test_the_other_seat_is_scored_from_its_own_side() -> None:
    ok, junk = {"format_ok": True, "fallback": False}, {"format_ok": False, "fallback": True}
    episodes = [
        _episode(0, 1.0, 0.0, [ok, ok]),
        _episode(1, 0.0, 1.0, [ok, junk]),
        _episode(2, 1.0, 0.0, []),  # the opponent never answered: no episode of its own
    ]
    other = seat_episodes(episodes, SeatScoring(format_reward=0.2, penalty=-0.1))
    assert [e.index for e in other] == [0, 1]
    assert other[0].total_reward == pytest.approx(0.0 + 0.2)
    # it won, but an answer that named no legal move scores the game as its forfeit
    assert other[1].total_reward == pytest.approx(0.0 + 0.1 - 0.1)
    assert other[1].turns[-1].reward_components == pytest.approx(
        {"outcome": 0.0, "format": 0.1, "invalid": -0.1}
    )
    assert [t.completion.text for t in other[1].turns] == ["t", "t"]


def test_each_seat_is_its_own_baseline() -> None:
    """Seat 1 is ahead in this group: one mean over both seats would call all of seat 1's
    games good and all of seat 2's bad; each seat's own mean keeps what each did."""
    ok = {"format_ok": None, "fallback": False}
    episodes = [
        _episode(i, agent, 1.0 - agent, [ok]) for i, agent in enumerate([1.0, 1.0, 0.5, 0.5])
    ]
    both, groups = both_seats(episodes, 4, SeatScoring())
    advantages = group_advantages([e.total_reward for e in both], groups)
    assert advantages == pytest.approx([0.25, 0.25, -0.25, -0.25, -0.25, -0.25, 0.25, 0.25])
    assert len(set(groups)) == 2


def test_the_scoring_of_the_llm_wrappers_is_read_from_the_env() -> None:
    assert seat_scoring("TextKuhnPoker-LLM-v0") == SeatScoring(0.2, -0.1)
    assert seat_scoring("TextKuhnPoker-v0") == SeatScoring(0.0, 0.0)


@pytest.mark.slow
def test_kuhn_self_play_trains_both_seats(tiny_model_path, tmp_path, monkeypatch) -> None:
    """One self-play step on Kuhn poker: both seats' answers reach the update, the
    opponent is named in the step's metrics."""
    pytest.importorskip("torch")
    from textgym.trainers import rl

    seen: dict[str, int] = {}
    real_rollout, real_step = rl.rollout, rl.cispo_step

    def rollout(*args, **kwargs):
        episodes = real_rollout(*args, **kwargs)
        seen["answers"] = sum(len(e.turns) + len(e.opponent_turns) for e in episodes)
        seen["opponent"] = sum(len(e.opponent_turns) for e in episodes)
        return episodes

    def cispo_step(model, optimizer, turns, *args, **kwargs):
        seen["trained"] = len(turns)
        return real_step(model, optimizer, turns, *args, **kwargs)

    monkeypatch.setattr(rl, "rollout", rollout)
    monkeypatch.setattr(rl, "cispo_step", cispo_step)
    config = rl.RLConfig(
        model=str(tiny_model_path),
        out_dir=str(tmp_path / "run"),
        env_id="TextKuhnPoker-LLM-v0",
        system_prompt="",
        history="last",
        steps=1,
        games_per_batch=8,
        group_size=4,
        max_new_tokens=8,
        opponent="self",
        device="cpu",
    )
    (record,) = rl.train_rl(config, progress=False)
    assert seen["opponent"] > 0 and seen["trained"] == seen["answers"]
    assert record["opponent"] == "self"
    assert 0.0 <= record["opponent/fallbacks"] <= 1.0
    line = json.loads((tmp_path / "run" / "metrics.jsonl").read_text())
    assert line["opponent"] == "self" and line["opponent/answers"] > 0
