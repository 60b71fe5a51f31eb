"""Answer parsing: documented rule on examples, and no string ever raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textgym.parsing import ParsedAnswer, check_tag_name, parse_answer, strip_think


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("<move>5</move>", "5"),
        ("<move> 5\n</move>", "5"),
        ("<think>corner is best</think><move>1</move>", "1"),
        ("<think>a</think>\n<think>b</think> <move>3</move>", "3"),
        ("I will play <move>7</move> now", "7"),  # text outside the tags is ignored
        ("<move>1</move> no wait <move>2</move>", "2"),  # the last complete tag wins
        ("<think>maybe <move>4</move></think><move>6</move>", "6"),  # tags in thoughts ignored
        ("<move>9</move><move>", "9"),  # a trailing incomplete tag is not an answer
    ],
)
def test_well_formed_answers(text: str, answer: str) -> None:
    assert parse_answer(text) == ParsedAnswer(answer)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("5", "no complete <move>N</move>"),
        ("", "no complete"),
        ("<move>5", "no complete"),
        ("<think>still thinking <move>5</move>", "not closed"),
        ("<think>done</think>5", "no complete"),
        ("<move>  </move>", "empty"),
        ("<move><move>5</move></move>", "other tags"),
        ("<MOVE>5</MOVE>", "no complete"),  # tags are case-sensitive
    ],
)
def test_malformed_answers_fail_cleanly(text: str, error: str) -> None:
    parsed = parse_answer(text)
    assert not parsed.ok and parsed.answer is None
    assert error in (parsed.error or "")


def test_strict_mode_rejects_text_outside_the_tags() -> None:
    assert parse_answer("<think>x</think> <move>5</move>\n", strict=True).answer == "5"
    assert not parse_answer("so: <move>5</move>", strict=True).ok
    assert not parse_answer("<move>1</move><move>2</move>", strict=True).ok
    assert not parse_answer("hmm <think>x</think><move>5</move>", strict=True).ok


def test_custom_tags() -> None:
    assert parse_answer("<reasoning>x</reasoning><answer>42</answer>", "answer", "reasoning").ok
    assert parse_answer("<think>x</think><answer>42</answer>", "answer", None).ok
    with pytest.raises(ValueError, match="tag must be a name"):
        check_tag_name("mo ve")
    with pytest.raises(ValueError, match="tag must be a name"):
        check_tag_name("<move>")


def test_strip_think() -> None:
    assert strip_think("<think>a</think>b") == ("<think>a", "b")
    assert strip_think("no thoughts") == (None, "no thoughts")


tag_soup = st.lists(
    st.sampled_from(["<move>", "</move>", "<think>", "</think>", "5", " ", "\n", "x", "<", ">"]),
    max_size=20,
).map("".join)


@given(st.one_of(st.text(), tag_soup), st.booleans())
def test_any_string_gives_an_answer_or_a_clean_failure(text: str, strict: bool) -> None:
    parsed = parse_answer(text, strict=strict)
    assert isinstance(parsed, ParsedAnswer)
    if parsed.ok:
        assert parsed.error is None and parsed.answer == parsed.answer.strip() and parsed.answer
        assert "<" not in parsed.answer and ">" not in parsed.answer
        assert parsed.answer in text
    else:
        assert parsed.answer is None and parsed.error


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=50))
def test_any_content_inside_the_tag_round_trips(content: str) -> None:
    parsed = parse_answer(f"<think>t</think><move>{content}</move>")
    clean = content.strip()
    if clean and "<" not in content and ">" not in content and "</think>" not in content:
        assert parsed.answer == clean
    else:
        assert parsed.answer is None or parsed.answer == clean
