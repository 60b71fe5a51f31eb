"""The turn-based multi-seat core: the rules of a game whose seats take turns.

A :class:`TurnBasedGame` says whose turn it is (:meth:`~TurnBasedGame.to_move`), what each
seat may see (:meth:`~TurnBasedGame.observe`, only that seat's own information: a card
game never shows the other hand), which actions the seat to move has
(:meth:`~TurnBasedGame.legal_actions`), and each seat's return when the game is over
(:meth:`~TurnBasedGame.returns`, zero-sum for two-player games). Chance (a deal, a coin)
draws from the generator the game is started with, and only from it.

A game is not a Gymnasium env. Envs and views are built on it:

- a task's single-agent env plays one seat and lets an opponent play the others
  (``TextTicTacToe-v0`` keeps its board in a :class:`~textgym.envs.tictactoe.game.TicTacToeGame`);
- :func:`textgym.integrations.pettingzoo.aec_env` shows any game to multi-agent tools as
  a PettingZoo ``AECEnv`` with text spaces, every seat played from outside.

The game takes only legal actions: reading a model's answer (tags, whitespace, an illegal
move and its penalty) belongs to the env and its wrappers, which ask
:meth:`~TurnBasedGame.parse_action` and :meth:`~TurnBasedGame.explain_illegal`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


class TurnBasedGame(ABC):
    """The rules and the state of one game of seats that take turns.

    Subclasses set :attr:`seats` and implement the abstract methods; one instance plays one
    game at a time, started by :meth:`start`.
    """

    seats: tuple[str, ...] = ("player_0", "player_1")
    """The seats' names, in the order of their indices (PettingZoo's agent names)."""

    observation_length: int = 1024
    """Most characters of an observation (the text space's ``max_length``)."""

    rules: str = ""
    """The rules and the answer format, as a player reads them (a system prompt)."""
    forfeit_return: float = -1.0
    """What a seat that forfeits gets (:meth:`forfeit`); the others share the opposite."""

    start_options: tuple[str, ...] = ()
    """The keys :meth:`start` accepts in its options."""

    @abstractmethod
    def start(self, rng: np.random.Generator, options: dict[str, Any] | None = None) -> None:
        """Start a new game; chance events of the whole game draw from ``rng``."""

    @abstractmethod
    def to_move(self) -> int | None:
        """The index of the seat whose turn it is; None when the game is over."""

    @abstractmethod
    def observe(self, seat: int) -> str:
        """What ``seat`` may see now (its own cards, the public moves, the result)."""

    @abstractmethod
    def legal_actions(self) -> tuple[str, ...]:
        """The exact action strings the seat to move may play (empty when over)."""

    @abstractmethod
    def play(self, action: str) -> None:
        """Play ``action``, one of :meth:`legal_actions`, for the seat to move.

        Raises ``ValueError`` for anything else: a game never guesses."""

    @abstractmethod
    def forfeit(self, reason: str) -> None:
        """The seat to move loses the game at once (it answered something that is not a
        legal action; ``reason`` says what, and its observation shows it): the game is
        over, that seat's return is -1 and every other seat's 1."""

    @abstractmethod
    def returns(self) -> tuple[float, ...]:
        """Each seat's return, in seat order (zeros while the game runs)."""

    def is_over(self) -> bool:
        """Whether the game has ended."""
        return self.to_move() is None

    def parse_action(self, text: str) -> str | None:
        """The legal action ``text`` names (surrounding whitespace ignored), else None."""
        action = text.strip() if isinstance(text, str) else None
        return action if action in self.legal_actions() else None

    def explain_illegal(self, text: str) -> str:
        """Why ``text`` is not a legal action now, in words a player reads (the default
        does not repeat the text: an observation holds only what its space allows)."""
        return f"not one of {', '.join(self.legal_actions())}"

    def state_key(self) -> int:
        """A key of what the seat to move may know, stable across processes (per-turn
        seeding of opponents, :class:`textgym.wrappers.PerTurnSeeding`). The default: the
        CRC32 of its observation."""
        import zlib

        seat = self.to_move()
        return zlib.crc32(self.observe(0 if seat is None else seat).encode())


def check_seat(game: TurnBasedGame, seat: object) -> int:
    """``seat`` as an index of ``game.seats`` (an index or a seat name), else ValueError."""
    if isinstance(seat, str) and seat in game.seats:
        return game.seats.index(seat)
    if isinstance(seat, int) and not isinstance(seat, bool) and 0 <= seat < len(game.seats):
        return seat
    raise ValueError(f"seat must be one of {list(game.seats)} or an index, got {seat!r}")


__all__ = ["TurnBasedGame", "check_seat"]
