"""The data dir's lock: one HeroAgent per data dir, decided before anything else happens.

A second `heroagent serve` on the same data dir used to stop the first one's Redis (taking it for a
leftover of a crash) before failing on the history's lock. Now the first thing `start()` does is take
`<data_dir>/heroagent.lock` (flock, holding the pid); a second agent is refused there, naming the pid,
and touches nothing. The kernel drops the lock when the holder dies, even by kill -9.
"""

from __future__ import annotations

import os
from pathlib import Path

from heroagent import pidlock
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
            self._fd = pidlock.acquire(self.path)
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
