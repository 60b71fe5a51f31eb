"""The one table renderer of every command and report: plain text for the terminal,
Markdown for report files. Columns whose every cell is a number (or ``-``) align right."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain-text table with aligned columns (text columns left, numbers right)."""
    table = [list(header), *map(list, rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    numeric = [
        all(_is_number(r[i]) for r in table[1:]) and len(table) > 1 for i in range(len(header))
    ]
    lines = [
        "  ".join(
            c.rjust(w) if numeric[i] else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    if text == "-":
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def markdown_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """The same table in Markdown (numbers right-aligned)."""
    numeric = [all(_is_number(r[i]) for r in rows) and rows for i in range(len(header))]
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---:" if n else "---" for n in numeric) + " |",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


__all__ = ["format_table", "markdown_table"]
