"""Our threads' names, given to the operating system too (Linux `prctl(PR_SET_NAME)`).

Python names a thread for itself only: `top -H`, `ps -L` and /proc/<pid>/task/<tid>/comm show every thread
of `heroagent serve` as "python3". Named there too, an operator sees which part spins (the recorder, a
worker, a webhook sender) and the benchmarks count CPU per role (bench/_cpu.py). The kernel keeps 15
characters. Best effort: elsewhere than Linux, or without libc, nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading

PR_SET_NAME = 15
_libc: ctypes.CDLL | None = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        _libc = None


def name_this_thread(name: str | None = None) -> None:
    """Give the calling thread's name (or `name`) to the OS, cut to 15 bytes."""
    if _libc is None:
        return
    text = (name or threading.current_thread().name).encode(errors="replace")[:15]
    try:
        _libc.prctl(PR_SET_NAME, ctypes.c_char_p(text), 0, 0, 0)
    except (AttributeError, OSError):
        return
