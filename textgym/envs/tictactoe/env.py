"""``TextTicTacToe-v0``: tic-tac-toe against a bot of chosen skill, spoken in text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from textgym.core import (
    OptionRange,
    ReferencePlayer,
    TextEnv,
    check_reset_options,
    text_space,
)
from textgym.envs.base.seat_env import PolicyPlayer, opponent_turns
from textgym.envs.tictactoe import rules
from textgym.envs.tictactoe.game import TicTacToeGame
from textgym.envs.tictactoe.opponents import Opponent, make_opponent
from textgym.envs.tictactoe.picture import draw_board
from textgym.envs.tictactoe.players import TicTacToeReference, named_players
from textgym.envs.tictactoe.rules import Board, Mark
from textgym.envs.tictactoe.solver import best_response_to_random
from textgym.envs.tictactoe.text import (
    ACTION_TO_CELL,
    CELL_ACTIONS,
    COMPACT_PROMPT,
    LETTERS_PROMPT,
    RULES_PROMPT,
    SYSTEM_PROMPT,
    ObservationStyle,
    compact_text,
    full_text,
    legal_action_strings,
    letters_text,
)

_POSITION_OPTIONS = ("agent_mark", "agent_first", "board")

#: The one curriculum option (built once: ``reset`` checks against it every episode).
_CURRICULUM = {
    "random_move_prob": OptionRange(
        0.0, 1.0, doc="opponent plays a random move with this probability"
    )
}

#: Builds the generator of the opponent's next reply from (episode key, state key).
TurnRngFactory = Callable[[int, int], np.random.Generator]


class TextTicTacToeEnv(TextEnv):
    """Tic-tac-toe against a minimax bot whose skill is set by ``random_move_prob``.

    ## Description
    The agent plays one game of tic-tac-toe per episode. The opponent replies inside the
    same ``step`` and opens the game at ``reset`` when it moves first. The opponent is
    perfect (minimax, uniform among all optimal moves) with probability
    ``1 - random_move_prob`` at every move and uniformly random otherwise.

    ## Action Space
    ``Text`` (printable ASCII, up to 8192 characters; any ``str`` is accepted). A legal
    action is the number of a free cell, ``"1"``..``"9"``, with optional surrounding
    whitespace. Anything else is an invalid action: the game ends as a loss with
    ``info["invalid_action"] = True``. (``TextTicTacToe-LLM-v0`` adds answer parsing and a
    retry with a penalty instead.) The observation words it as the game does, "Illegal
    move: ..." (``illegal: ...`` on one line): text a player reads, kept as it is so that
    models trained on it see what they saw in training.

    ## Observation Space
    ``Text`` (printable ASCII): which mark the agent plays, what the opponent just
    played, the board with free cells numbered, and the legal moves, or the result when
    the game is over. ``system_prompt`` holds the rules and the answer format. With
    ``observation_style="compact"`` it is one line such as ``X 1O3/4X6/78O legal 134678``
    (about a fifth of the characters: for tiny models trained from scratch, which learn to
    read a short line much faster than a drawn grid). With ``observation_style="letters"``
    each cell is one character that names both the cell and its owner, ``X 1B3/4e6/78I``:
    free cells are their number, the agent's cells the letters ``a``-``i``, the
    opponent's ``A``-``I``. A model that attends to the line as a bag of characters then
    already knows the whole position; a tiny model from scratch learns to play from it
    several times faster than from the compact line (see docs/tictactoe-study.md).

    ## Rewards
    On the final step: ``win_reward`` (1.0), ``draw_reward`` (0.5) or ``loss_reward``
    (0.0); 0.0 on every other step. ``info["reward_components"]["outcome"]`` repeats it.

    ## Episode End
    Terminated when a player completes a line, the board is full, or the agent plays an
    invalid action. Never truncated (a game lasts at most five agent moves).

    ## Arguments
    * ``random_move_prob`` — opponent skill in [0, 1]: 0 perfect, 1 uniformly random.
    * ``agent_mark`` — ``"X"``, ``"O"`` or None (drawn from the episode seed).
    * ``agent_first`` — whether the agent moves first; None draws it from the episode seed.
    * ``render_mode`` — ``"ansi"`` (``render()`` returns the text), ``"human"`` (prints
      it) or ``"rgb_array"`` (the board drawn, ``uint8`` 192 x 192 x 3: what
      ``gymnasium.wrappers.RecordVideo`` films).
    * ``win_reward``, ``draw_reward``, ``loss_reward`` — the outcome rewards.
    * ``opponent`` — a custom ``Opponent`` (``textgym.envs.tictactoe.opponents``), or any
      policy (``complete(conversations)``: a model, a server, a scripted player) that
      reads its seat's board and answers a cell, in ``<move>N</move>`` or bare; an answer
      that names no free cell plays a random one instead (``info["opponent_fallbacks"]``
      counts them; ``info["opponent_turns"]`` holds its decisions since the agent's last
      move, and the last info ``opponent_outcome``, its outcome reward). Overrides
      ``random_move_prob``.
    * ``observation_style`` — ``"full"`` (the drawn board, default), ``"compact"`` or
      ``"letters"``.

    ``reset(options=...)`` accepts ``random_move_prob``, ``agent_mark`` and ``agent_first``
    to override them for that episode only, and ``board`` (9 characters of ``X``, ``O``,
    ``.``, as in ``info["board"]``) to start from that position with the agent to move:
    with as many X as O the agent moved first, with one mark fewer than the opponent the
    opponent did (``agent_first`` may be given too but must agree). A board whose game is
    over, or where the agent cannot be the one to move, is refused with ``ValueError``.

    ## Info
    ``legal_actions`` (exact legal action strings), ``board`` (9 characters of ``X``, ``O``,
    ``.``), ``agent_mark``, ``first_mark``, ``opponent_move`` (cell string or None),
    ``winner`` (``"X"``, ``"O"``, ``"draw"`` or None), ``result`` (``"win"``, ``"draw"``,
    ``"loss"`` or None), ``invalid_action``, ``invalid_reason``, ``turn`` (agent moves made),
    ``reward_components`` (``{"outcome": float}``); while the game runs, ``restart_options``
    (the ``board`` and ``agent_mark`` reset options that restart from this position: replay
    of lost positions uses them); when it ends, ``episode_metrics`` (``win``, ``draw``,
    ``loss``, each 0 or 1).

    ## Two seats
    The game itself is ``env.unwrapped.game``, a
    :class:`~textgym.envs.tictactoe.game.TicTacToeGame`: whose turn it is, each seat's
    view, the board. The agent plays its seat ``agent_seat`` (0 moves first). The same
    game is seen by both seats from outside through
    :func:`textgym.integrations.pettingzoo.aec_env`.

    ## Version History
    * v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "human", "rgb_array"], "render_fps": 1}

    def __init__(
        self,
        random_move_prob: float = 0.0,
        agent_mark: Mark | None = None,
        agent_first: bool | None = None,
        render_mode: str | None = None,
        win_reward: float = 1.0,
        draw_reward: float = 0.5,
        loss_reward: float = 0.0,
        opponent: Opponent | None = None,
        observation_style: ObservationStyle = "full",
    ) -> None:
        if observation_style not in ("full", "compact", "letters"):
            raise ValueError(
                "observation_style must be 'full', 'compact' or 'letters', "
                f"got {observation_style!r}"
            )
        self.observation_style = observation_style
        self.random_move_prob = _check_prob(random_move_prob)
        self.agent_mark = _check_mark(agent_mark)
        self.agent_first = _check_first(agent_first)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode
        for name, value in (("win", win_reward), ("draw", draw_reward), ("loss", loss_reward)):
            if not np.isfinite(value):
                raise ValueError(f"{name}_reward must be a finite number, got {value!r}")
        self.outcome_rewards = {
            "win": float(win_reward),
            "draw": float(draw_reward),
            "loss": float(loss_reward),
        }
        #: The game itself: whose turn it is, each seat's view, the board; the agent plays
        #: its seat ``agent_seat`` (0 moves first).
        self.game = TicTacToeGame(observation_style)
        is_policy = callable(getattr(opponent, "complete", None))
        if is_policy and not callable(getattr(opponent, "act", None)):  # it reads its seat
            opponent = PolicySeat(PolicyPlayer(opponent, answer_tag="move"), self.game)
        if opponent is not None and not callable(getattr(opponent, "act", None)):
            raise ValueError(
                "opponent must be a bot with an act(board, rng, first) method or a policy "
                f"with complete(conversations), got {opponent!r}"
            )
        self._custom_opponent = opponent
        self.opponent: Opponent = opponent or make_opponent(self.random_move_prob)

        self.rules_prompt = RULES_PROMPT
        self.system_prompt = SYSTEM_PROMPT
        if observation_style != "full":
            self.rules_prompt += (
                COMPACT_PROMPT if observation_style == "compact" else LETTERS_PROMPT
            )
            self.system_prompt = self.rules_prompt + SYSTEM_PROMPT[len(RULES_PROMPT) :]
        self.observation_space = text_space(1024)
        self.action_space = text_space(8192)

        #: Replaces ``self.np_random`` for the opponent's replies when set (see
        #: :class:`textgym.wrappers.PerTurnSeeding`).
        self.turn_rng_factory: TurnRngFactory | None = None
        self.episode_key = 0
        self._mark: Mark = "X"
        self._first: Mark = "X"
        self._opponent_move: int | None = None
        self._turn = 0
        self._episode_active = False
        self._episode_opponent: Opponent = self.opponent
        self._last_text = ""

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Start a new game; the opponent opens it when it moves first."""
        super().reset(seed=seed)
        options = check_reset_options(
            self, options, self.curriculum_options(), other=_POSITION_OPTIONS
        )
        # One draw per episode, whatever the configuration: the key seeds per-turn opponent
        # generators (PerTurnSeeding) and its low bits pick the mark and the seat when unset.
        self.episode_key = key = int(self.np_random.integers(2**63))
        mark_draw, first_draw = key & 1, (key >> 1) & 1

        mark = _check_mark(options.get("agent_mark", self.agent_mark))
        first = _check_first(options.get("agent_first", self.agent_first))
        self._mark = mark if mark is not None else rules.MARKS[mark_draw]
        agent_first = first if first is not None else bool(first_draw)
        self._first = self._mark if agent_first else rules.other(self._mark)
        if "random_move_prob" in options:
            if self._custom_opponent is not None:
                raise ValueError("random_move_prob cannot be set when a custom opponent is used")
            self._episode_opponent = make_opponent(_check_prob(options["random_move_prob"]))
        else:
            self._episode_opponent = self.opponent

        self._opponent_move = None
        self._turn = 0
        self._episode_active = True
        board = rules.EMPTY_BOARD
        if "board" in options:
            board, self._mark, self._first = _check_start_board(
                options["board"], mark, self._mark, _check_first(options.get("agent_first"))
            )
        self.game.start(self.np_random, {"first_mark": self._first, "board": board})
        if "board" not in options and not agent_first:
            self._opponent_plays()
        obs = self._observe(None, "none")
        if self.render_mode == "human":
            self.render()
        return obs, self._info(None, "none", 0.0)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Play the agent's move, then the opponent's reply if the game goes on."""
        action = self._check_action(action)
        cell = ACTION_TO_CELL.get(action.strip())
        invalid_reason: str | None = None
        if cell is None or self._board[cell] != rules.EMPTY:
            invalid_reason = self.explain_invalid(action)
        self._turn += 1
        if invalid_reason is None:
            self.game.play(CELL_ACTIONS[cell])
            self._opponent_move = None
            if rules.winner(self._board) is None:
                self._opponent_plays()
        result = self._result(invalid_reason)
        terminated = result != "none"
        outcome = self.outcome_rewards[result] if terminated else 0.0
        self._episode_active = not terminated
        obs = self._observe(invalid_reason, result)
        if self.render_mode == "human":
            self.render()
        return obs, outcome, terminated, False, self._info(invalid_reason, result, outcome)

    def render(self) -> str | np.ndarray | None:
        """Return (``"ansi"``) or print (``"human"``) the current observation text, or
        return the board drawn as a 192 x 192 x 3 ``uint8`` array, the last move shaded
        (``"rgb_array"``, :func:`~textgym.envs.tictactoe.picture.draw_board`)."""
        if self.render_mode is None:
            return None
        if self.render_mode == "rgb_array":
            return draw_board(self._board, last_move=self.game.last_move)
        if self.render_mode == "human":
            print(self._last_text + "\n")
            return None
        return self._last_text

    # ------------------------------------------------------------------ game logic

    @property
    def _board(self) -> Board:
        return self.game.board

    @property
    def agent_seat(self) -> int:
        """The agent's seat in :attr:`game` (0 moves first)."""
        return 0 if self._first == self._mark else 1

    def _opponent_plays(self) -> None:
        if self.turn_rng_factory is not None:
            rng = self.turn_rng_factory(self.episode_key, self.state_key())
        else:
            rng = self.np_random
        board = self._board
        cell = int(self._episode_opponent.act(board, rng, self._first))
        if not 0 <= cell < 9 or board[cell] != rules.EMPTY:
            raise RuntimeError(f"opponent {self._episode_opponent!r} played invalid cell {cell}")
        self.game.play_cell(cell)
        self._opponent_move = cell

    def _result(self, invalid_reason: str | None) -> str:
        return "loss" if invalid_reason is not None else self.game.outcome(self.agent_seat)

    def _observe(self, invalid_reason: str | None, result: str) -> str:
        if self.observation_style == "compact":
            self._last_text = compact_text(self._board, self._mark, invalid_reason, result)
        elif self.observation_style == "letters":
            self._last_text = letters_text(self._board, self._mark, invalid_reason, result)
        else:
            self._last_text = full_text(
                self._board,
                self._mark,
                self._opponent_move,
                self._turn == 0 and self._board == rules.EMPTY_BOARD,
                invalid_reason,
                result,
            )
        return self._last_text

    def _info(self, invalid_reason: str | None, result: str, outcome: float) -> dict[str, Any]:
        move = self._opponent_move
        info: dict[str, Any] = {
            "legal_actions": [] if invalid_reason else list(legal_action_strings(self._board)),
            "board": self._board,
            "agent_mark": self._mark,
            "first_mark": self._first,
            "opponent_move": None if move is None else CELL_ACTIONS[move],
            "winner": rules.winner(self._board),
            "result": None if result == "none" else result,
            "invalid_action": invalid_reason is not None,
            "invalid_reason": invalid_reason,
            "turn": self._turn,
            "reward_components": {"outcome": outcome},
        }
        if isinstance(self._episode_opponent, PolicySeat):
            info["opponent_fallbacks"] = self._episode_opponent.player.fallbacks
            info["opponent_turns"] = opponent_turns(self._episode_opponent.player)
            if result != "none":
                info["opponent_outcome"] = self.outcome_rewards[_OTHER_SIDE[result]]
                info["opponent_forfeit_outcome"] = self.outcome_rewards["loss"]
        if result == "none":
            info["restart_options"] = {"board": self._board, "agent_mark": self._mark}
        else:
            info["episode_metrics"] = {
                "win": float(result == "win"),
                "draw": float(result == "draw"),
                "loss": float(result == "loss"),
            }
        return info

    # ------------------------------------------------------------------ textgym hooks

    markov_observations = True
    rate_metrics = ("win", "draw", "loss")

    def curriculum_options(self) -> dict[str, OptionRange]:
        """``random_move_prob``: the opponent's skill (0 perfect, 1 random)."""
        return _CURRICULUM

    def state_key(self) -> int:
        """The board (:func:`~textgym.envs.tictactoe.game.board_code`)."""
        return self.game.state_key()

    def reference_player(self) -> ReferencePlayer:
        """:class:`~textgym.envs.tictactoe.players.TicTacToeReference`."""
        return TicTacToeReference()

    def named_players(self) -> dict[str, Callable[[str | None, int], Any]]:
        """``minimax``, ``random`` and ``teacher:Q``."""
        return named_players()

    def evaluation_conditions(self) -> dict[str, dict[str, Any]]:
        """``optimal`` and ``random`` opponents."""
        return {"optimal": {"random_move_prob": 0.0}, "random": {"random_move_prob": 1.0}}

    def parse_condition(self, spec: str) -> dict[str, Any]:
        """``optimal``, ``random``, a bare ``random_move_prob`` in [0, 1], or ``NAME=VALUE``."""
        try:
            p = float(spec)
        except ValueError:
            return super().parse_condition(spec)
        if not 0.0 <= p <= 1.0:
            raise ValueError(
                f"unknown opponent {spec!r}; choose one of: optimal, random, "
                "P (random-move probability in [0, 1])"
            )
        return {"random_move_prob": p}

    def evaluation_note(self, options: dict[str, Any]) -> str | None:
        """Against the random opponent, the exact ceiling of a best response."""
        if options.get("random_move_prob") != 1.0:
            return None

        first = best_response_to_random("first").outcomes
        second = best_response_to_random("second").outcomes
        return (
            "Ceiling vs a random opponent (exact, best response): "
            f"moving first {float(first.win):.1%} win / {float(first.loss):.1%} loss, "
            f"moving second {float(second.win):.1%} win / {float(second.loss):.1%} loss."
        )

    def explain_invalid(self, action: str) -> str:
        """Why ``action`` is not a legal move now, in a few words for the player."""
        cell = ACTION_TO_CELL.get(action.strip()) if isinstance(action, str) else None
        if cell is None:
            return "not a cell number from 1 to 9"
        if self._board[cell] != rules.EMPTY:
            return f"cell {cell + 1} is taken"
        return "the game is over" if not self._episode_active else "not a legal move"

    def picture_state(self, info: dict[str, Any]) -> str | None:
        """The board in ``info`` and the opponent's last move (``"XO.......:4"``)."""
        board = info.get("board")
        if not isinstance(board, str) or len(board) != 9 or set(board) - {"X", "O", "."}:
            return None
        move = ACTION_TO_CELL.get(str(info.get("opponent_move")))
        return f"{board}:{'' if move is None else move}"

    def draw_picture(self, state: str) -> np.ndarray:
        """The board of a :meth:`picture_state` key, the opponent's last move shaded."""
        board, _, move = state.partition(":")
        return draw_board(board, last_move=int(move) if move else None)

    def hidden_strings(self) -> list[str]:
        """The episode key that seeds the opponent must never be shown."""
        return [str(self.episode_key)] if self.episode_key > 10**6 else []


