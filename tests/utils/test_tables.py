"""The one table renderer: plain text for terminals, Markdown for reports."""

from __future__ import annotations

from textgym.utils.tables import format_table, markdown_table

HEADER = ["player", "games", "loss %"]
ROWS = [["SFT", "200", "1.5"], ["RL2", "200", "-"]]


def test_text_aligns_numbers_right_and_text_left() -> None:
    assert format_table(ROWS, HEADER).splitlines() == [
        "player  games  loss %",
        "------  -----  ------",
        "SFT       200     1.5",
        "RL2       200       -",
    ]


def test_markdown_marks_number_columns_right_aligned() -> None:
    assert markdown_table(ROWS, HEADER).splitlines() == [
        "| player | games | loss % |",
        "| --- | ---: | ---: |",
        "| SFT | 200 | 1.5 |",
        "| RL2 | 200 | - |",
    ]


def test_the_pipeline_report_uses_it() -> None:
    from pathlib import Path

    from textgym.recipes.tictactoe.pipeline import PipelineReport, StageResult

    report = PipelineReport(Path("."))
    report.rows.append(StageResult("RL2", "optimal", 200, 0.0, 100.0, 0.0, 100.0, 0.0))
    assert report.table().splitlines()[1:] == [
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        "| RL2 | optimal | 200 | 0.0 | 100.0 | 0.0 | 100.0 | 0.0 |",
    ]
