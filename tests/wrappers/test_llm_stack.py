"""TextTicTacToe-LLM-v0: conformance, reward components, stock Gymnasium wrappers on top."""

from __future__ import annotations

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import textgym  # noqa: F401
from textgym.envs.tictactoe.llm import make_llm_tictactoe
from textgym.utils import check_text_env
from textgym.wrappers import FormatCheck, InvalidMovePenalty, PerTurnSeeding


def test_stack_order_and_defaults() -> None:
    env = gym.make("TextTicTacToe-LLM-v0")
    chain = []
    inner = env
    while isinstance(inner, gym.Wrapper):
        chain.append(type(inner))
        inner = inner.env
    assert chain.index(FormatCheck) < chain.index(InvalidMovePenalty) < chain.index(PerTurnSeeding)
    fmt = env.get_wrapper_attr("format_reward")
    assert fmt == 0.2
    assert env.get_wrapper_attr("penalty") == -0.1
    assert env.get_wrapper_attr("max_invalid") == 3


@pytest.mark.filterwarnings("ignore:.*(different from the unwrapped|not having a spec).*")
def test_check_env_on_the_whole_stack() -> None:
    check_env(make_llm_tictactoe(random_move_prob=0.3))


def test_check_text_env_with_other_settings() -> None:
    check_text_env(
        "TextTicTacToe-LLM-v0",
        env_kwargs={"max_invalid": 1, "penalty": -0.5, "random_move_prob": 0.2},
        cross_process=False,
    )


def test_components_are_in_info_every_step_and_sum_to_the_reward() -> None:
    env = gym.make("TextTicTacToe-LLM-v0", random_move_prob=0.5)
    answers = ["hello", "<move>0</move>", "<think>hm</think><move>{}</move>", "{}"]
    for seed in range(30):
        _, info = env.reset(seed=seed)
        assert set(info["reward_components"]) == {"outcome", "invalid", "format"}
        for i in range(20):
            template = answers[(seed + i) % len(answers)]
            _, reward, terminated, truncated, info = env.step(
                template.format(info["legal_actions"][0])
            )
            assert set(info["reward_components"]) == {"outcome", "invalid", "format"}
            assert reward == pytest.approx(sum(info["reward_components"].values()))
            if terminated or truncated:
                break
        assert terminated


def test_record_episode_statistics_and_time_limit_on_top() -> None:
    env = gym.wrappers.RecordEpisodeStatistics(
        gym.wrappers.TimeLimit(gym.make("TextTicTacToe-LLM-v0"), max_episode_steps=2)
    )
    env.reset(seed=0)
    env.step("junk")
    _, _, terminated, truncated, info = env.step("junk")  # invalid answers count as turns
    assert truncated and not terminated
    assert info["episode"]["l"] == 2
    assert info["episode"]["r"] == pytest.approx(-0.2)


def test_vector_env_of_the_stack() -> None:
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("TextTicTacToe-LLM-v0")] * 3)
    _, infos = envs.reset(seed=[5, 5, 6])
    _, rewards, _, _, infos = envs.step([f"<move>{a[0]}</move>" for a in infos["legal_actions"]])
    assert rewards[0] == rewards[1]  # same seed, same answer, same outcome
    envs.close()