class PolicySeat:
    """A seat player (e.g. a :class:`~textgym.envs.base.seat_env.PolicyPlayer`) as the
    env's ``Opponent``: it plays the seat to move of ``game``, the env's own game."""

    def __init__(self, player: PolicyPlayer, game: TicTacToeGame) -> None:
        self.player = player
        self.game = game

    def act(self, board: Board, rng: np.random.Generator, first: Mark = "X") -> int:
        """The cell the player names for the seat to move."""
        seat = self.game.to_move()
        if seat is None:
            raise ValueError("no legal move: the game is over")
        return ACTION_TO_CELL[self.player.act(self.game, seat, rng)]

    def __repr__(self) -> str:
        return f"PolicySeat({self.player.policy!r})"


#: A result of the agent, seen from the opponent's seat.
_OTHER_SIDE = {"win": "loss", "draw": "draw", "loss": "win"}


def _check_prob(p: object) -> float:
    try:
        value = float(p)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"random_move_prob must be a number in [0, 1], got {p!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"random_move_prob must be in [0, 1], got {p!r}")
    return value


def _check_start_board(
    board: object, mark: Mark | None, drawn_mark: Mark, agent_first: bool | None
) -> tuple[Board, Mark, Mark]:
    """Validate a ``board`` reset option; return it, the agent's mark and the first mark.

    Without an explicit ``mark`` the agent is the mark with fewer marks on the board, or
    ``drawn_mark`` when both have as many.
    """
    if not rules.is_valid_board(board):
        raise ValueError(f"board must be 9 characters of 'X', 'O' and '.', got {board!r}")
    if rules.is_over(board):  # type: ignore[arg-type]
        raise ValueError(f"the game on board {board!r} is already over")
    xs, os_ = board.count("X"), board.count("O")  # type: ignore[union-attr]
    if abs(xs - os_) > 1:
        raise ValueError(f"board {board!r} is not a position of a game (marks alternate)")
    if mark is None:
        mark = drawn_mark if xs == os_ else ("X" if xs < os_ else "O")
    mine, theirs = board.count(mark), board.count(rules.other(mark))  # type: ignore[union-attr]
    if mine == theirs:
        first = mark
    elif mine == theirs - 1:
        first = rules.other(mark)
    else:
        raise ValueError(
            f"on board {board!r} it cannot be {mark}'s turn ({mine} {mark} against "
            f"{theirs} {rules.other(mark)}); set agent_mark to the mark that moves next"
        )
    if agent_first is not None and agent_first != (first == mark):
        raise ValueError(
            f"agent_first={agent_first} disagrees with board {board!r}, where {first} moved first"
        )
    return board, mark, first  # type: ignore[return-value]


def _check_mark(mark: object) -> Mark | None:
    if mark is None or mark in rules.MARKS:
        return mark  # type: ignore[return-value]
    raise ValueError(f"agent_mark must be 'X', 'O' or None, got {mark!r}")


def _check_first(first: object) -> bool | None:
    if first is None or isinstance(first, (bool, np.bool_)):
        return None if first is None else bool(first)
    raise ValueError(f"agent_first must be True, False or None, got {first!r}")
