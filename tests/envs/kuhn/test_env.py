"""TextKuhnPoker-v0: one seat against the bot, any policy as the opponent, the reference."""

from __future__ import annotations

from fractions import Fraction

import gymnasium as gym
import numpy as np
import pytest

import textgym  # noqa: F401
from textgym.core import Completion
from textgym.envs.kuhn.env import TextKuhnPokerEnv
from textgym.envs.kuhn.players import KuhnBot, KuhnReference, read_information_set
from textgym.envs.kuhn.solver import GAME_VALUE, equilibrium
from textgym.evaluation import evaluate
from textgym.policies.reference import ReferencePolicy
from textgym.utils.env_checker import check_text_env


@pytest.mark.parametrize("env_id", ["TextKuhnPoker-v0", "TextKuhnPoker-LLM-v0"])
def test_the_env_passes_the_conformance_checks(env_id) -> None:
    check_text_env(env_id)


def test_the_agent_plays_its_seat_and_the_bot_the_other() -> None:
    env = TextKuhnPokerEnv()
    # seat 1: the bot acts first, inside reset
    obs, info = env.reset(seed=0, options={"agent_seat": 1, "cards": ("Q", "K")})
    assert info["seat"] == "player_1" and "Your card: K" in obs and "Q" not in obs
    assert info["opponent_actions"] in (["check"], ["bet"])  # the Q never bets first
    assert info["opponent_actions"] == ["check"]
    obs, reward, terminated, _, info = env.step("bet")  # the Q facing a bet calls 1/3
    assert terminated and reward in (1.0, 2.0) and info["episode_metrics"]["win"] == 1.0
    seats = {env.reset(seed=s)[1]["seat"] for s in range(20)}
    assert seats == {"player_0", "player_1"}  # drawn per episode


def test_an_answer_that_is_no_action_forfeits_the_ante() -> None:
    env = TextKuhnPokerEnv(agent_seat=0)
    obs, info = env.reset(seed=0, options={"cards": ("K", "J")})
    obs, reward, terminated, _, info = env.step("all in!")
    assert terminated and reward == -1.0 and info["invalid_action"]
    assert "Illegal action: that is not one of check, bet." in obs
    llm = gym.make("TextKuhnPoker-LLM-v0", agent_seat=0)
    llm.reset(seed=0)
    obs, reward, terminated, _, info = llm.step("<action>raise</action>")
    assert not terminated and info["invalid_count"] == 1  # a retry with a penalty
    assert "<action>bet</action>" in llm.get_wrapper_attr("system_prompt")


class _Scripted:
    """A policy that answers each conversation with a fixed text, counting calls."""

    def __init__(self, text: str) -> None:
        self.text, self.calls = text, 0

    def complete(self, conversations):
        self.calls += len(conversations)
        return [Completion(text=self.text) for _ in conversations]


def test_any_policy_can_be_the_opponent_and_bad_answers_fall_back() -> None:
    folder = _Scripted("<action>fold</action>")
    env = TextKuhnPokerEnv(agent_seat=0, opponent=folder)
    env.opponent.answer_tag = "action"
    env.reset(seed=0, options={"cards": ("J", "K")})
    _, reward, terminated, _, info = env.step("bet")
    assert terminated and reward == 1.0 and folder.calls == 1  # the policy folded a K
    junk = _Scripted("I think I will raise")
    env = TextKuhnPokerEnv(agent_seat=0, opponent=junk)
    env.reset(seed=0)
    _, _, terminated, _, info = env.step("bet")
    assert terminated and info["opponent_fallbacks"] == 1  # a random legal action instead
    with pytest.raises(ValueError, match="cannot be set when a custom opponent"):
        env.reset(seed=0, options={"random_move_prob": 0.5})
    with pytest.raises(ValueError, match=r"seat player .* or a policy"):
        TextKuhnPokerEnv(opponent="minimax")  # type: ignore[arg-type]


def test_the_reference_player_is_an_equilibrium_and_matches_its_value() -> None:
    """Sampled with the policy's generator, the reference plays the equilibrium: against
    the equilibrium bot its mean return over many hands is the game's value for its seat
    (-1/18 as player 1) within 3 standard errors."""
    player = KuhnReference()
    conv = [
        {
            "role": "user",
            "content": "You are player 2 of 2. Your card: J.\nPlayer 1 checked.\n"
            "Legal actions: check, bet.",
        }
    ]
    assert read_information_set(conv[0]["content"]) == ("J", ("check",))
    rng = np.random.default_rng(0)
    bluffs = sum(player.answer(conv, rng) == "bet" for _ in range(3000)) / 3000
    assert abs(bluffs - 1 / 3) < 0.03  # the J bluffs a third of the time
    assert player.answer(conv) == "check" and player.mistake(conv, rng) == "bet"
    summary = evaluate(
        "reference",
        "random_move_prob=0;agent_seat=0",
        episodes=3000,
        seed=0,
        view="TextKuhnPoker-v0",
        policy_obj=ReferencePolicy(player, seed=1),
    )
    assert abs(summary.mean_reward - float(GAME_VALUE)) < 3 * summary.stderr + 1e-9
    with pytest.raises(ValueError, match="no Kuhn poker decision"):
        player.answer([{"role": "user", "content": "hello"}])


def test_the_bot_mistakes_follow_the_knob() -> None:
    bot = KuhnBot(equilibrium(Fraction(0)), random_move_prob=1.0)
    env = TextKuhnPokerEnv(agent_seat=1, opponent=bot)
    first = [
        env.reset(seed=s, options={"cards": ("J", "Q")})[1]["opponent_actions"][0]
        for s in range(400)
    ]
    assert 0.4 < first.count("bet") / 400 < 0.6  # random: a J bets half the time
    env = TextKuhnPokerEnv(agent_seat=1)
    first = [
        env.reset(seed=s, options={"cards": ("Q", "J")})[1]["opponent_actions"][0]
        for s in range(50)
    ]
    assert set(first) == {"check"}  # the equilibrium never bets a Q first
