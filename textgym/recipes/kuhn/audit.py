"""The exact audit of a Kuhn poker player: the strategy it plays, and its exploitability.

Kuhn poker has 12 information sets (:data:`~textgym.envs.kuhn.solver.INFOSETS`). The audit
puts the policy in each of them through the env's own wrappers and view, as in a real
hand (the opponent is scripted to play the history that leads there), asks for one
answer per information set, and reads the action the env took. A greedy policy then
plays a pure strategy, known exactly, and so is its exploitability
(:func:`~textgym.envs.kuhn.solver.exploitability`: what a best responder wins from it) and
its value against an equilibrium in each seat: the counterpart of the tic-tac-toe audit
against every line of perfect play.

An answer the env does not take as a legal action counts as the passive action there
(check or fold) and is counted in ``invalid``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import gymnasium as gym
import numpy as np

from textgym.core import Policy
from textgym.envs.base.turn_based import TurnBasedGame
from textgym.envs.kuhn.rules import CARDS, legal_actions
from textgym.envs.kuhn.solver import (
    INFOSETS,
    InfoSet,
    Strategy,
    equilibrium,
    exploitability,
    value,
)
from textgym.view import View, as_view
from textgym.wrappers.chat import ChatHistory


class _Script:
    """The opponent that plays the given actions, in order, then its first legal one (the
    hand after the audited decision does not matter)."""

    def __init__(self, actions: tuple[str, ...]) -> None:
        self.actions = list(actions)

    def act(self, game: TurnBasedGame, seat: int, rng: np.random.Generator) -> str:
        return self.actions.pop(0) if self.actions else game.legal_actions()[0]


@dataclass
class KuhnAudit:
    """A policy's strategy at every information set, and what it is worth."""

    strategy: Strategy
    """Probability of the aggressive action (bet, call) at each information set (0 or 1
    for a greedy policy; the share of aggressive answers when sampled)."""
    invalid: int
    """Answers that were no legal action (counted as passive)."""
    exploitability: Fraction
    """Chips a hand a best responder wins from it, on average over the seats (0: an
    equilibrium)."""
    value_first: Fraction
    """Its mean chips a hand as player 1 against the equilibrium (the best is -1/18)."""
    value_second: Fraction
    """Its mean chips a hand as player 2 against the equilibrium (the best is +1/18)."""


def _format(env: gym.Env, action: str) -> str:
    try:
        return env.get_wrapper_attr("format_action")(action)
    except AttributeError:
        return action


def _at_infoset(view: View, seat: int, card: str, history: tuple[str, ...]) -> ChatHistory:
    """An env under ``view`` where the agent holds ``card`` in ``seat`` after ``history``."""
    other = next(c for c in CARDS if c != card)
    cards = (card, other) if seat == 0 else (other, card)
    theirs = tuple(a for i, a in enumerate(history) if i % 2 != seat)
    env = ChatHistory(
        gym.make(view.env_id, opponent=_Script(theirs)), system_prompt=view.system_prompt
    )
    env.reset(seed=0, options={"agent_seat": seat, "cards": cards})
    for i, action in enumerate(history):
        if i % 2 == seat:  # the agent's own earlier action
            env.step(_format(env, action))
    return env


def audit_kuhn(
    policy: Policy, view: View | str = "TextKuhnPoker-LLM-v0", samples: int = 1
) -> KuhnAudit:
    """Ask ``policy`` ``samples`` times at each of the 12 information sets under ``view``
    (its env, history and system prompt; one batched call) and return its strategy and
    its worth.

    With ``samples=1`` and a greedy policy the strategy is exact, and so is everything
    computed from it. A sampling policy asked ``samples`` times gives the share of
    aggressive answers at each information set: an estimate of its mixed strategy (each
    share has a standard error of at most ``0.5 / sqrt(samples)``), whose exploitability
    and values are then exact for that estimate.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    view = as_view(view)
    keys = [(seat, key) for seat in (0, 1) for key in INFOSETS[seat]]
    envs = [_at_infoset(view, seat, *key) for seat, key in keys for _ in range(samples)]
    answers = policy.complete([view.visible(env.messages) for env in envs])
    bets: dict[InfoSet, int] = {key: 0 for _, key in keys}
    invalid = 0
    for env, (_, key), answer in zip(
        envs, [k for k in keys for _ in range(samples)], answers, strict=True
    ):
        game = env.unwrapped.game
        before = len(game.history)
        env.step(answer.text)
        played = game.history[before] if len(game.history) > before else None
        if played not in legal_actions(key[1]):
            invalid += 1
        bets[key] += played in ("bet", "call")
        env.close()
    strategy: Strategy = {key: Fraction(n, samples) for key, n in bets.items()}
    eq = equilibrium()
    return KuhnAudit(
        strategy=strategy,
        invalid=invalid,
        exploitability=Fraction(exploitability(strategy)),
        value_first=Fraction(value(strategy, eq)),
        value_second=Fraction(-value(eq, strategy)),
    )


__all__ = ["InfoSet", "KuhnAudit", "audit_kuhn"]
