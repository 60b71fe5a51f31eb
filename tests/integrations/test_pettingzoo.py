"""The AEC view of two-player games: PettingZoo's own API and seed tests, and real play."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

from pettingzoo.test import api_test, seed_test

from textgym.envs.tictactoe.game import TicTacToeGame
from textgym.envs.tictactoe.solver import optimal_moves
from textgym.integrations.pettingzoo import TextAECEnv, aec_env


@pytest.mark.parametrize("style", ["full", "compact", "letters"])
def test_pettingzoo_api_and_seed_tests_pass(style) -> None:
    with pytest.warns(UserWarning, match="not start options"):  # api_test resets with junk
        api_test(TextAECEnv(TicTacToeGame(style)), num_cycles=50)
    seed_test(lambda: TextAECEnv(TicTacToeGame(style)), num_cycles=20)


def _play(env: TextAECEnv, pick) -> tuple[dict, list[str]]:
    env.reset(seed=0)
    seen, totals = [], {}
    for agent in env.agent_iter():
        obs, reward, termination, truncation, info = env.last()
        totals[agent] = reward
        if termination or truncation:
            env.step(None)
            continue
        seen.append(obs)
        env.step(pick(agent, info))
    assert env.agents == []
    return totals, seen


def test_two_perfect_seats_draw_and_the_rewards_are_zero_sum() -> None:
    env = aec_env("TextTicTacToe-LLM-Letters-v0")
    rng = np.random.default_rng(1)
    game = env.game
    for _ in range(5):

        def perfect(agent, info):
            moves = optimal_moves(game.board, game.first)
            assert [str(m + 1) for m in moves] and set(info["legal_actions"]) >= {
                str(m + 1) for m in moves
            }
            return str(moves[int(rng.integers(len(moves)))] + 1)

        totals, seen = _play(env, perfect)
        assert totals == {"player_0": 0.0, "player_1": 0.0}
        assert seen[0].startswith("X ") and seen[1].startswith("O ")  # each its own side


def test_an_illegal_action_forfeits_and_says_why() -> None:
    env = TextAECEnv(TicTacToeGame())
    env.reset(seed=0, options={"first_mark": "O"})
    env.step("5")
    env.step(" 5 ")  # player_1 answers the taken centre
    assert env.terminations == {"player_0": True, "player_1": True}
    assert env.infos["player_1"]["illegal_action"] and not env.infos["player_0"]["illegal_action"]
    assert env.rewards == {"player_0": 1.0, "player_1": -1.0}
    assert "Illegal move: cell 5 is taken" in env.observe("player_1")
    with pytest.raises(ValueError, match="only valid action"):  # PettingZoo's own check
        env.step("1")
    with pytest.raises(TypeError, match="must act with a str"):
        env.reset(seed=0)
        env.step(3)


def test_bad_input_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="not a game of seats"):
        aec_env("TextReverse-v0")
    with pytest.raises(ValueError, match=r"TextNope-v0"):
        aec_env("TextNope-v0")
    with pytest.raises(TypeError, match="TurnBasedGame"):
        TextAECEnv("tic-tac-toe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="board"):
        TextAECEnv(TicTacToeGame()).reset(options={"board": "XX......."})
    env = TextAECEnv(TicTacToeGame())
    with pytest.raises(RuntimeError, match=r"reset\(\) first"):
        env.step("5")
    env.reset(seed=0)
    env.step("fold")  # no move: player_0 forfeits, both are done
    with pytest.raises(ValueError, match="only valid action is None"):
        env.step("5")  # an action for an agent whose game is over
    while env.agents:
        env.step(None)
    with pytest.raises(RuntimeError, match="no agent is in play"):
        env.step(None)


def test_kuhn_poker_passes_the_api_test_and_deals_from_the_seed() -> None:
    from textgym.envs.kuhn.game import KuhnPokerGame

    with pytest.warns(UserWarning, match="not start options"):
        api_test(TextAECEnv(KuhnPokerGame()), num_cycles=50)
    seed_test(lambda: TextAECEnv(KuhnPokerGame()), num_cycles=20)
    env = TextAECEnv(KuhnPokerGame())
    deals = set()
    for seed in range(30):
        env.reset(seed=seed)
        deals.add(env.game.cards)
        totals, _ = _play(env, lambda agent, info: info["legal_actions"][-1])  # bet, fold
        assert totals["player_0"] == -totals["player_1"] == 1.0  # bet, fold: +1
    assert len(deals) == 6
