"""textgym.utils.files: atomic folders and files, repair after a kill, clear errors for an
unwritable place or a full disk."""

from __future__ import annotations

import errno
import json

import pytest

from textgym.cli import main
from textgym.utils.files import (
    SaveError,
    check_writable,
    recover,
    repair_jsonl,
    save_atomically,
    write_text_atomically,
)


def write_marker(text: str):
    def write(folder):
        (folder / "marker.txt").write_text(text)

    return write


def test_a_kill_between_the_two_renames_is_repaired(tmp_path) -> None:
    final = tmp_path / "checkpoint"
    save_atomically(final, write_marker("one"))
    # what a kill right after `final -> final.old` leaves behind: no final, a complete
    # old one, and a half-written temporary folder
    final.rename(tmp_path / "checkpoint.old")
    (tmp_path / "checkpoint.tmp").mkdir()
    (tmp_path / "checkpoint.tmp" / "half").write_text("x")
    recover(final)
    assert (final / "marker.txt").read_text() == "one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    # and a save in that state keeps the previous folder until the new one is in place
    final.rename(tmp_path / "checkpoint.old")
    save_atomically(final, write_marker("two"))
    assert (final / "marker.txt").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_a_full_disk_while_saving_is_one_error_and_keeps_the_previous_folder(tmp_path) -> None:
    final = tmp_path / "checkpoint"
    save_atomically(final, write_marker("one"))

    def full(folder):
        (folder / "part").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(SaveError, match="the disk is full; the previous checkpoint is intact"):
        save_atomically(final, full)
    assert (final / "marker.txt").read_text() == "one"
    assert not (tmp_path / "checkpoint.tmp").exists()

    def full_as_text(folder):  # safetensors reports the OS error inside its own
        raise RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull })")

    with pytest.raises(SaveError, match="disk is full"):
        save_atomically(final, full_as_text)

    def bug(folder):
        raise KeyError("a bug, not the disk")

    with pytest.raises(KeyError):  # other failures are not dressed up as disk trouble
        save_atomically(final, bug)


def test_unwritable_places_are_refused_before_work(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(SaveError, match="cannot write the RL output folder"):
        check_writable(blocker / "run", "RL output")
    assert check_writable(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert not (tmp_path / "new").exists()  # the probe and the folders made for it are gone
    (tmp_path / "old").mkdir()
    check_writable(tmp_path / "old")
    assert (tmp_path / "old").is_dir() and list((tmp_path / "old").iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "rl", "--model", "{model}", "--out", "{blocked}/run", "--steps", "1"],
        ["train", "sft", "--model", "{model}", "--out", "{blocked}/warm", "--games", "2"],
        ["eval", "--policy", "random", "--episodes", "2", "--out", "{blocked}/r.jsonl"],
        ["pipeline", "--preset", "quick", "--out", "{blocked}/run"],
    ],
    ids=["train-rl", "train-sft", "eval", "pipeline"],
)
def test_commands_refuse_an_unwritable_output_in_one_line(
    argv, tiny_model_path, tmp_path, capsys
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    argv = [a.format(model=tiny_model_path, blocked=blocked) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write" in err and str(blocked) in err


def test_small_files_are_replaced_whole_and_torn_lines_cut(tmp_path) -> None:
    path = tmp_path / "config.json"
    write_text_atomically(path, json.dumps({"a": 1}))
    write_text_atomically(path, json.dumps({"a": 2}))
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]

    log = tmp_path / "r.jsonl"
    log.write_text('{"index": 0}\n{"index": 1}\n{"ind')  # killed mid-append
    repair_jsonl(log)
    assert log.read_text() == '{"index": 0}\n{"index": 1}\n'
    repair_jsonl(log)  # a whole file is left alone
    assert log.read_text() == '{"index": 0}\n{"index": 1}\n'
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"ind')
    repair_jsonl(torn)
    assert torn.read_text() == ""
