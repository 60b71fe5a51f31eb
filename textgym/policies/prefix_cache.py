"""Reusing the KV cache of the previous turn: what a batch computed is kept for the next.

A multi-turn conversation's next prompt starts with the previous prompt and the answer
sampled for it; a batch of new episodes shares the system prompt with the last batch. The
keys and values of those tokens were computed in the previous call, so :class:`TurnCache`
keeps them (per row: the token ids and the cache columns that hold them) and hands the
next call, for each prompt, the cache of its longest common prefix with any kept row.
Only the rest of each prompt is prefilled.

Exact, not approximate: a causal model's keys and values at a position depend only on the
tokens up to it, so any common token prefix has the same cache (up to float rounding:
the kept values were computed one token at a time during decoding). Nothing is matched on
text, so an answer that re-tokenizes differently is reused only up to where the ids part.

Kept caches are valid only for the weights that computed them: each is stamped with the
parameters' identities and in-place version counters (an optimizer step, a loaded state
dict or a new adapter changes them) and the compute dtype, and a stale one is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from textgym.models.loading import compute_dtype


def weights_stamp(model: Any) -> tuple:
    """What a kept cache must match to be reused: the parameters (their identities and
    in-place version counters, which an optimizer step or a loaded state dict bumps) and
    the dtype the model computes in."""
    params = tuple((id(p), p._version) for p in model.parameters())
    return (params, compute_dtype(model))


def plain_kv_layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """The per-layer (keys, values) of a plain key/value cache, each ``[rows, heads,
    columns, dim]``; ``None`` for any other cache (convolution or recurrent state, sliding
    windows), whose entries cannot be cut and moved between rows."""
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        return None
    return [(layer.keys, layer.values) for layer in layers]


def kv_cache(layers: list[tuple[torch.Tensor, torch.Tensor]]) -> Any:
    """A ``transformers`` dynamic cache holding ``layers``' keys and values."""
    from transformers.cache_utils import DynamicCache

    return DynamicCache(ddp_cache_data=layers)


@dataclass
class Prefix:
    """Cached prompt prefixes for one batch: row ``i``'s first ``lengths[i]`` prompt tokens
    are in ``cache``, right-aligned in its ``width`` columns (masked on the left)."""

    lengths: list[int]
    width: int
    cache: Any


@dataclass
class _Kept:
    stamp: tuple
    layers: list[tuple[torch.Tensor, torch.Tensor]]
    tokens: np.ndarray  # [rows, longest]; -1 past a row's end
    columns: list[list[int]]  # per row: the cache columns holding its tokens, in order


class TurnCache:
    """The KV caches of the last call's batches, offered to the next call's prompts.

    Holds the caches of one call (several batches when a call is split) while the next is
    answered, then only the next call's. :meth:`clear` frees them (a rollout does when it
    ends, so training never runs beside them).
    """

    def __init__(self) -> None:
        self._previous: list[_Kept] = []
        self._current: list[_Kept] = []

    def start_call(self) -> None:
        """Begin a new call: the last call's caches become the ones offered."""
        self._previous, self._current = self._current, []

    def clear(self) -> None:
        """Forget every kept cache."""
        self._previous, self._current = [], []

    @property
    def rows(self) -> int:
        """How many rows' caches are kept."""
        return sum(len(k.columns) for k in self._previous + self._current)

    def keep(
        self,
        stamp: tuple,
        cache: Any,
        attention: torch.Tensor,
        tokens: list[list[int]],
    ) -> None:
        """Keep a finished batch's cache: row ``i`` holds ``tokens[i]`` in the columns
        where ``attention[i]`` is 1 (a row whose count differs is not kept)."""
        layers = plain_kv_layers(cache)
        if layers is None or not tokens:
            return
        mask = attention.bool().cpu()
        columns = [torch.nonzero(row).flatten().tolist() for row in mask]
        longest = max(len(t) for t in tokens)
        matrix = np.full((len(tokens), longest), -1, dtype=np.int64)
        for i, ids in enumerate(tokens):
            if len(columns[i]) == len(ids):
                matrix[i, : len(ids)] = ids
            else:  # not what was computed: never offered
                columns[i] = []
        self._current.append(_Kept(stamp, layers, matrix, columns))

    def lookup(self, stamp: tuple, prompts: list[list[int]]) -> Prefix | None:
        """For each prompt, the cache of its longest common prefix with a kept row (at
        most all but its last token, which must be computed for its next-token logits);
        ``None`` when nothing is reusable."""
        kept = [k for k in self._previous + self._current if k.stamp == stamp]
        self._previous = [k for k in self._previous if k.stamp == stamp]
        self._current = [k for k in self._current if k.stamp == stamp]
        if not kept:
            return None
        best: list[tuple[int, int, int]] = []  # (length, kept index, row)
        for prompt in prompts:
            ids = np.asarray(prompt, dtype=np.int64)
            choice = (0, 0, 0)
            for k, entry in enumerate(kept):
                common = _common_prefix(entry.tokens, ids[: len(ids) - 1])
                row = int(common.argmax())
                if common[row] > choice[0]:
                    choice = (int(common[row]), k, row)
            best.append(choice)
        lengths = [b[0] for b in best]
        width = max(lengths)
        if width == 0:
            return None
        layers = []
        for layer in range(len(kept[0].layers)):
            keys, values = kept[0].layers[layer]
            n, heads, dim = len(prompts), keys.shape[1], keys.shape[3]
            new_k = keys.new_zeros((n, heads, width, dim))
            new_v = values.new_zeros((n, heads, width, dim))
            for k, entry in enumerate(kept):
                dest = [i for i, b in enumerate(best) if b[1] == k and b[0] > 0]
                if not dest:
                    continue
                rows, cols = _gather_index(entry, [best[i] for i in dest], width)
                src_k, src_v = entry.layers[layer]
                # advanced indexing on dims 0 and 2: [rows, width, heads, dim]
                new_k[dest] = src_k[rows, :, cols].permute(0, 2, 1, 3).to(new_k.dtype)
                new_v[dest] = src_v[rows, :, cols].permute(0, 2, 1, 3).to(new_v.dtype)
            layers.append((new_k, new_v))
        return Prefix(lengths, width, kv_cache(layers))


def _common_prefix(matrix: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per row of ``matrix``, how many leading ids it shares with ``ids``."""
    width = min(matrix.shape[1], len(ids))
    if width == 0:
        return np.zeros(matrix.shape[0], dtype=np.int64)
    equal = matrix[:, :width] == ids[:width]
    return np.where(equal.all(axis=1), width, equal.argmin(axis=1))


def _gather_index(
    entry: _Kept, picks: list[tuple[int, int, int]], width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices that copy each pick's first ``length`` cached tokens into the
    right end of ``width`` columns (the columns on their left point anywhere: masked)."""
    device = entry.layers[0][0].device
    rows = torch.tensor([[row] for _, _, row in picks], device=device)
    cols = torch.tensor(
        [[0] * (width - length) + entry.columns[row][:length] for length, _, row in picks],
        device=device,
    )
    return rows, cols
