"""The policy protocol: a batch of conversations in, a batch of completions out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Message = dict[str, str]
Conversation = list[Message]


@dataclass
class Completion:
    """One sampled answer, with the exact tokens behind it when the policy has them."""

    text: str
    """The answer text (special tokens such as EOS removed)."""
    prompt_ids: list[int] = field(default_factory=list)
    """Token ids of the rendered conversation the answer was sampled from."""
    completion_ids: list[int] = field(default_factory=list)
    """Token ids that were sampled, including the final EOS when one was sampled."""
    logprobs: list[float] | None = None
    """Per-token log-probability of each completion id under the sampling distribution."""
    finish_reason: Literal["stop", "length", "scripted", "error"] = "stop"
    """Why the answer ended: EOS, the token budget, a scripted player, or a failed request."""


@runtime_checkable
class Policy(Protocol):
    """Anything that answers many conversations at once."""

    def complete(self, conversations: Sequence[Conversation]) -> list[Completion]:
        """Return one completion per conversation, in order."""
        ...
