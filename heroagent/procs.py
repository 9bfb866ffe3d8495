"""Child processes that must not outlive us: the parent-death signal, liveness, a stop that ends.

On the ground floor: the embedded Redis's supervisor, the job runner's process groups and per-job
isolation all start children that `kill -9` of the server must not leave behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time

_PR_SET_PDEATHSIG = 1
try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not Linux
    _libc = None


def die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGTERM the child when the thread that forked it dies.

    This is what keeps `kill -9` of the server from leaving a redis-server behind. Only the
    async-signal-safe prctl call runs in the child.
    """
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def terminate(pid: int, timeout: float) -> bool:
    """SIGTERM, wait up to `timeout`, then SIGKILL. True if it exited on SIGTERM.

    A stopped process (SIGSTOP, a stalled server) is continued too: else the SIGTERM waits, and the
    SIGKILL after `timeout` ends it without the save a SIGTERM makes."""
    try:
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    return False
