"""FormatCheck: bare actions passed on, format reward bounded per episode, reset, prompts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textgym.envs.tictactoe.env import TextTicTacToeEnv
from textgym.wrappers import FormatCheck, InvalidMovePenalty


def make(**kwargs) -> FormatCheck:
    env = TextTicTacToeEnv(agent_mark="X", agent_first=True, random_move_prob=1.0)
    return FormatCheck(InvalidMovePenalty(env), **kwargs)


def test_tagged_answer_is_played_and_earns_the_format_reward() -> None:
    env = make()
    env.reset(seed=0)
    _, reward, _, _, info = env.step("<think>centre</think><move>5</move>")
    assert info["board"][4] == "X"
    assert info["format_ok"] and info["parsed_action"] == "5"
    assert info["reward_components"]["format"] == pytest.approx(0.2)
    assert reward == pytest.approx(sum(info["reward_components"].values()))


def test_untagged_answer_is_invalid_even_if_it_is_a_legal_cell() -> None:
    env = make()
    env.reset(seed=0)
    obs, _, _, _, info = env.step("5")
    assert info["board"] == "........."
    assert not info["format_ok"] and info["invalid_action"]
    assert obs.startswith("Format error: no complete <move>N</move> answer found")


@given(st.lists(st.booleans(), min_size=1, max_size=8), st.integers(0, 10_000))
def test_episode_format_reward_is_format_reward_times_compliance(
    pattern: list[bool], seed: int
) -> None:
    env = make(format_reward=0.2)
    _, info = env.reset(seed=seed)
    total = 0.0
    good = 0
    for answers, well_formed in enumerate(pattern, start=1):
        move = info["legal_actions"][0]
        _, _, terminated, _, info = env.step(f"<move>{move}</move>" if well_formed else move)
        good += well_formed
        total += info["reward_components"]["format"]
        assert total == pytest.approx(0.2 * good / answers)
        if terminated:
            break


def test_reset_clears_statistics_and_system_prompt_has_format() -> None:
    env = make(tag="answer", think_tag="reasoning")
    env.reset(seed=0)
    env.step("garbage")
    _, info = env.reset(seed=1)
    assert (env.answers, env.well_formed) == (0, 0) and info["format_ok"] is None
    prompt = env.system_prompt
    assert "<answer>5</answer>" in prompt and "<reasoning>" in prompt
    assert "nothing else" not in prompt  # the bare-number instruction is replaced
    assert env.get_wrapper_attr("system_prompt") == prompt


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tag": "bad tag"},
        {"tag": ""},
        {"think_tag": "move"},
        {"format_reward": float("inf")},
        {"format_reward": "0.2"},
    ],
)
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        make(**kwargs)


def test_double_wrapping_is_refused() -> None:
    with pytest.raises(ValueError, match="FormatCheck is already applied"):
        FormatCheck(make())


@given(st.text())
def test_any_model_text_never_raises(text: str) -> None:
    env = make()
    env.reset(seed=0)
    obs, reward, _, _, info = env.step(text)
    assert isinstance(obs, str) and isinstance(info["format_ok"], bool)
    assert reward == pytest.approx(sum(info["reward_components"].values()))
