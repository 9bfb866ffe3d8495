"""Writes that are checked: a short write or an OSError becomes a StorageError, and the bytes a failed
append had begun are cut off again, so a full disk never leaves a half record that a later write would
land after (or that recovery would have to guess about)."""

from __future__ import annotations

import contextlib
import errno as errnos
import os

from heroagent.ourdb.errors import StorageError

HINTS = {
    errnos.ENOSPC: "the disk is full; free some space and HeroAgent goes on by itself",
    errnos.EDQUOT: "the disk quota is used up; raise it or free some space",
    errnos.EFBIG: "the file size limit (ulimit -f) is reached; raise it",
    errnos.EIO: "the disk reported an I/O error; check it (dmesg)",
    errnos.EROFS: "the file system is read-only; remount it read-write",
}


def pwrite_exactly(fd: int, data: bytes, position: int, where: str, *, undo_append: bool = False) -> None:
    """Write all of `data` at `position`, or raise StorageError. With `undo_append` (the write appended at
    the end of the file) the file is cut back to `position` first, so the failed record leaves no trace."""
    try:
        written = os.pwrite(fd, data, position)
    except OSError as exc:
        if undo_append:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, position)
        raise storage_error(where, exc) from None
    if written != len(data):
        if undo_append:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, position)
        raise StorageError(
            f"{where}: only {written} of {len(data)} bytes could be written; {HINTS[errnos.ENOSPC]}", errnos.ENOSPC
        )


def sync(fd: int, where: str) -> None:
    try:
        os.fdatasync(fd)
    except OSError as exc:
        raise storage_error(where, exc) from None


def storage_error(where: str, exc: OSError) -> StorageError:
    hint = HINTS.get(exc.errno or 0, "check the disk")
    return StorageError(f"{where}: {exc.strerror or exc} ({hint})", exc.errno)
