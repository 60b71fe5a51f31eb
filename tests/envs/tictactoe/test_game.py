"""Tic-tac-toe as a game of two seats: turns, each seat's view, returns, forfeits."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import textgym  # noqa: F401
from textgym.envs.tictactoe.game import TicTacToeGame

RNG = np.random.default_rng(0)


def test_seats_alternate_and_each_sees_its_own_side() -> None:
    game = TicTacToeGame("letters")
    game.start(RNG, {"first_mark": "O"})
    assert game.to_move() == 0 and game.mark_of(0) == "O" and game.mark_of(1) == "X"
    game.play("5")
    assert game.to_move() == 1
    assert game.observe(0) == "O 1234e6789".replace("1234e6789", "123/4e6/789")
    assert game.observe(1) == "X 123/4E6/789"
    for action in ("1", "2", "9", "3", "7"):  # X: 1, 9, 7 and O: 5, 2, 3
        game.play(action)
    assert game.to_move() == 0  # X threatens 4 (1-4-7) and 8 (7-8-9); O wins first
    game.play("8")  # O: 2-5-8
    assert game.is_over() and game.returns() == (1.0, -1.0)
    assert game.outcome(0) == "win" and game.observe(1).endswith("loss")
    assert game.legal_actions() == ()


def test_illegal_actions_raise_and_forfeit_ends_the_game() -> None:
    game = TicTacToeGame()
    game.start(RNG)
    game.play("1")
    for bad in ("1", "10", " 2", "x"):
        with pytest.raises(ValueError, match="not a free cell"):
            game.play(bad)
    assert game.parse_action(" 2\n") == "2" and game.parse_action("1") is None
    reason = game.explain_illegal("1")
    assert reason == "cell 1 is taken"
    game.forfeit(reason)
    assert game.is_over() and game.returns() == (1.0, -1.0)
    assert "Illegal move: cell 1 is taken. Game over: you lose." in game.observe(1)
    assert game.observe(0).endswith("Game over: you win.")
    with pytest.raises(ValueError, match="over"):
        game.forfeit("again")


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"first_mark": "Z"}, "first_mark"),
        ({"board": "XX......."}, "cannot be reached"),
        ({"board": "XXXOO...."}, "over"),
        ({"board": "abc"}, "9 characters"),
        ({"seed": 1}, "unknown tic-tac-toe start options"),
    ],
)
def test_bad_start_options_are_refused(options, needle) -> None:
    with pytest.raises(ValueError, match=needle):
        TicTacToeGame().start(RNG, options)


@pytest.mark.parametrize("env_id", ["TextTicTacToe-v0", "TextTicTacToe-LLM-Letters-v0"])
def test_the_single_agent_env_plays_one_seat_of_its_game(env_id) -> None:
    """The env's agent is ``agent_seat`` of ``env.unwrapped.game``: after every step it is
    that seat's turn (or the game is over), and for the one-line styles the observation
    is exactly the game's view of that seat."""
    env = gym.make(env_id)
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        inner = env.unwrapped
        game, seat = inner.game, inner.agent_seat
        assert game.mark_of(seat) == info["agent_mark"]
        while True:
            assert game.to_move() == seat and game.board == info["board"]
            if "Letters" in env_id:
                assert obs == game.observe(seat)
            move = info["legal_actions"][0]
            obs, _, terminated, _, info = env.step(
                f"<move>{move}</move>" if "LLM" in env_id else move
            )
            if terminated:
                assert game.is_over() or info["invalid_action"]
                break
