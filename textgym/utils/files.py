"""Writing run files and folders so that a hard kill or a full disk loses nothing already done.

A folder is written under a temporary name and renamed into place, so a run killed while
saving leaves either the previous folder or the new one, never half of one; a kill
between the two renames is repaired by :func:`recover` (which every save and every
resume calls). :func:`check_writable` finds an output place that cannot be written before
any work starts, and a disk that fills while saving is one clear :class:`SaveError`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path


class SaveError(OSError):
    """A run folder could not be written (unwritable place, full disk); the message says
    what was kept."""


def _siblings(final: Path) -> tuple[Path, Path]:
    return final.with_name(final.name + ".tmp"), final.with_name(final.name + ".old")


def recover(final: str | Path) -> Path:
    """Repair what a kill during :func:`save_atomically` left: the previous folder moved
    aside but the new one not yet in place (the previous one comes back); a half-written
    temporary folder is removed."""
    final = Path(final)
    tmp, old = _siblings(final)
    if not final.exists() and old.exists():
        old.rename(final)
    for leftover in (tmp, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    return final


def check_writable(place: str | Path, what: str = "output") -> Path:
    """Prove that the folder ``place`` can be written, leaving no trace: the folders it
    lacks are made for a probe file (written, synced and removed) and removed again, so a
    command refused after this check leaves nothing behind. Raise :class:`SaveError`
    naming it otherwise. The writer makes the folder when it writes.

    Several processes may check the same place at once (ranks under torchrun): a folder
    another one made is used and left to it, and a probe whose folder another removed
    meanwhile is tried again."""
    place = Path(place)
    for attempt in range(3):
        made: list[Path] = []
        probe = place / f".textgym-write-probe-{os.getpid()}"
        try:
            missing = place
            chain = []
            while not missing.exists() and missing != missing.parent:
                chain.append(missing)
                missing = missing.parent
            for folder in reversed(chain):
                try:
                    folder.mkdir()
                    made.append(folder)
                except FileExistsError:  # another process made it: not ours to remove
                    pass
            with open(probe, "wb") as f:
                f.write(b"textgym")
                f.flush()
                os.fsync(f.fileno())
            return place
        except FileNotFoundError:
            if attempt == 2:
                raise SaveError(
                    f"cannot write the {what} folder {place}: it keeps disappearing"
                ) from None
        except OSError as exc:
            raise SaveError(
                f"cannot write the {what} folder {place}: {describe_os_error(exc)}"
            ) from None
        finally:
            with contextlib.suppress(OSError):  # never written
                probe.unlink()
            for folder in reversed(made):  # deepest first; kept when another wrote in it
                with contextlib.suppress(OSError):
                    folder.rmdir()
    return place


def describe_os_error(exc: OSError) -> str:
    """An OS error in a few words for an error line ("the disk is full", "Is a directory")."""
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    return exc.strerror or str(exc)


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write a small text file so that a kill leaves the old content or the new, never a
    torn file (a temporary file, synced, then renamed over ``path``)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SaveError(f"could not save {path}: {describe_os_error(exc)}") from None
    return path


def repair_jsonl(path: str | Path) -> None:
    """Cut a torn last line (a kill in the middle of an append) off a JSONL file, so that
    the next append starts on a line of its own."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        data = f.seek(0) or f.read()
        f.truncate(data.rfind(b"\n") + 1)


def _disk_full(exc: BaseException) -> bool:
    """A full disk as other libraries report it (safetensors wraps the OS error in text)."""
    text = str(exc)
    return "No space left" in text or "StorageFull" in text


def save_atomically(final: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a fresh temporary folder, then put it in place of ``final``.

    Raises :class:`SaveError` when the folder cannot be written (a full disk, say); the
    previous ``final`` is then untouched and the temporary folder removed.
    """
    final = recover(final)
    tmp, old = _siblings(final)
    try:
        tmp.mkdir(parents=True)
        write(tmp)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if not isinstance(exc, OSError) and not _disk_full(exc):
            raise
        kept = f"; the previous {final.name} is intact" if final.exists() else ""
        reason = describe_os_error(exc) if isinstance(exc, OSError) else "the disk is full"
        raise SaveError(f"could not save {final}: {reason}{kept}") from None
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)
    return final
