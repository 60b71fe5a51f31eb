"""TextTicTacToe-v0: API behaviour, bad input, and a stateful hypothesis machine."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import textgym  # noqa: F401  (registers the envs)
from textgym.core import EpisodeOverError
from textgym.envs.tictactoe import rules
from textgym.envs.tictactoe.env import TextTicTacToeEnv


def test_make_by_id_and_info_contract() -> None:
    env = gym.make("TextTicTacToe-v0")
    obs, info = env.reset(seed=3)
    assert obs in env.observation_space
    for key in (
        "legal_actions",
        "winner",
        "agent_mark",
        "invalid_action",
        "turn",
        "reward_components",
        "board",
        "result",
    ):
        assert key in info
    assert info["legal_actions"] == [str(c + 1) for c in rules.legal_moves(info["board"])]
    assert "Legal moves: " + ", ".join(info["legal_actions"]) in obs
    assert "tic-tac-toe" in env.unwrapped.system_prompt
    assert "<move>" not in env.unwrapped.system_prompt


@pytest.mark.parametrize("mark", ["X", "O"])
def test_opponent_opens_at_reset_when_it_moves_first(mark: str) -> None:
    env = TextTicTacToeEnv(agent_mark=mark, agent_first=False)
    obs, info = env.reset(seed=0)
    assert info["board"].count(rules.other(mark)) == 1
    assert info["opponent_move"] is not None
    assert f"The opponent played {info['opponent_move']}." in obs
    assert info["first_mark"] == rules.other(mark)


def test_unset_seat_and_mark_are_drawn_from_the_seed() -> None:
    env = TextTicTacToeEnv()
    seen = set()
    for seed in range(40):
        _, info = env.reset(seed=seed)
        seen.add((info["agent_mark"], info["first_mark"] == info["agent_mark"]))
        _, again = env.reset(seed=seed)
        assert (again["agent_mark"], again["board"]) == (info["agent_mark"], info["board"])
    assert len(seen) == 4


def test_bare_number_with_whitespace_is_a_move_and_opponent_replies() -> None:
    env = TextTicTacToeEnv(agent_mark="X", agent_first=True, random_move_prob=1.0)
    env.reset(seed=1)
    _, reward, terminated, truncated, info = env.step("  5\n")
    assert info["board"][4] == "X"
    assert info["board"].count("O") == 1
    assert (reward, terminated, truncated, info["turn"]) == (0.0, False, False, 1)


@pytest.mark.parametrize("action", ["", "five", "0", "10", "5.", "<move>5</move>", "٥", "\x00"])
def test_anything_but_a_free_cell_number_ends_the_game_as_a_loss(action: str) -> None:
    env = TextTicTacToeEnv(agent_mark="X", agent_first=True, loss_reward=-1.0)
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step(action)
    assert terminated and reward == -1.0
    assert info["invalid_action"] and info["result"] == "loss"
    assert info["reward_components"] == {"outcome": -1.0}
    assert "Illegal move" in obs and obs in env.observation_space


def test_taken_cell_is_illegal_with_reason() -> None:
    env = TextTicTacToeEnv(agent_mark="O", agent_first=False)
    _, info = env.reset(seed=0)
    taken = info["opponent_move"]
    _, _, terminated, _, info = env.step(taken)
    assert terminated and info["invalid_reason"] == f"cell {taken} is taken"


@pytest.mark.parametrize("bad", [None, b"5", 5, ["5"]])
def test_non_string_actions_raise_type_error_naming_the_type(bad: object) -> None:
    env = TextTicTacToeEnv()
    env.reset(seed=0)
    with pytest.raises(TypeError, match=type(bad).__name__):
        env.step(bad)  # type: ignore[arg-type]


def test_stepping_a_finished_or_unstarted_episode_raises() -> None:
    env = TextTicTacToeEnv()
    with pytest.raises(EpisodeOverError, match="reset"):
        env.step("5")
    env.reset(seed=0)
    env.step("nonsense")
    with pytest.raises(EpisodeOverError, match="reset"):
        env.step("5")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"random_move_prob": 1.5},
        {"random_move_prob": "hard"},
        {"agent_mark": "Z"},
        {"agent_first": "yes"},
        {"render_mode": "rgb"},
        {"win_reward": float("inf")},
        {"opponent": object()},
    ],
)
def test_bad_keyword_arguments_raise_value_error_showing_the_value(kwargs: dict) -> None:
    with pytest.raises(ValueError) as err:
        TextTicTacToeEnv(**kwargs)
    value = next(iter(kwargs.values()))
    assert repr(value)[:10] in str(err.value) or str(value)[:10] in str(err.value)


def test_reset_options_override_one_episode() -> None:
    env = TextTicTacToeEnv(agent_mark="X", agent_first=True)
    _, info = env.reset(seed=0, options={"agent_mark": "O", "agent_first": False})
    assert info["agent_mark"] == "O" and info["first_mark"] == "X"
    _, info = env.reset(seed=0)
    assert info["agent_mark"] == "X" and info["first_mark"] == "X"
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"difficulty": 3})


def test_perfect_opponent_never_loses_to_random_play() -> None:
    env = TextTicTacToeEnv(random_move_prob=0.0)
    rng = np.random.default_rng(0)
    results = []
    for seed in range(300):
        _, info = env.reset(seed=seed)
        while True:
            legal = info["legal_actions"]
            _, _, terminated, _, info = env.step(legal[int(rng.integers(len(legal)))])
            if terminated:
                results.append(info["result"])
                break
    assert "win" not in results
    assert results.count("loss") > 200


@pytest.mark.parametrize("mode", ["ansi", "human"])
def test_render_modes(mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    env = TextTicTacToeEnv(render_mode=mode, agent_first=True)
    obs, _ = env.reset(seed=0)
    out = env.render()
    if mode == "ansi":
        assert out == obs
    else:
        assert out is None and obs in capsys.readouterr().out


HOSTILE = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8")),
    st.sampled_from(["", "\x00", "\x00" * 10, " 5 ", "5\n", "\u0665", "x" * (1 << 20), "\r\n"]),
)


class TicTacToeMachine(RuleBasedStateMachine):
    """Drive the env with arbitrary strings and valid moves; check invariants every step."""

    @initialize(seed=st.integers(0, 2**31 - 1), p=st.sampled_from([0.0, 0.5, 1.0]))
    def start(self, seed: int, p: float) -> None:
        self.env = TextTicTacToeEnv(random_move_prob=p)
        self.obs, self.info = self.env.reset(seed=seed)
        self.done = False
        self.seed = seed
        self.last_reward = 0.0

    @precondition(lambda self: not self.done)
    @rule(data=st.data())
    def legal_move(self, data: st.DataObject) -> None:
        action = data.draw(st.sampled_from(self.info["legal_actions"]))
        before = self.info["board"]
        self._step(action)
        assert self.info["board"][int(action) - 1] == self.info["agent_mark"]
        assert self.info["board"].count(".") in (before.count(".") - 1, before.count(".") - 2)
        assert not self.info["invalid_action"]

    @precondition(lambda self: not self.done)
    @rule(action=HOSTILE)
    def any_string(self, action: str) -> None:
        before = self.info["board"]
        legal = action.strip() in self.info["legal_actions"]
        self._step(action)
        if not legal:
            assert self.done and self.info["invalid_action"] and self.info["board"] == before
            assert self.last_reward == self.env.outcome_rewards["loss"]

    @precondition(lambda self: self.done)
    @rule()
    def step_after_end_raises(self) -> None:
        with pytest.raises(EpisodeOverError):
            self.env.step("5")

    @rule(seed=st.integers(0, 2**31 - 1))
    def reset(self, seed: int) -> None:
        self.obs, self.info = self.env.reset(seed=seed)
        self.done = False
        self.last_reward = 0.0

    def _step(self, action: str) -> None:
        self.obs, reward, terminated, truncated, self.info = self.env.step(action)
        assert not truncated
        self.done = terminated
        self.last_reward = reward
        assert reward == self.info["reward_components"]["outcome"]
        if not terminated:
            assert reward == 0.0

    @invariant()
    def consistent(self) -> None:
        board = self.info["board"]
        assert self.obs in self.env.observation_space
        assert rules.is_valid_board(board)
        assert abs(board.count("X") - board.count("O")) <= 1
        assert self.info["turn"] == board.count(self.info["agent_mark"]) + int(
            self.info["invalid_action"]
        )
        if not self.done:
            assert self.info["legal_actions"] == [str(c + 1) for c in rules.legal_moves(board)]
            assert self.info["legal_actions"], "a running game always has a legal move"
            assert rules.to_move(board, self.info["first_mark"]) == self.info["agent_mark"]
        else:
            assert self.info["result"] in ("win", "draw", "loss")
            assert "Game over" in self.obs
        assert str(self.seed) not in self.obs or len(str(self.seed)) < 4


TicTacToeMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25)
test_state_machine = TicTacToeMachine.TestCase


def same_games(style: str, pick: int):
    """(full-style obs, ``style`` obs, info) at every step of 20 games played in both styles.

    Also checks that the two envs play the same game: only the text differs.
    """
    full = gym.make("TextTicTacToe-v0", random_move_prob=0.5)
    styled = gym.make("TextTicTacToe-v0", random_move_prob=0.5, observation_style=style)
    for seed in range(20):
        obs_f, info_f = full.reset(seed=seed)
        obs, info = styled.reset(seed=seed)
        while True:
            assert info == info_f
            yield obs_f, obs, info
            if info["result"] is not None:
                break
            move = info["legal_actions"][pick]
            obs_f, _, _, _, info_f = full.step(move)
            obs, _, _, _, info = styled.step(move)


def test_compact_style_shows_the_same_game_in_one_line() -> None:
    for obs_f, obs_c, info_c in same_games("compact", pick=-1):
        assert "\n" not in obs_c and len(obs_c) < len(obs_f) / 3
        cells = obs_c.split()[1].replace("/", "")
        assert cells == "".join(
            c if c != "." else str(i + 1) for i, c in enumerate(info_c["board"])
        )
        if info_c["result"] is not None:
            assert obs_c.endswith(info_c["result"])
        else:
            assert obs_c.endswith("legal " + "".join(info_c["legal_actions"]))
    with pytest.raises(ValueError, match="observation_style"):
        gym.make("TextTicTacToe-v0", observation_style="tiny")


def test_letters_style_names_each_cell_and_its_owner() -> None:
    for _, obs, info in same_games("letters", pick=0):
        mark, rows = obs.split()[:2]
        assert mark == info["agent_mark"] and "\n" not in obs
        shown_cells = rows.replace("/", "")
        for i, (shown, held) in enumerate(zip(shown_cells, info["board"], strict=True)):
            expected = {".": str(i + 1), mark: "abcdefghi"[i]}.get(held, "ABCDEFGHI"[i])
            assert shown == expected
        if info["result"] is not None:
            assert obs.endswith(info["result"])
        else:
            assert obs == f"{mark} {rows}"  # the free cells are the legal moves
    letters = gym.make("TextTicTacToe-v0", observation_style="letters")
    assert "1B3/4e6/78I" in letters.unwrapped.system_prompt


@pytest.mark.parametrize(
    ("board", "mark", "first"),
    [
        ("X...O....", "X", "X"),  # as many X as O: the agent moved first
        ("X...O....", "O", "O"),
        ("X........", "O", "X"),  # one mark fewer: the opponent moved first
        ("OX.X.....", "O", "X"),
    ],
)
def test_reset_from_a_board(board: str, mark: str, first: str) -> None:
    env = TextTicTacToeEnv(observation_style="compact")
    obs, info = env.reset(seed=1, options={"board": board, "agent_mark": mark})
    assert (info["board"], info["agent_mark"], info["first_mark"]) == (board, mark, first)
    assert info["legal_actions"] == [str(c + 1) for c in rules.legal_moves(board)]
    assert obs.startswith(f"{mark} ")
    cell = rules.legal_moves(board)[0]
    _, _, _, _, info = env.step(str(cell + 1))
    assert info["board"][cell] == mark
    assert info["board"].count(rules.other(mark)) == board.count(rules.other(mark)) + (
        info["result"] is None
    )


def test_reset_from_a_board_infers_the_mark_to_move_and_shows_no_first_move_line() -> None:
    env = TextTicTacToeEnv()
    obs, info = env.reset(seed=0, options={"board": "XX..O...."})
    assert info["agent_mark"] == "O" and info["first_mark"] == "X"
    assert "You move first" not in obs and "You play O" in obs
    # the empty board with a given mark is the ordinary opening
    obs, info = env.reset(seed=0, options={"board": ".........", "agent_mark": "X"})
    assert "You move first" in obs and info["first_mark"] == "X"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"board": "XXX.OO..."}, "already over"),
        ({"board": "X..."}, "9 characters"),
        ({"board": 7}, "9 characters"),
        ({"board": "XX......."}, "not a position"),
        ({"board": "X........", "agent_mark": "X"}, "cannot be X's turn"),
        ({"board": "X...O....", "agent_mark": "X", "agent_first": False}, "disagrees"),
    ],
)
def test_reset_from_a_bad_board_is_refused(options: dict, message: str) -> None:
    env = TextTicTacToeEnv()
    with pytest.raises(ValueError, match=message):
        env.reset(seed=0, options=options)
