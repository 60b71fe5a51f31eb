"""One self-contained HTML page of what a model did: episodes, turns, pictures, runs.

:func:`build_page` reads eval JSONL files (:func:`textgym.evaluation.evaluate`'s records),
pipeline run folders (their ``results.jsonl``, the CISPO rounds' ``metrics.jsonl`` and the
report's stage table) and training run folders (``metrics.jsonl``), and writes one HTML
file with everything inside it: no server, no network, it opens from disk.

- **Episodes**: a list to filter (source, env, condition, policy, outcome, reward range,
  format failures, invalid answers, free text) and sort (reward, length), and each
  episode's turns: what the model read, what it answered, what the env made of it, the
  reward components; for envs that draw pictures
  (:meth:`~textgym.core.TextEnv.picture_state`: tic-tac-toe), the board before each
  answer. The list shows 200 rows at a time: 10,000 episodes stay quick.
- **Runs**: each metric of each run against the step, raw and smoothed, with the periodic
  evaluations as points; a pipeline's stage table; two runs or files side by side.

Everything the model wrote is shown as text: the page builds its elements with
``textContent``, never parses data as HTML, and the embedded JSON escapes ``<`` so no
answer can close the script that holds it. Texts longer than :data:`MAX_TEXT` characters
are cut (the cut says how much). Filters and the open episode live in the URL's ``#``
part (``#search=...&open=...``), so a view can be bookmarked or shared.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgym.envs import probe_env, registered_env_ids
from textgym.utils.files import write_text_atomically
from textgym.utils.png import png_data_uri

#: Longest text (an observation, an answer) kept in the page, in characters.
MAX_TEXT = 4000

#: Most pictures drawn into one page (distinct states; the rest show no picture).
MAX_PICTURES = 20000


class NotARunError(ValueError):
    """A path the viewer cannot read as an eval file or a run folder."""


@dataclass
class Source:
    """What one path holds: episodes and/or runs (metric series), with its problems."""

    name: str
    episodes: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    stages: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _cut(text: Any) -> str:
    text = "" if text is None else str(text)
    if len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + f"\n[... {len(text) - MAX_TEXT:,} more characters not shown]"


def read_jsonl(path: Path, what: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The JSON objects of a JSONL file, and notes on the lines that are not (a torn last
    line is expected after a kill; others are skipped and counted)."""
    rows, bad, torn = [], 0, False
    with path.open("rb") as fh:
        lines = fh.read().decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                torn = True
            else:
                bad += 1
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    notes = []
    if torn:
        notes.append(f"{path}: the last line is cut off (a run stopped while writing): skipped")
    if bad:
        notes.append(f"{path}: {bad} lines that are no {what} record: skipped")
    return rows, notes


def _is_episode(row: dict[str, Any]) -> bool:
    return isinstance(row.get("env"), str) and isinstance(row.get("reward"), (int, float))


def _is_metric(row: dict[str, Any]) -> bool:
    return isinstance(row.get("step"), int)


def read_source(path: str | Path) -> Source:
    """An eval JSONL file, a pipeline run folder or a training run folder."""
    path = Path(path)
    if not path.exists():
        raise NotARunError(f"{path} does not exist")
    source = Source(name=path.name or str(path))
    if path.is_file():
        rows, notes = read_jsonl(path, "textgym")
        source.notes += notes
        source.episodes = [r for r in rows if _is_episode(r)]
        metrics = [r for r in rows if _is_metric(r) and not _is_episode(r)]
        if metrics:
            source.runs[path.stem] = metrics
        if not source.episodes and not source.runs:
            raise NotARunError(
                f"{path} holds no textgym records: an eval file (textgym eval --out) has one "
                "episode per line with env and reward, a metrics.jsonl one step per line"
            )
        skipped = len(rows) - len(source.episodes) - len(metrics)
        if skipped:
            source.notes.append(f"{path}: {skipped} lines that are no textgym record: skipped")
        return source
    results = path / "results.jsonl"
    if results.is_file():
        rows, notes = read_jsonl(results, "episode")
        source.notes += notes
        source.episodes = [r for r in rows if _is_episode(r)]
        source.stages = stage_table(source.episodes)
    for metrics in sorted(path.glob("*/metrics.jsonl")) + sorted(path.glob("metrics.jsonl")):
        rows, notes = read_jsonl(metrics, "metrics")
        source.notes += notes
        name = path.name if metrics.parent == path else metrics.parent.name
        series = [r for r in rows if _is_metric(r)]
        if series:
            source.runs[name] = series
    if not source.episodes and not source.runs:
        raise NotARunError(
            f"{path} holds neither results.jsonl (a pipeline run) nor metrics.jsonl (a "
            "training run, or its rounds' folders)"
        )
    return source


