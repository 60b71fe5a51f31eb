"""Scripted Kuhn poker players: the opponent bot inside the env, and the reference player
that reads a conversation as a model does."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np

from textgym.core import Conversation
from textgym.envs.base.turn_based import TurnBasedGame
from textgym.envs.kuhn.rules import legal_actions
from textgym.envs.kuhn.solver import Strategy, check_strategy, equilibrium

_AGGRESSIVE = ("bet", "call")


def strategy_action(
    strategy: Strategy, card: str, history: tuple[str, ...], rng: np.random.Generator
) -> str:
    """Sample ``strategy``'s action at ``(card, history)`` (one ``rng.random()`` draw)."""
    aggressive, passive = legal_actions(history)
    if aggressive not in _AGGRESSIVE:  # ("check", "bet") lists the passive one first
        aggressive, passive = passive, aggressive
    return aggressive if rng.random() < float(strategy[(card, history)]) else passive


class KuhnBot:
    """The env's opponent: ``strategy`` (an equilibrium by default), except that with
    probability ``random_move_prob`` it plays a uniformly random legal action. Every
    decision draws two numbers from the generator."""

    def __init__(self, strategy: Strategy | None = None, random_move_prob: float = 0.0) -> None:
        self.strategy = equilibrium() if strategy is None else strategy
        check_strategy(self.strategy)
        p = float(random_move_prob)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"random_move_prob must be in [0, 1], got {random_move_prob!r}")
        self.random_move_prob = p

    def act(self, game: TurnBasedGame, seat: int, rng: np.random.Generator) -> str:
        """An action for ``seat`` from its information set only."""
        card, history = game.information_set(seat)  # type: ignore[attr-defined]
        if rng.random() < self.random_move_prob:
            return legal_actions(history)[int(rng.random() * 2)]
        return strategy_action(self.strategy, card, history, rng)

    def __repr__(self) -> str:
        return f"KuhnBot(random_move_prob={self.random_move_prob})"


_CARD = re.compile(r"You are player ([12]) of 2\. Your card: ([JQK])\.")
_MOVE = re.compile(r"Player [12] (checked|bet|called|folded)\.")
_PRESENT = {"checked": "check", "bet": "bet", "called": "call", "folded": "fold"}


def read_information_set(observation: str) -> tuple[str, tuple[str, ...]] | None:
    """(card, history) from a Kuhn poker observation, or None when it shows none."""
    head = _CARD.search(observation)
    if head is None:
        return None
    history = tuple(_PRESENT[w] for w in _MOVE.findall(observation[head.end() :]))
    return head.group(2), history


class KuhnReference:
    """The reference player: an equilibrium strategy (``alpha`` as in
    :func:`~textgym.envs.kuhn.solver.equilibrium`). Its answer is mixed, as poker needs, so
    it draws from the generator it is given; its mistake is the action the equilibrium
    plays less often there (never, at most information sets)."""

    def __init__(self, alpha: Fraction | float = Fraction(1, 6)) -> None:
        self.strategy = equilibrium(alpha)

    def _infoset(self, conversation: Conversation) -> tuple[str, tuple[str, ...]]:
        users = [m["content"] for m in conversation if m.get("role") == "user"]
        state = read_information_set(users[-1]) if users else None
        if state is None or not legal_actions(state[1]):
            raise ValueError("the conversation shows no Kuhn poker decision")
        return state

    def answer(self, conversation: Conversation, rng: np.random.Generator | None = None) -> str:
        """The equilibrium's action (sampled from ``rng``; without one, its likelier action)."""
        card, history = self._infoset(conversation)
        if rng is not None:
            return strategy_action(self.strategy, card, history, rng)
        return self._ranked(card, history)[0]

    def mistake(self, conversation: Conversation, rng: np.random.Generator) -> str:
        """The action the equilibrium plays less often at this information set."""
        card, history = self._infoset(conversation)
        return self._ranked(card, history)[1]

    def _ranked(self, card: str, history: tuple[str, ...]) -> tuple[str, str]:
        p = self.strategy[(card, history)]
        aggressive, passive = sorted(legal_actions(history), key=lambda a: a not in _AGGRESSIVE)
        return (aggressive, passive) if p > Fraction(1, 2) else (passive, aggressive)


__all__ = ["KuhnBot", "KuhnReference", "read_information_set", "strategy_action"]
