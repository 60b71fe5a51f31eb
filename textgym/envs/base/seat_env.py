"""One seat of a turn-based game as a single-agent env, the other seats played by an
opponent: a scripted bot, or any policy (a model, a server) through the policy protocol.

:class:`SeatEnv` is a :class:`~textgym.core.TextEnv`: the agent reads its seat's
observation and answers; between its turns the opponent plays the other seats inside
``reset``/``step``, as tic-tac-toe's bot does. An opponent is either

- a :class:`SeatPlayer`: ``act(game, seat, rng) -> action``, reading only what that seat
  may know, and drawing its randomness from ``rng`` (the env's, or the per-turn generator
  of :class:`~textgym.wrappers.PerTurnSeeding`); or
- a :class:`~textgym.core.Policy` (``complete(conversations)``), wrapped by
  :class:`PolicyPlayer`: it reads the game's rules and its seat's observation as a chat,
  its answer is parsed (optionally from an answer tag), and an answer that names no legal
  action is replaced by a uniformly random legal one (counted in
  ``info["opponent_fallbacks"]``): a model opponent never ends a game by a typo.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from textgym.core import Policy, TextEnv, check_reset_options, fit_text, text_space
from textgym.envs.base.turn_based import TurnBasedGame, check_seat
from textgym.parsing import parse_answer


@runtime_checkable
class SeatPlayer(Protocol):
    """A scripted player of one seat."""

    def act(self, game: TurnBasedGame, seat: int, rng: np.random.Generator) -> str:
        """One of ``game.legal_actions()`` for ``seat``, the seat to move."""
        ...


class PolicyPlayer:
    """A :class:`~textgym.core.Policy` playing a seat: one conversation per decision,
    the game's rules as the system message and the seat's observation as the user
    message; ``answer_tag`` (e.g. ``"action"``) reads the answer inside that tag, as the
    LLM envs ask of their agent. ``fallbacks`` counts the answers that named no legal
    action (a random legal one was played instead).

    Every decision is kept until :meth:`take_turns` hands it on (the envs put them in
    ``info["opponent_turns"]``): the conversation, the policy's exact
    :class:`~textgym.core.Completion`, the seat, whether the answer was inside the tag
    (``format_ok``, None without a tag) and whether it fell back. A trainer turns them
    into the opponent seat's own episode (self-play).
    """

    def __init__(
        self, policy: Policy, answer_tag: str | None = None, system_prompt: str | None = None
    ) -> None:
        if not callable(getattr(policy, "complete", None)):
            raise ValueError(f"the opponent must be a policy with complete(), got {policy!r}")
        self.policy = policy
        self.answer_tag = answer_tag
        if system_prompt is None:  # a policy may say what it reads (an opponent in a rollout)
            system_prompt = getattr(policy, "system_prompt", None)
        self.system_prompt = system_prompt
        """The system message the policy reads (None: the game's rules; "": none); by
        default the policy's own ``system_prompt`` attribute, if it has one."""
        self.fallbacks = 0
        self._turns: list[dict[str, Any]] = []

    def take_turns(self) -> list[dict[str, Any]]:
        """The decisions since the last call (``seat``, ``messages``, ``completion``,
        ``format_ok``, ``fallback``), oldest first; they are forgotten here."""
        turns, self._turns = self._turns, []
        return turns

    def act(self, game: TurnBasedGame, seat: int, rng: np.random.Generator) -> str:
        """The policy's answer if it names a legal action (inside ``answer_tag`` when the
        answer has one), else a random legal one."""
        system = game.rules if self.system_prompt is None else self.system_prompt
        conversation = [{"role": "system", "content": system}] if system else []
        conversation.append({"role": "user", "content": game.observe(seat)})
        completion = self.policy.complete([conversation])[0]
        text, format_ok = completion.text, None
        if self.answer_tag is not None:
            parsed = parse_answer(text, self.answer_tag).answer
            format_ok = parsed is not None
            text = text if parsed is None else parsed
        action = game.parse_action(text)
        fell_back = action is None
        if action is None:
            self.fallbacks += 1
            legal = game.legal_actions()
            action = legal[int(rng.integers(len(legal)))]
        self._turns.append(
            {
                "seat": game.seats[seat],
                "messages": conversation,
                "completion": completion,
                "format_ok": format_ok,
                "fallback": fell_back,
            }
        )
        return action


class SeatEnv(TextEnv):
    """The agent plays one seat of ``game``; ``opponent`` plays the others.

    Rewards are the agent's return from the game at the end (``outcome_scale`` times), 0
    before. An answer that names no legal action forfeits the game (the game's
    :meth:`~textgym.envs.base.turn_based.TurnBasedGame.forfeit`), with
    ``info["invalid_action"]``; :class:`~textgym.wrappers.InvalidMovePenalty` turns that
    into a retry. The agent's seat is ``agent_seat``, or drawn per episode from the seed;
    ``reset(options=...)`` takes ``agent_seat`` and the game's start options.

    Info: ``legal_actions``, ``seat``, ``invalid_action``, ``invalid_reason``,
    ``opponent_actions`` (what the opponent played since the agent's last turn),
    ``opponent_fallbacks`` (a policy opponent's unreadable answers so far),
    ``opponent_turns`` (a policy opponent's decisions since the agent's last turn, see
    :class:`PolicyPlayer`), ``reward_components`` (``outcome``), and at the end
    ``episode_metrics`` (``return``, ``win``, ``draw``, ``loss``), ``opponent_outcome``
    (what the other seat earns, on the agent's reward scale) and
    ``opponent_forfeit_outcome`` (what it would have earned had it forfeited).
    """

    markov_observations = True
    rate_metrics = ("win", "draw", "loss")

    def __init__(
        self,
        game: TurnBasedGame,
        opponent: SeatPlayer | Policy,
        agent_seat: int | str | None = None,
        render_mode: str | None = None,
        outcome_scale: float = 1.0,
        answer_tag: str | None = None,
    ) -> None:
        if not isinstance(game, TurnBasedGame):
            raise ValueError(f"game must be a TurnBasedGame, got {type(game).__name__}")
        self.game = game
        self.opponent = as_seat_player(opponent, answer_tag)
        self.agent_seat = None if agent_seat is None else check_seat(game, agent_seat)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.outcome_scale = float(outcome_scale)
        self.rules_prompt = game.rules
        self.system_prompt = game.rules
        self.observation_space = text_space(game.observation_length)
        self.action_space = text_space(8192)
        self.seat = 0
        self._episode_opponent: SeatPlayer = self.opponent
        self._last_text = ""

    # ------------------------------------------------------------------ hooks for tasks

    def episode_opponent(self, options: dict[str, Any]) -> SeatPlayer:
        """The opponent of an episode with these reset options (override to read a
        curriculum option such as a skill knob)."""
        return self.opponent

    def reset_option_names(self) -> tuple[str, ...]:
        """Reset options besides the curriculum's: ``agent_seat`` and the game's."""
        return ("agent_seat", *self.game.start_options)

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Deal or set up a new game; the opponent plays until it is the agent's turn."""
        super().reset(seed=seed)
        options = check_reset_options(
            self, options, self.curriculum_options(), other=self.reset_option_names()
        )
        self.episode_key = key = int(self.np_random.integers(2**63))
        seat = options.get("agent_seat", self.agent_seat)
        seats = len(self.game.seats)
        self.seat = key % seats if seat is None else check_seat(self.game, seat)
        self._episode_opponent = self.episode_opponent(options)
        start = {k: options[k] for k in self.game.start_options if k in options}
        self.game.start(self.np_random, start)
        self._episode_active = True
        played = self._opponent_turns()
        return self._observe(), self._info(None, played)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Play the agent's action, then the opponent's until the agent's turn or the end."""
        action = self._check_action(action)
        move = self.game.parse_action(action)
        reason = None
        played: list[str] = []
        if move is None:
            reason = self.game.explain_illegal(action)
            self.game.forfeit(reason)
        else:
            self.game.play(move)
            played = self._opponent_turns()
        over = self.game.is_over()
        reward = self.outcome_scale * self.game.returns()[self.seat] if over else 0.0
        self._episode_active = not over
        return self._observe(), reward, over, False, self._info(reason, played, reward)

    def render(self) -> str | None:
        """Return (``"ansi"``) or print (``"human"``) the latest observation."""
        if self.render_mode == "human":
            print(self._last_text + "\n")
        return self._last_text if self.render_mode == "ansi" else None

    def state_key(self) -> int:
        """The game's state key (per-turn seeding of the opponent)."""
        return self.game.state_key()

    def explain_invalid(self, action: str) -> str:
        """Why ``action`` is not legal now (the game's words)."""
        return self.game.explain_illegal(action)

    # ------------------------------------------------------------------ inside

    def _opponent_turns(self) -> list[str]:
        played = []
        while (seat := self.game.to_move()) is not None and seat != self.seat:
            if self.turn_rng_factory is not None:
                rng = self.turn_rng_factory(self.episode_key, self.state_key())
            else:
                rng = self.np_random
            action = self._episode_opponent.act(self.game, seat, rng)
            if self.game.parse_action(action) != action:
                raise RuntimeError(
                    f"opponent {self._episode_opponent!r} played {action!r}, not one of "
                    f"{list(self.game.legal_actions())}"
                )
            self.game.play(action)
            played.append(action)
        return played

    def _observe(self) -> str:
        self._last_text = fit_text(self.game.observe(self.seat), self.observation_space)
        if self.render_mode == "human":
            self.render()
        return self._last_text

    def _info(self, reason: str | None, played: Sequence[str], reward: float = 0.0) -> dict:
        over = self.game.is_over()
        info: dict[str, Any] = {
            "legal_actions": [] if over else list(self.game.legal_actions()),
            "seat": self.game.seats[self.seat],
            "invalid_action": reason is not None,
            "invalid_reason": reason,
            "opponent_actions": list(played),
            "opponent_fallbacks": getattr(self._episode_opponent, "fallbacks", 0),
            "opponent_turns": opponent_turns(self._episode_opponent),
            "reward_components": {"outcome": reward},
        }
        if over:
            mine = self.game.returns()[self.seat]
            others = [r for s, r in enumerate(self.game.returns()) if s != self.seat]
            info["opponent_outcome"] = self.outcome_scale * float(np.mean(others))
            info["opponent_forfeit_outcome"] = self.outcome_scale * self.game.forfeit_return
            info["episode_metrics"] = {
                "return": mine,
                "win": float(mine > 0),
                "draw": float(mine == 0),
                "loss": float(mine < 0),
            }
        return info


def opponent_turns(opponent: object) -> list[dict[str, Any]]:
    """The recorded decisions of a policy opponent since the last call (see
    :meth:`PolicyPlayer.take_turns`); [] for a scripted one."""
    take = getattr(opponent, "take_turns", None)
    return take() if callable(take) else []


def as_seat_player(opponent: SeatPlayer | Policy, answer_tag: str | None = None) -> SeatPlayer:
    """``opponent`` as a :class:`SeatPlayer` (a policy is wrapped in :class:`PolicyPlayer`)."""
    if callable(getattr(opponent, "act", None)):
        return opponent  # type: ignore[return-value]
    if callable(getattr(opponent, "complete", None)):
        return PolicyPlayer(opponent, answer_tag)  # type: ignore[arg-type]
    raise ValueError(
        "the opponent must be a seat player (act(game, seat, rng)) or a policy "
        f"(complete(conversations)), got {opponent!r}"
    )


__all__ = ["PolicyPlayer", "SeatEnv", "SeatPlayer", "as_seat_player", "opponent_turns"]
