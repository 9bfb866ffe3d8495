"""The data dir's lock: one HeroAgent per data dir, decided before anything else happens.

A second `heroagent serve` on the same data dir used to stop the first one's Redis (taking it for a
leftover of a crash) before failing on the history's lock. Now the first thing `start()` does is take
`<data_dir>/heroagent.lock` (flock, holding the pid); a second agent is refused there, naming the pid,
and touches nothing. The kernel drops the lock when the holder dies, even by kill -9.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from heroagent.errors import HeroAgentError

LOCK_NAME = "heroagent.lock"


class DataDirInUseError(HeroAgentError):
    """Another running HeroAgent holds the data dir."""


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise HeroAgentError(
                f"cannot use the data dir {self.path.parent}: {exc.strerror}; check data_dir and its permissions"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirInUseError(
                f"the data dir {self.path.parent} is in use by another HeroAgent (pid {holder}); "
                "stop that one first, or give this one its own data_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
