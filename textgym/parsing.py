"""Pure text -> answer parsers for model output. No env state, never raises on any string.

The answer rule, for the default tags ``<think>`` and ``<move>``:

1. **Think block.** If the text contains ``</think>``, everything up to and including the
   *last* ``</think>`` is reasoning and is ignored. An opening ``<think>`` without a closing
   tag is a format error (the model ran out of tokens mid-thought, say).
2. **Answer tag.** In the rest, the answer is the content of the *last complete*
   ``<move>…</move>`` pair (a model that corrects itself gets its final word). The content is
   stripped of surrounding whitespace; empty content, or content containing ``<`` or ``>``
   (nested or broken tags), is a format error.
3. **Text outside the tags** is allowed and ignored, unless ``strict=True``: then nothing
   but whitespace may surround the single think block and the single answer tag.

Tags are matched case-sensitively, exactly as written in the system prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ParsedAnswer:
    """The result of parsing one model answer."""

    answer: str | None
    """The extracted answer, or None when the format was not met."""
    error: str | None = None
    """Why the format was not met (a short sentence for the model), else None."""

    @property
    def ok(self) -> bool:
        """Whether the answer followed the required format."""
        return self.answer is not None


_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def check_tag_name(tag: str) -> str:
    """Return ``tag`` if it is a valid tag name (letters, digits, ``_``, ``-``), else raise."""
    if not isinstance(tag, str) or not _TAG_NAME.fullmatch(tag):
        raise ValueError(
            f"tag must be a name such as 'move' (letters, digits, _ or -), got {tag!r}"
        )
    return tag


def tag_spans(text: str, tag: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` of every complete ``<tag>...</tag>`` pair, left to right, not
    overlapping; each pair closes at the first closing tag after its opening tag.

    The same pairs as the regex ``<tag>(.*?)</tag>`` finds, in linear time: that regex is
    quadratic on text with many opening tags and no closing one (40,000 of them took 40 s),
    which a model under RL will produce sooner or later.
    """
    opening, closing = f"<{tag}>", f"</{tag}>"
    spans = []
    pos = 0
    while True:
        start = text.find(opening, pos)
        if start < 0:
            return spans
        end = text.find(closing, start + len(opening))
        if end < 0:  # no later opening tag can close either
            return spans
        pos = end + len(closing)
        spans.append((start, pos))


def tag_contents(text: str, tag: str) -> list[str]:
    """The contents of every complete ``<tag>...</tag>`` pair (see :func:`tag_spans`)."""
    inner = len(tag) + 2
    return [text[start + inner : end - inner - 1] for start, end in tag_spans(text, tag)]


def _outside(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` without the given spans."""
    kept, pos = [], 0
    for start, end in spans:
        kept.append(text[pos:start])
        pos = end
    kept.append(text[pos:])
    return "".join(kept)


def strip_think(text: str, think_tag: str = "think") -> tuple[str | None, str]:
    """Split ``text`` into (reasoning, rest) at the last ``</think>``.

    Returns ``(None, text)`` when there is no closing think tag.
    """
    close = f"</{think_tag}>"
    idx = text.rfind(close)
    if idx < 0:
        return None, text
    return text[:idx], text[idx + len(close) :]


def parse_answer(
    text: str, tag: str = "move", think_tag: str | None = "think", strict: bool = False
) -> ParsedAnswer:
    """Extract the answer from free model text following the rule in the module docstring.

    Args:
        text: the model's full answer.
        tag: the answer tag name (``move`` means ``<move>…</move>``).
        think_tag: the reasoning tag name, or None to allow no reasoning block.
        strict: require nothing but whitespace outside the think block and answer tag.
    """
    if not isinstance(text, str):
        return ParsedAnswer(None, "the answer must be text")
    example = f"<{tag}>N</{tag}>"
    rest = text
    thought: str | None = None
    if think_tag is not None:
        thought, rest = strip_think(text, think_tag)
        if thought is None and f"<{think_tag}>" in text:
            return ParsedAnswer(
                None, f"the <{think_tag}> block is not closed; answer with {example}"
            )
        if (
            thought is not None
            and strict
            and thought.strip()
            and not thought.lstrip().startswith(f"<{think_tag}>")
        ):
            return ParsedAnswer(None, f"text before <{think_tag}>; answer with {example} only")
    spans = tag_spans(rest, tag)
    matches = tag_contents(rest, tag)
    if not matches:
        return ParsedAnswer(None, f"no complete {example} answer found; answer with {example}")
    if strict and (len(matches) > 1 or _outside(rest, spans).strip()):
        return ParsedAnswer(None, f"text outside the answer tag; answer with {example} only")
    content = matches[-1].strip()
    if not content:
        return ParsedAnswer(None, f"the <{tag}> tag is empty; answer with {example}")
    if "<" in content or ">" in content:
        return ParsedAnswer(None, f"the <{tag}> tag holds other tags; answer with {example}")
    return ParsedAnswer(content)
