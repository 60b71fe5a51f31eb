"""textgym envs inside TRL's ``GRPOTrainer`` (``pip install 'textgym[trl]'``).

TRL's ``GRPOTrainer(..., rollout_func=f)`` calls ``f(prompts, trainer)`` with this
process's prompts, each repeated ``num_generations`` times in a row (one GRPO group), and
wants one sample per prompt: ``prompt_ids``, ``completion_ids`` and the sampling
``logprobs`` of every completion token, optionally ``env_mask`` (1 = model token, 0 =
environment token); every other key reaches the reward functions as a keyword argument.

Here a prompt is an **episode seed** as text (:func:`seed_dataset`), so the members of a
group play the same game (with :class:`~textgym.wrappers.PerTurnSeeding`, the same
opponent too). :func:`make_rollout_func` plays those episodes with the trainer's own
model and tokenizer through :class:`~textgym.policies.hf.HFPolicy` (batched, exact ids
and log-probs) and turns each into one sample:

- where the chat template keeps every prompt as the exact prefix of the next
  (:func:`textgym.trainers.tokens.prefix_kept`; full history), the whole episode is one
  sequence: ``prompt_ids`` = the first prompt, ``completion_ids`` = every answer with the
  environment's text between them, ``env_mask`` 0 exactly over that text (its
  ``logprobs`` are 0.0 and never enter the loss);
- otherwise (``history="last"``, or a template that re-renders earlier turns) only the
  **first turn** is trained: its prompt and answer, scored with the whole episode's
  return. This is the documented fallback; the ``textgym_merged`` field says which
  happened for each sample.

The reward functions receive ``episode_return`` (the env's summed reward),
``reward_<component>`` for each reward component (``outcome``, ``format``, ``invalid``,
...) and ``episode_info`` (the last step's info); :func:`episode_return` is a ready reward function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textgym.envs import check_env_id
from textgym.rollout import Episode, rollout
from textgym.trainers.tokens import episode_tokens
from textgym.view import View, as_view


def seed_dataset(n: int, start: int = 0) -> Any:
    """A ``datasets.Dataset`` whose ``prompt`` column holds episode seeds ``start ..
    start + n - 1`` as text (what :func:`make_rollout_func` plays)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a whole number >= 1, got {n!r}")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ValueError(f"start must be a whole number >= 0, got {start!r}")
    from datasets import Dataset

    return Dataset.from_dict({"prompt": [str(s) for s in range(start, start + n)]})


def _seed_of(prompt: Any) -> int:
    text = prompt if isinstance(prompt, str) else None
    if text is None or not text.strip().isascii() or not text.strip().isdigit():
        raise ValueError(
            f"prompt {prompt!r} is not an episode seed: train on textgym.integrations.trl."
            "seed_dataset(n), whose prompts are seeds as text"
        )
    return int(text)


def episode_sample(episode: Episode) -> dict[str, Any]:
    """One TRL sample of ``episode`` (see the module docstring): ``prompt_ids``,
    ``completion_ids``, ``logprobs``, ``env_mask`` and ``merged``."""
    # one sequence when merged (or a single turn), else the turns, the first one kept
    # (raises on turns without ids or log-probs)
    seqs = episode_tokens(episode, 0.0, merge=True)
    seq = seqs[0]
    start = len(episode.turns[0].completion.prompt_ids)
    return {
        "prompt_ids": list(seq.input_ids[:start]),
        "completion_ids": list(seq.input_ids[start:]),
        "logprobs": [float(x) for x in seq.old_logprobs[start:]],
        "env_mask": [int(m) for m in seq.loss_mask[start:]],
        "merged": len(seqs) == 1,
    }


class TextgymRollout:
    """The ``rollout_func`` :func:`make_rollout_func` returns; ``episodes`` holds the last
    call's episodes (for inspection and logging)."""

    def __init__(
        self,
        view: View | str,
        options: dict[str, Any] | None = None,
        num_envs: int = 64,
        seed: int = 0,
    ) -> None:
        self.view = as_view(view)
        check_env_id(self.view.env_id)
        self.options = dict(options or {})
        self.num_envs = num_envs
        self.seed = seed
        self.calls = 0
        self.episodes: list[Episode] = []

    def __call__(self, prompts: Sequence[Any], trainer: Any) -> dict[str, list[Any]]:
        """Play one episode per prompt with ``trainer``'s model; one sample each."""
        from textgym.policies.hf import HFPolicy

        seeds = [_seed_of(p) for p in prompts]
        model = trainer.accelerator.unwrap_model(trainer.model)
        args = trainer.args
        temperature = float(getattr(trainer, "temperature", args.temperature))
        policy = HFPolicy(
            model,
            trainer.processing_class,
            temperature=temperature,
            top_p=float(getattr(args, "top_p", 1.0) or 1.0),
            max_new_tokens=int(args.max_completion_length),
            # a fresh stream for every call and process, the same on a rerun
            seed=hash((self.seed, self.calls, trainer.accelerator.process_index)) % 2**31,
        )
        self.calls += 1
        episodes = rollout(
            policy,
            self.view,
            seeds,
            num_envs=min(self.num_envs, len(seeds)),
            options=[self.options or None] * len(seeds),
        )
        self.episodes = episodes
        samples = [episode_sample(e) for e in episodes]
        out: dict[str, list[Any]] = {
            key: [s[key] for s in samples]
            for key in ("prompt_ids", "completion_ids", "logprobs", "env_mask")
        }
        out["textgym_merged"] = [s["merged"] for s in samples]
        out["episode_return"] = [e.total_reward for e in episodes]
        components = sorted({k for e in episodes for t in e.turns for k in t.reward_components})
        for name in components:
            out[f"reward_{name}"] = [
                sum(t.reward_components.get(name, 0.0) for t in e.turns) for e in episodes
            ]
        out["episode_info"] = [dict(e.final_info) for e in episodes]
        return out


def make_rollout_func(
    view: View | str,
    *,
    options: dict[str, Any] | None = None,
    num_envs: int = 64,
    seed: int = 0,
) -> TextgymRollout:
    """A ``rollout_func`` for TRL's ``GRPOTrainer`` that plays the view's env (see the
    module docstring): ``view`` is what the model reads (an env id: the whole
    conversation and the env's system prompt); ``options`` are reset options for every
    episode (e.g. an opponent's skill). The answer budget is the trainer's
    ``max_completion_length`` per turn (not the view's), the temperature its own."""
    return TextgymRollout(view, options, num_envs, seed)


def episode_return(
    completions: Sequence[Any], episode_return: Sequence[float], **_: Any
) -> list[float]:
    """A TRL reward function: each sample's episode return, as the env computed it."""
    return [float(r) for r in episode_return]


__all__: list[str] = [
    "TextgymRollout",
    "episode_return",
    "episode_sample",
    "make_rollout_func",
    "seed_dataset",
]
