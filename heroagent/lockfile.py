"""The data dir's lock: one HeroAgent per data dir, decided before anything else happens.

A second `heroagent serve` on the same data dir used to stop the first one's Redis (taking it for a
leftover of a crash) before failing on the history's lock. Now the first thing `start()` does is take
`<data_dir>/heroagent.lock` (flock, holding the pid); a second agent is refused there, naming the pid,
and touches nothing. The kernel drops the lock when the holder dies, even by kill -9.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from heroagent import pidlock
from heroagent.errors import HeroAgentError

log = logging.getLogger("heroagent")

LOCK_NAME = "heroagent.lock"


class DataDirInUseError(HeroAgentError):
    """Another running HeroAgent holds the data dir."""


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._fd = pidlock.acquire(self.path)
            _private(self.path.parent)
        except pidlock.PidLockHeld as held:
            raise DataDirInUseError(
                f"the data dir {self.path.parent} is in use by another HeroAgent (pid {held.holder}); "
                "stop that one first, or give this one its own data_dir"
            ) from None
        except OSError as exc:
            raise HeroAgentError(
                f"cannot use the data dir {self.path.parent}: {exc.strerror}; check data_dir and its permissions"
            ) from None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _private(data_dir: Path) -> None:
    """The data dir is ours alone (mode 700): the history, its index, the job logs, the Redis password and
    the dashboard's secret key are then unreadable to other local users, whatever their own modes. A
    folder another user owns (a shared mount) is left as it is, with a warning."""
    try:
        if data_dir.stat().st_uid != os.getuid():
            log.warning("the data dir %s belongs to another user: its mode is left as it is", data_dir)
            return
        if data_dir.stat().st_mode & 0o077:
            os.chmod(data_dir, 0o700)
    except OSError as exc:
        log.warning("cannot make the data dir %s private (mode 700): %s", data_dir, exc)
