"""An exclusive lock on a file that holds the owner's pid: one writer per database, one agent per data dir.

`flock` is dropped by the kernel when the holder dies, even by kill -9, so a crash never leaves a stale
lock; the pid in the file is only there to name the holder in the error.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class PidLockHeld(Exception):
    """Another process holds the lock; `holder` is its pid as the file says (or 'unknown')."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def acquire(path: Path) -> int:
    """Take the lock (creating the file); returns the fd to keep open, or raises PidLockHeld (or OSError)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise PidLockHeld(holder) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
