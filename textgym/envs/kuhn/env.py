"""``TextKuhnPoker-v0``: one seat of Kuhn poker against a bot of chosen skill."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from textgym.core import OptionRange, Policy, ReferencePlayer
from textgym.envs.base.seat_env import SeatEnv, SeatPlayer
from textgym.envs.kuhn.game import KuhnPokerGame
from textgym.envs.kuhn.players import KuhnBot, KuhnReference
from textgym.envs.kuhn.solver import equilibrium

_CURRICULUM = {
    "random_move_prob": OptionRange(
        0.0, 1.0, doc="opponent plays a random action with this probability"
    )
}


class TextKuhnPokerEnv(SeatEnv):
    """Kuhn poker: three cards, one chip ante, one bet, against an equilibrium bot.

    ## Description
    Each episode is one hand (:mod:`textgym.envs.kuhn.rules`). The agent holds one seat
    (drawn per episode, or ``agent_seat``); the opponent plays the other with an
    equilibrium strategy (:func:`~textgym.envs.kuhn.solver.equilibrium`, ``alpha``), and
    with probability ``random_move_prob`` a random legal action instead. No strategy wins
    against an equilibrium on average: the best mean return is the game's value, -1/18 of
    a chip as player 1 and +1/18 as player 2.

    ## Action Space
    ``Text``: ``check`` or ``bet`` without a bet to answer, ``call`` or ``fold`` facing one
    (case and surrounding whitespace ignored). Anything else forfeits the hand (the ante, 1
    chip) with ``info["invalid_action"]``; ``TextKuhnPoker-LLM-v0`` turns that into a retry
    with a penalty.

    ## Observation Space
    ``Text``: the agent's seat and card, the moves so far, its legal actions; at the end,
    the opponent's card if there was a showdown, and the chips won or lost.

    ## Rewards
    At the end of the hand, the agent's net chips: -2, -1, 1 or 2. 0 before.

    ## Episode End
    Terminated when the hand ends: a fold, a showdown or a forfeit. At most two agent
    decisions.

    ## Arguments
    * ``random_move_prob`` — opponent's mistakes in [0, 1]: 0 an equilibrium, 1 random.
    * ``alpha`` — which equilibrium the bot plays (in [0, 1/3], how often player 1 bluffs).
    * ``agent_seat`` — 0 (acts first), 1 or None (drawn from the episode seed).
    * ``opponent`` — any seat player or policy instead of the bot
      (:class:`~textgym.envs.base.seat_env.SeatEnv`); a policy's answer is read inside
      ``<action>...</action>`` when it has one, else whole.
    * ``render_mode`` — ``"ansi"`` or ``"human"``.

    ``reset(options=...)`` accepts ``random_move_prob``, ``agent_seat`` and ``cards`` (the
    deal, e.g. ``("K", "J")`` for player 1 and player 2).

    ## Info
    ``legal_actions``, ``seat``, ``invalid_action``, ``invalid_reason``,
    ``opponent_actions``, ``opponent_fallbacks``, ``reward_components`` (``outcome``); at
    the end ``episode_metrics``: ``return`` (net chips), ``win``, ``draw`` (never: a hand
    always has a winner), ``loss`` (0 or 1).

    ## Version History
    * v0: initial version.
    """

    def __init__(
        self,
        random_move_prob: float = 0.0,
        alpha: float | Fraction = Fraction(1, 6),
        agent_seat: int | str | None = None,
        opponent: SeatPlayer | Policy | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.alpha = Fraction(alpha).limit_denominator(1000)
        self._custom_opponent = opponent is not None
        bot = KuhnBot(equilibrium(self.alpha), random_move_prob)
        self.random_move_prob = bot.random_move_prob
        super().__init__(
            KuhnPokerGame(), opponent or bot, agent_seat, render_mode, answer_tag="action"
        )

    def episode_opponent(self, options: dict[str, Any]) -> SeatPlayer:
        """The bot at this episode's ``random_move_prob``, if given."""
        if "random_move_prob" not in options:
            return self.opponent
        if self._custom_opponent:
            raise ValueError("random_move_prob cannot be set when a custom opponent is used")
        return KuhnBot(equilibrium(self.alpha), options["random_move_prob"])

    def curriculum_options(self) -> dict[str, OptionRange]:
        """``random_move_prob`` in [0, 1]."""
        return _CURRICULUM

    def evaluation_conditions(self) -> dict[str, dict[str, Any]]:
        """``equilibrium`` and ``random`` opponents."""
        return {"equilibrium": {"random_move_prob": 0.0}, "random": {"random_move_prob": 1.0}}

    def evaluation_note(self, options: dict[str, Any]) -> str | None:
        """Against the equilibrium bot, the best mean return there is."""
        if options.get("random_move_prob") != 0.0:
            return None
        return (
            "Best possible mean return against the equilibrium (the game's value): -1/18 "
            "(-0.056) as player 1, +1/18 as player 2, 0 over both seats."
        )

    def reference_player(self) -> ReferencePlayer:
        """:class:`~textgym.envs.kuhn.players.KuhnReference` (an equilibrium)."""
        return KuhnReference(self.alpha)

    def named_players(self) -> dict[str, Callable[[str | None, int], Any]]:
        """None besides ``reference`` and ``random``."""
        return {}

    def hidden_strings(self) -> list[str]:
        """The episode key that seeds the opponent must never be shown."""
        return [str(self.episode_key)] if self.episode_key > 10**6 else []


__all__ = ["TextKuhnPokerEnv"]
