"""Reference players as policies: an env's scripted player, perfect or imperfect.

Every built-in env ships a scripted reference player
(:meth:`textgym.core.TextEnv.reference_player`).
:class:`ReferencePolicy` plays it through the policy protocol: at each turn, with
probability ``quality`` the reference answer, otherwise the player's wrong answer. So
``reference:1`` is the reference player and ``reference:0.8`` an imperfect teacher whose
quality is one number, the same knob in every env.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import numpy as np

from textgym.core import Completion, Conversation, Policy, ReferencePlayer


class ReferencePolicy:
    """Play a :class:`~textgym.core.ReferencePlayer` with a quality knob.

    Args:
        player: the env's reference player.
        quality: probability in [0, 1] of the reference answer at each turn (else the
            player's mistake).
        seed: seeds the generator of the quality draws and the mistakes.

    A conversation the player cannot read (it raises ``ValueError``) gets an empty answer,
    never an exception.
    """

    def __init__(self, player: ReferencePlayer, quality: float = 1.0, seed: int = 0) -> None:
        if isinstance(quality, bool) or not isinstance(quality, (int, float)):
            raise ValueError(f"quality must be a number in [0, 1], got {quality!r}")
        if not 0.0 <= quality <= 1.0:
            raise ValueError(f"quality must be in [0, 1], got {quality!r}")
        self.player = player
        self.quality = float(quality)
        self.rng = np.random.default_rng(seed)
        #: A mixed player (poker) draws its answer too: its ``answer`` takes ``rng``.
        self._mixed = "rng" in inspect.signature(player.answer).parameters

    def complete(self, conversations: Sequence[Conversation]) -> list[Completion]:
        """One answer per conversation."""
        out = []
        for conversation in conversations:
            good = self.quality >= 1.0 or self.rng.random() < self.quality
            try:
                if good and self._mixed:
                    text = self.player.answer(conversation, self.rng)  # type: ignore[call-arg]
                elif good:
                    text = self.player.answer(conversation)
                else:
                    text = self.player.mistake(conversation, self.rng)
            except ValueError:
                text = ""
            out.append(Completion(text=text, finish_reason="scripted"))
        return out


class FormattedPolicy:
    """A policy whose answers pass through ``format_action`` (e.g. into ``<move>N</move>``).

    Scripted players answer in the unwrapped env's action format; a wrapper that asks for
    another format (:class:`~textgym.wrappers.FormatCheck`) says how to write an answer in
    it, and this policy applies that.
    """

    def __init__(self, policy: Policy, format_action: Callable[[str], str]) -> None:
        self.policy = policy
        self.format_action = format_action

    def complete(self, conversations: Sequence[Conversation]) -> list[Completion]:
        """The inner policy's answers, formatted (empty answers stay empty)."""
        out = self.policy.complete(conversations)
        for completion in out:
            if completion.text:
                completion.text = self.format_action(completion.text)
        return out
