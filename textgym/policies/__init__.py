"""Policies: anything that answers a batch of conversations (see :class:`Policy`).

* :class:`~textgym.policies.hf.HFPolicy` — a local Hugging Face model, batched, with exact
  token ids and log-probs (needs the ``hf`` extra; imported lazily).
* :class:`~textgym.policies.openai_policy.OpenAIPolicy` — any OpenAI-compatible server.
* :class:`~textgym.policies.reference.ReferencePolicy` — an env's scripted reference
  player, perfect or with a quality knob (``reference``, ``reference:Q``).
* :func:`~textgym.policies.by_name.make_policy` — any of them from its name.
"""

from textgym.core import Completion, Conversation, Message, Policy
from textgym.policies.reference import FormattedPolicy, ReferencePolicy

__all__ = [
    "Completion",
    "Conversation",
    "FormattedPolicy",
    "Message",
    "Policy",
    "ReferencePolicy",
]
