"""The embedded Redis as a real child process: TCP and socket, persistence, supervision, no orphans."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from heroagent.errors import ServiceError
from heroagent.redis_server import EmbeddedRedis, ExternalRedis
from tests.conftest import REPO, make_config, pid_running, wait_until


@pytest.fixture
def embedded(data_dir: Path):  # type: ignore[no-untyped-def]
    server = EmbeddedRedis(make_config(data_dir))
    server.start()
    yield server
    server.stop()


def test_tcp_and_socket_and_files_under_data_dir(embedded: EmbeddedRedis, data_dir: Path) -> None:
    tcp = redis.Redis(host="127.0.0.1", port=embedded.port, password=embedded.password)
    assert tcp.ping()
    tcp.set("k", "v")
    assert embedded.client().get("k") == b"v"
    assert redis.Redis.from_url(embedded.socket_url).get("k") == b"v"
    workdir = data_dir / "redis"
    assert (workdir / "redis.conf").exists()
    assert stat.S_IMODE((workdir / "redis.conf").stat().st_mode) == 0o600
    assert stat.S_IMODE(embedded.socket_path.stat().st_mode) == 0o700
    info = tcp.info("persistence")
    assert info["aof_enabled"] == 1
    assert tcp.config_get("appendfsync")["appendfsync"] == "everysec"  # the default; "always" is tested below
    assert tcp.config_get("save")["save"] == "3600 1 300 100 60 10000"
    assert tcp.config_get("dir")["dir"] == str(workdir)
    tcp.close()


def test_data_survives_a_restart(data_dir: Path) -> None:
    config = make_config(data_dir)
    server = EmbeddedRedis(config)
    server.start()
    server.client().rpush("q", "a", "b")
    pid = server.pid
    server.stop()
    assert pid is not None and not pid_running(pid)
    assert (data_dir / "redis" / "appendonly.aof").exists()
    assert (data_dir / "redis" / "dump.rdb").exists(), "SIGTERM stop saves an RDB snapshot"
    again = EmbeddedRedis(config)
    again.start()
    try:
        assert again.client().lrange("q", 0, -1) == [b"a", b"b"]
    finally:
        again.stop()


def test_password(data_dir: Path) -> None:
    server = EmbeddedRedis(make_config(data_dir, redis={"password": "hunter2"}))
    server.start()
    try:
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=server.port).ping()
        assert redis.Redis.from_url(server.url).ping()
        assert server.client().ping()
    finally:
        server.stop()


def test_port_in_use_is_a_clear_error_before_start(data_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = EmbeddedRedis(make_config(data_dir, redis={"tcp_port": port}))
        with pytest.raises(
            ServiceError, match=rf"redis: port {port} on 127.0.0.1 is already in use.*\[redis\] tcp_port"
        ):
            server.start()
    assert server.pid is None


def test_socket_path_too_long(data_dir: Path) -> None:
    long_path = data_dir / ("x" * 120) / "redis.sock"
    server = EmbeddedRedis(make_config(data_dir, redis={"unix_socket": str(long_path)}))
    with pytest.raises(ServiceError, match=r"the limit is 107.*\[redis\] unix_socket"):
        server.start()


def test_refuses_non_loopback_without_password(data_dir: Path) -> None:
    server = EmbeddedRedis(make_config(data_dir, redis={"host": "0.0.0.0"}))
    with pytest.raises(ServiceError, match=r"\[redis\] password"):
        server.start()


def test_monitor_restarts_a_crashed_server(embedded: EmbeddedRedis) -> None:
    embedded.client().set("survives", "yes")
    old = embedded.pid
    embedded.kill()
    assert wait_until(lambda: embedded.restarts == 1 and embedded.pid != old)
    assert embedded.client().get("survives") == b"yes"


def test_leftover_server_from_a_crash_is_stopped(data_dir: Path) -> None:
    """A server an earlier HeroAgent left running (found by its pid file) is stopped, then ours starts."""
    config = make_config(data_dir)
    first = EmbeddedRedis(config)
    first.start()
    first._stopping.set()  # forget it as a crashed parent would, without stopping it
    leftover = first.pid
    assert leftover is not None
    second = EmbeddedRedis(config)
    second.start()
    try:
        assert not pid_running(leftover)
        assert second.pid != leftover and second.client().ping()
    finally:
        second.stop()
        first._proc.wait() if first._proc else None  # reap the zombie


PARENT = """
import sys, time
from heroagent.config import Config
from heroagent.redis_server import EmbeddedRedis
c = Config(data_dir=sys.argv[1]); c.redis.tcp_port = int(sys.argv[2])
r = EmbeddedRedis(c); r.start()
print(r.pid, flush=True)
time.sleep(60)
"""


def test_no_orphan_when_the_parent_is_killed_with_sigkill(data_dir: Path) -> None:
    from tests.conftest import free_port

    env = dict(os.environ, PYTHONPATH=str(REPO))
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(data_dir), str(free_port())],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert parent.stdout is not None
    redis_pid = int(parent.stdout.readline())
    assert pid_running(redis_pid)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert wait_until(lambda: not pid_running(redis_pid), timeout=10)


def test_external_redis_by_url(embedded: EmbeddedRedis, data_dir: Path) -> None:
    external = ExternalRedis(make_config(data_dir, redis={"url": embedded.url}))
    external.start()
    assert external.client().ping()
    bad = ExternalRedis(make_config(data_dir, redis={"url": "redis://127.0.0.1:1/0"}))
    with pytest.raises(ServiceError, match="cannot reach Redis"):
        bad.start()


def test_a_local_user_without_the_password_cannot_use_the_embedded_redis(data_dir: Path) -> None:
    """Issue 10, item 6: with the defaults any local user could CONFIG SET dir + SAVE to write files."""
    config = make_config(data_dir)
    server = EmbeddedRedis(config)
    server.start()
    try:
        stranger = redis.Redis(host="127.0.0.1", port=server.port)
        for command in (("PING",), ("CONFIG", "SET", "dir", str(data_dir)), ("SAVE",), ("KEYS", "*")):
            with pytest.raises((redis.AuthenticationError, redis.ResponseError), match=r"(?i)auth"):
                stranger.execute_command(*command)  # type: ignore[no-untyped-call]
        secret = data_dir / "redis" / "password"
        assert secret.stat().st_mode & 0o777 == 0o600 and (data_dir / "redis").stat().st_mode & 0o777 == 0o700
        password = secret.read_text().strip()
        assert len(password) >= 32 and server.password == password
        assert server.display_url == f"redis://:***@127.0.0.1:{server.port}/0"  # what the banner shows
        assert server.client().ping() and redis.Redis.from_url(server.url).ping()
    finally:
        server.stop()
    again = EmbeddedRedis(config)  # the same password at the next start: clients given the config keep working
    again.start()
    try:
        assert again.password == password
        assert redis.Redis(host="127.0.0.1", port=again.port, password=password).ping()
    finally:
        again.stop()


def test_appendfsync_always_is_passed_to_redis(data_dir: Path) -> None:
    server = EmbeddedRedis(make_config(data_dir, redis={"appendfsync": "always"}))
    server.start()
    try:
        assert server.client().config_get("appendfsync")["appendfsync"] == "always"
    finally:
        server.stop()


@pytest.mark.parametrize("content", ["", "\n", "   \n", "a b c\n", "x\n"])
def test_an_empty_or_damaged_password_file_is_replaced_never_a_redis_without_a_password(
    data_dir: Path, content: str
) -> None:
    """Issue 31, item 3: an empty password file used to start the embedded Redis without a password, so any
    local user could CONFIG SET dir and write files as the server's user."""
    secret = data_dir / "redis" / "password"
    secret.parent.mkdir(parents=True, mode=0o700)
    secret.write_text(content)
    server = EmbeddedRedis(make_config(data_dir))
    server.start()
    try:
        stranger = redis.Redis(host="127.0.0.1", port=server.port)
        with pytest.raises((redis.AuthenticationError, redis.ResponseError), match=r"(?i)auth"):
            stranger.execute_command("CONFIG", "SET", "dir", str(data_dir))  # type: ignore[no-untyped-call]
        password = secret.read_text().strip()
        assert len(password) >= 32 and server.password == password
        assert secret.stat().st_mode & 0o777 == 0o600
        assert server.client().ping()
    finally:
        server.stop()
