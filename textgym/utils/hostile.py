"""Hostile actions: the text a model under RL produces sooner or later, for env tests.

Any string is a legal action, so an env must answer each of these with an observation,
never an exception, and quickly. :func:`hostile_actions` is a fixed list (used by the
hostile phase of :func:`~textgym.utils.env_checker.check_text_env`);
:func:`hostile_text` is a Hypothesis strategy that generates more of the same kind
(``pip install hypothesis``; imported only when called).

The kinds: tool calls whose JSON is pathologically nested, holds enormous numbers or
strings, non-object arguments, duplicate keys, bad escapes or lone surrogates; many tool
calls in one answer; a megabyte of junk around the tags; thousands of opening tags that
never close (a backtracking regex would take minutes on them); control characters and
text outside any charset.
"""

from __future__ import annotations

import json
from typing import Any

#: Tool names the generated calls use when the env's own are not given.
DEFAULT_TOOL_NAMES: tuple[str, ...] = ("calculate", "query")


def _call(body: str) -> str:
    return f"<tool_call>{body}</tool_call>"


def hostile_tool_calls(names: tuple[str, ...] = DEFAULT_TOOL_NAMES) -> list[str]:
    """Hostile ``<tool_call>`` payloads for tools named ``names``."""
    name = json.dumps(names[0] if names else "tool")
    deep = 100_000  # beyond any sane length limit
    nested = 6_000  # within one: the parser itself must cope
    calls = [
        _call("[" * nested + "]" * nested),
        _call('{"a":' * (nested // 3) + "1" + "}" * (nested // 3)),
        _call(f'{{"name": {name}, "arguments": {{"x": ' + "[" * nested + "]" * nested + "}}"),
        _call(f'{{"name": {name}, "arguments": {{"x": ' + "9" * 5_000 + "}}"),
        _call("[" * deep + "]" * deep),
        _call('{"a":' * deep + "1" + "}" * deep),
        _call(f'{{"name": {name}, "arguments": ' + "[" * deep + "]" * deep + "}"),
        _call(f'{{"name": {name}, "arguments": {{"x": ' + "9" * 20_000 + "}}"),
        _call(f'{{"name": {name}, "arguments": {{"x": 1e999999}}}}'),
        _call(f'{{"name": {name}, "arguments": {{"x": -1e-999999}}}}'),
        _call(f'{{"name": {name}, "arguments": {{"x": NaN}}}}'),
        _call(f'{{"name": {name}, "arguments": {{"x": "' + "a" * 2_000_000 + '"}}'),
        _call(f'{{"name": {name}, "arguments": [1, 2, 3]}}'),
        _call(f'{{"name": {name}, "arguments": "x"}}'),
        _call(f'{{"name": {name}, "arguments": null}}'),
        _call(f'{{"name": {name}, "name": {name}, "arguments": {{}}}}'),
        _call(f'{{"name": {name}, "arguments": {{"x": 1, "x": 2}}}}'),
        _call(f'{{"name": {name}, "arguments": {{"x": "\\q\\u12"}}}}'),
        _call(f'{{"name": {name}, "arguments": {{"x": "\\ud800"}}}}'),
        _call('{"name": "\\udfff", "arguments": {}}'),
        _call(f'{{"name": {name}, "arguments": {{"\\ud800": 1}}}}'),
        _call('{"name": ["calculate"], "arguments": {}}'),
        _call('{"name": null}'),
        _call("null"),
        _call('"' + "x" * 100 + '"'),
        _call("\x00" * 1000),
        _call(""),
        "".join(_call(f'{{"name": {name}, "arguments": {{}}}}') for _ in range(10_000)),
        "<tool_call>" * 100_000,
        "</tool_call>" * 100_000 + _call("{}"),
        "x" * 500_000 + _call(f'{{"name": {name}, "arguments": {{}}}}') + "y" * 500_000,
    ]
    for tool in names[1:]:
        calls.append(_call(json.dumps({"name": tool, "arguments": {"x": [[[[]]]]}})))
    return calls


def hostile_actions(
    tag: str | None = None, tool_names: tuple[str, ...] = DEFAULT_TOOL_NAMES
) -> list[str]:
    """A fixed list of hostile actions: hostile tool calls, and hostile text around
    ``tag`` (the env's answer tag, such as ``move``; ``answer`` when None)."""
    tag = tag or "answer"
    opening, closing = f"<{tag}>", f"</{tag}>"
    return [
        *hostile_tool_calls(tool_names),
        opening * 100_000,
        opening + "1" + closing * 100_000,
        "<think>" * 100_000,
        "</think>" * 100_000 + opening + "1" + closing,
        "<think>" + "x" * 1_000_000,
        "x" * 1_000_000 + opening + "1" + closing,
        opening + "9" * 100_000 + closing,
        opening + "-" * 10 + closing,
        opening + opening + "1" + closing + closing,
        opening + "\ud800" + closing,
        "\ud800\udfff\ufffe\uffff",
        "\x00\x1b[2J\x7f\r\n" * 1000,
        "\u202e" + opening + "1" + closing,
        "𝟙𝟚𝟛" + opening + "١" + closing,
        opening + "²" + closing,  # a digit to str.isdigit, not to int()
        opening + "1e999999" + closing,
        opening + "NaN" + closing,
        " " * 1_000_000,
    ]


def hostile_text(tag: str | None = None, tool_names: tuple[str, ...] = DEFAULT_TOOL_NAMES) -> Any:
    """A Hypothesis strategy for hostile actions: generated JSON tool calls (nested
    values, extreme numbers, odd strings, duplicate keys, broken JSON), answer tags around
    junk, and arbitrary text, concatenated and repeated."""
    from hypothesis import strategies as st

    tag = tag or "answer"
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
        st.sampled_from(["\ud800", "\\", '"', "\x00", "</tool_call>", "<answer>"]),
    )
    values = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    )

    # JSON text of a generated value, with non-ASCII characters escaped or written as is
    dumped = st.builds(
        lambda v, ascii_only: json.dumps(v, ensure_ascii=ascii_only), values, st.booleans()
    )

    def call(name: str, arguments: Any) -> str:
        return _call(json.dumps({"name": name, "arguments": arguments}, default=str))

    well_formed = st.builds(call, st.sampled_from([*tool_names, "", "nope"]), values)
    raw = st.builds(_call, dumped)
    duplicate = st.builds(
        lambda n, a, b: _call(f'{{"name": {json.dumps(n)}, "arguments": {{"x": {a}, "x": {b}}}}}'),
        st.sampled_from(tool_names or ("tool",)),
        dumped,
        dumped,
    )
    broken = st.builds(
        lambda text, cut: _call(text[:cut]),
        st.builds(call, st.sampled_from(tool_names or ("tool",)), values),
        st.integers(min_value=0, max_value=60),
    )
    deep = st.builds(
        lambda n, open_, close: _call(open_ * n + close * n),
        st.integers(min_value=1, max_value=50_000),
        st.sampled_from(["[", '{"a":', "{"]),
        st.sampled_from(["]", "}", ""]),
    )
    tagged = st.builds(lambda text: f"<{tag}>{text}</{tag}>", st.text(max_size=30))
    pieces = st.one_of(
        well_formed,
        raw,
        duplicate,
        broken,
        deep,
        tagged,
        st.text(max_size=60),
        st.sampled_from(["<think>", "</think>", f"<{tag}>", f"</{tag}>", "<tool_call>"]),
    )
    return st.builds(
        lambda parts, times: "".join(parts) * times,
        st.lists(pieces, min_size=1, max_size=5),
        st.integers(min_value=1, max_value=3),
    )
