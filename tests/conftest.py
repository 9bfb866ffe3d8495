"""Shared fixtures: free ports, a data dir per test, and a check that no child process outlives a test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A short data dir (Unix socket paths must stay under 108 bytes)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="ha-"))
    yield path  # type: ignore[misc]
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def run_python(code: str, *args: str, timeout: float = 60, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a snippet in a fresh interpreter with this checkout importable."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, env=env, **kwargs  # type: ignore[call-overload]
    )


def redis_server_pids() -> set[int]:
    """Pids of every redis-server on the machine (to prove a test left none behind)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0", 1)[0]
        except OSError:
            continue
        if argv0.endswith(b"redis-server"):
            pids.add(int(entry))
    return pids


@pytest.fixture(autouse=True)
def no_orphan_redis() -> Iterator[None]:
    """Fail any test that leaves a redis-server running that it did not find."""
    before = redis_server_pids()
    yield
    left = redis_server_pids() - before
    if left:
        import time

        deadline = time.monotonic() + 5
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = {p for p in left if os.path.exists(f"/proc/{p}") and _not_zombie(p)}
    assert not left, f"test left redis-server running: pids {sorted(left)}"


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False
