"""Finding a redis-server that an earlier crash left behind (its pid file said who; /proc says whether it is ours)."""

from __future__ import annotations

import os
from pathlib import Path


def is_our_redis(pid: int, executable: Path, workdir: Path) -> bool:
    """A redis-server started from `executable` in `workdir` (redis rewrites its title, so look at exe/cwd)."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    exe = exe.removesuffix(" (deleted)")
    return Path(exe).name == executable.name and Path(cwd).resolve() == workdir.resolve()