def stage_table(episodes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per player and condition: games, mean reward, and the rates of the episode metrics
    that are 0/1 (win, draw, loss, ...), as a pipeline's report lists them."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in episodes:
        groups.setdefault((str(e.get("policy")), str(e.get("condition"))), []).append(e)
    table = []
    for (policy, condition), rows in groups.items():
        entry: dict[str, Any] = {
            "player": policy,
            "condition": condition,
            "games": len(rows),
            "reward": sum(float(r["reward"]) for r in rows) / len(rows),
        }
        for name in ("win", "draw", "loss"):
            values = [r.get("metrics", {}).get(name) for r in rows]
            if all(isinstance(v, (int, float)) for v in values):
                entry[name] = 100.0 * sum(values) / len(values)
        table.append(entry)
    return table


def _outcome(record: dict[str, Any]) -> str:
    metrics = record.get("metrics") or {}
    for name in ("win", "draw", "loss"):
        if metrics.get(name) == 1:
            return name
    return ""


#: Largest side of a picture in the page (bigger drawings are averaged down to it).
PICTURE_SIZE = 96


def _shrink(image: Any) -> Any:
    """``image`` averaged over square blocks until its larger side is at most
    :data:`PICTURE_SIZE` (smooth edges, a quarter of the bytes per halving)."""
    import numpy as np

    image = np.asarray(image)
    factor = max(1, -(-max(image.shape[:2]) // PICTURE_SIZE))
    if factor == 1:
        return image.astype(np.uint8)
    h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    blocks = image[:h, :w].reshape(h // factor, factor, w // factor, factor, 3)
    return blocks.astype(np.float32).mean(axis=(1, 3)).round().astype(np.uint8)


class _Pictures:
    """Pictures of recorded states, each distinct state drawn once per page; turns name
    them by their number in :attr:`uris`."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self._numbers: dict[str, int] = {}
        self._envs: dict[str, Any] = {}
        self.skipped = 0

    def key(self, env_id: str, info: Any) -> int | None:
        if not isinstance(info, dict):
            return None
        if env_id not in self._envs:
            self._envs[env_id] = None
            if env_id in registered_env_ids():
                with probe_env(env_id) as env:
                    self._envs[env_id] = env.unwrapped
        base = self._envs[env_id]
        if base is None:
            return None
        try:
            state = base.picture_state(info)
        except Exception:  # a record from another version of the env: no picture
            return None
        if state is None:
            return None
        key = f"{env_id}|{state}"
        if key not in self._numbers:
            if len(self.uris) >= MAX_PICTURES:
                self.skipped += 1
                return None
            self._numbers[key] = len(self.uris)
            self.uris.append(png_data_uri(_shrink(base.draw_picture(state))))
        return self._numbers[key]


def _episode_row(
    record: dict[str, Any], source: str, source_index: int, number: int, pictures: _Pictures
) -> dict[str, Any]:
    """What the page needs of one episode record."""
    env_id = str(record.get("env", ""))
    turns = record.get("turns")
    if not isinstance(turns, list):  # an older record: only the answers
        turns = [{"answer": a} for a in record.get("answers_text") or []]
    before = record.get("start") if isinstance(record.get("start"), dict) else None
    shown = []
    for turn in turns:
        if not isinstance(turn, dict):
            continue
        info = turn.get("info") if isinstance(turn.get("info"), dict) else {}
        row = {
            "seen": _cut(turn["seen"]) if "seen" in turn else None,
            "answer": _cut(turn.get("answer", "")),
            "reward": _round(turn.get("reward")),
            "components": {k: _round(v) for k, v in (turn.get("components") or {}).items()},
            "parsed": _cut(info.get("parsed_action")) if "parsed_action" in info else None,
            "format_ok": info.get("format_ok"),
            "invalid": bool(info.get("invalid_action")),
            "error": _cut(info.get("format_error") or info.get("invalid_reason") or ""),
            "picture": pictures.key(env_id, before) if before is not None else None,
            "after": pictures.key(env_id, info),
        }
        if not row["invalid"]:
            del row["invalid"]
        if not row["error"]:
            del row["error"]
        shown.append({k: v for k, v in row.items() if v is not None})
        before = info
    return {
        "id": f"{source_index}.{number}",
        "source": source,
        "env": env_id,
        "policy": str(record.get("policy", "")),
        "condition": str(record.get("condition", "")),
        "opponent": str((record.get("settings") or {}).get("opponent_policy") or ""),
        "index": record.get("index"),
        "seed": record.get("seed"),
        "reward": float(record["reward"]),
        "outcome": _outcome(record),
        "metrics": record.get("metrics") or {},
        "answers": len(shown),
        "format_failures": sum(t.get("format_ok") is False for t in shown),
        "invalid": sum(bool(t.get("invalid")) for t in shown),
        "truncated": bool(record.get("truncated")),
        "turns": shown,
    }


def _round(value: Any) -> Any:
    """A reward as the page shows it (6 decimals: no 2.7e-17 leftovers of float sums)."""
    return round(value, 6) if isinstance(value, float) else value


def _series(rows: list[dict[str, Any]]) -> dict[str, list[list[float]]]:
    """metric name -> [[step, value], ...] for every numeric metric of a run."""
    out: dict[str, list[list[float]]] = {}
    for row in rows:
        step = row["step"]
        for key, value in row.items():
            if key == "step" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                continue
            out.setdefault(key, []).append([step, value])
    return out


def page_data(sources: Sequence[Source]) -> dict[str, Any]:
    """Everything the page shows, as JSON data."""
    pictures = _Pictures()
    episodes = []
    runs = []
    for i, source in enumerate(sources):
        for number, record in enumerate(source.episodes):
            episodes.append(_episode_row(record, source.name, i, number, pictures))
        for name, rows in source.runs.items():
            runs.append({"source": source.name, "name": name, "series": _series(rows)})
    notes = [n for s in sources for n in s.notes]
    if pictures.skipped:
        notes.append(f"{pictures.skipped} pictures not drawn (more than {MAX_PICTURES:,})")
    return {
        "sources": [s.name for s in sources],
        "episodes": episodes,
        "runs": runs,
        "stages": [{"source": s.name, "rows": s.stages} for s in sources if s.stages],
        "pictures": pictures.uris,
        "notes": notes,
    }


def _script_json(data: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_page(paths: Sequence[str | Path], title: str | None = None) -> str:
    """The HTML page of ``paths`` (eval files and run folders), as text."""
    if not paths:
        raise NotARunError("nothing to view: give an eval JSONL file or a run folder")
    sources = [read_source(p) for p in paths]
    names = [s.name for s in sources]
    for i, source in enumerate(sources):  # two paths named alike stay apart
        if names.count(source.name) > 1:
            source.name = f"{source.name} ({i + 1})"
    data = page_data(sources)
    heading = title or "textgym view: " + ", ".join(s.name for s in sources)
    template = (Path(__file__).parent / "viewer_page.html").read_text(encoding="utf-8")
    head, tail = template.split("__DATA__")
    return head.replace("__TITLE__", _html_text(heading)) + _script_json(data) + tail


def _html_text(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def write_page(paths: Sequence[str | Path], out: str | Path) -> Path:
    """Write the page of ``paths`` to ``out`` (atomically) and return its path."""
    out = Path(out)
    write_text_atomically(out, build_page(paths))
    return out


__all__ = [
    "MAX_TEXT",
    "NotARunError",
    "Source",
    "build_page",
    "page_data",
    "read_jsonl",
    "read_source",
    "stage_table",
    "write_page",
]
