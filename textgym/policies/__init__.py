"""Policies: anything that answers a batch of conversations (see :class:`Policy`).

* :class:`~textgym.policies.hf.HFPolicy` — a local Hugging Face model, batched, with exact
  token ids and log-probs (needs the ``hf`` extra; imported lazily).
* :mod:`~textgym.policies.scripted` — random, perfect and teacher tic-tac-toe players.
"""

from textgym.policies.base import Completion, Conversation, Message, Policy
from textgym.policies.scripted import (
    ScriptedPolicy,
    perfect_policy,
    random_policy,
    read_board,
    teacher_policy,
)

__all__ = [
    "Completion",
    "Conversation",
    "Message",
    "Policy",
    "ScriptedPolicy",
    "perfect_policy",
    "random_policy",
    "read_board",
    "teacher_policy",
]
