"""The factory: start order, rollback when a service fails, stop in reverse, and the public API."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from pathlib import Path

import pytest
import redis

import heroagent
from heroagent import HeroAgent, New
from heroagent.errors import ConfigError, ServiceError
from heroagent.lockfile import DataDirInUseError
from heroagent.redis_server import EmbeddedRedis
from tests.conftest import make_config, pid_running, redis_server_pids, wait_until


def test_start_serves_every_enabled_service(data_dir: Path) -> None:
    config = make_config(data_dir)
    with HeroAgent(config) as agent:
        assert agent.service_states() == {
            "redis": "running",
            "jobs": "running",
            "scheduler": "running",
            "webdav": "running",
            "ui": "running",
        }
        assert redis.Redis(port=config.redis.tcp_port, password=agent.redis.password).ping()  # type: ignore[union-attr]
        with urllib.request.urlopen(f"http://127.0.0.1:{config.ui.port}/api/health") as response:
            assert json.load(response) == {
                "status": "ok",
                "services": {
                    "redis": "running",
                    "jobs": "running",
                    "scheduler": "running",
                    "webdav": "running",
                    "ui": "running",
                },
                "problems": [],
                "notices": [],
            }
        with urllib.request.urlopen(f"http://127.0.0.1:{config.webdav.port}/scripts/") as response:
            assert response.status == 200
        addresses = agent.addresses()
        assert set(addresses) == {"redis", "redis socket", "webdav", "dashboard"}
        redis_pid = agent.redis.pid  # type: ignore[union-attr]
    assert not agent.running
    assert redis_pid is not None and not pid_running(redis_pid)


def test_a_failing_service_stops_the_ones_already_started(data_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config = make_config(data_dir, ui={"port": busy.getsockname()[1]})
        agent = HeroAgent(config)
        with pytest.raises(ServiceError, match=r"^ui: port \d+ on 127.0.0.1 is already in use") as info:
            agent.start()
        assert info.value.service == "ui"
    assert not agent.running
    # Redis and WebDAV were stopped again: their ports are free.
    for port in (config.redis.tcp_port, config.webdav.port):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))


def test_disabled_services_are_not_started(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"enabled": False})
    with HeroAgent(config) as agent:
        assert agent.service_states() == {
            "redis": "running",
            "jobs": "disabled",
            "scheduler": "disabled",
            "webdav": "disabled",
            "ui": "disabled",
        }


def test_jobs_without_redis_is_a_config_error(data_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[jobs\] enabled = true needs Redis"):
        HeroAgent(make_config(data_dir, redis={"enabled": False}))


def test_dashboard_refuses_a_public_address_without_auth(data_dir: Path) -> None:
    agent = HeroAgent(make_config(data_dir, ui={"host": "0.0.0.0"}))
    with pytest.raises(ServiceError, match=r"ui: refusing .* \[ui\] password"):
        agent.start()
    assert not agent.running


def test_public_names() -> None:
    assert heroagent.New is New
    assert HeroAgent.GetJobManager is HeroAgent.get_job_manager
    assert isinstance(heroagent.default_config(), heroagent.Config)


def test_a_second_agent_on_the_same_data_dir_is_refused_and_touches_nothing(data_dir: Path) -> None:
    """Issue 10, item 8: the second one used to stop the first one's Redis before failing."""
    config = make_config(data_dir, webdav={"enabled": False})
    with HeroAgent(config) as first:
        jm = first.get_job_manager()
        assert isinstance(first.redis, EmbeddedRedis)
        redis_pid = first.redis.pid
        assert redis_pid is not None
        other = make_config(data_dir, webdav={"enabled": False})  # same data dir, other ports
        second = HeroAgent(other)
        with pytest.raises(DataDirInUseError, match=rf"in use by another HeroAgent \(pid {os.getpid()}\)"):
            second.start()
        assert not second.running
        assert first.redis.pid == redis_pid and pid_running(redis_pid)
        assert jm.wait_for_job(jm.create_job("t", "!!fake.return_success").job_id, timeout=15).status.value == "done"
    with HeroAgent(config):  # released at stop: the same data dir starts again
        pass


@pytest.mark.parametrize(
    "sections",
    [
        {"ui": {"host": "0.0.0.0"}},
        {"webdav": {"host": "0.0.0.0"}},
        {"redis": {"host": "0.0.0.0"}},
    ],
)
def test_a_public_address_without_auth_is_refused_before_anything_starts(
    data_dir: Path, sections: dict[str, dict[str, object]]
) -> None:
    before = redis_server_pids()
    agent = HeroAgent(make_config(data_dir, **sections))
    with pytest.raises(ServiceError, match="refusing to serve"):
        agent.start()
    assert not agent.running and redis_server_pids() == before  # no Redis was started and stopped again
    assert not (data_dir / "redis" / "redis.conf").exists()


def test_the_data_dir_is_private_so_another_local_user_reads_nothing() -> None:
    """Issue 31, item 7/13: the history, its index and the job logs were readable by every local user."""
    import shutil
    import subprocess
    import tempfile

    parent = Path(tempfile.mkdtemp(prefix="heroagent-private-", dir="/tmp"))
    parent.chmod(0o755)  # a place any user can walk through, as a home or /srv is
    data = parent / "data"
    data.mkdir(mode=0o755)
    try:
        config = make_config(data, webdav={"enabled": False}, ui={"enabled": False})
        with HeroAgent(config) as agent:
            jm = agent.get_job_manager()
            job = jm.create_job("t", "!!fake.return_success message:secret-result", log=True)
            jm.wait_for_job(job.job_id, timeout=15)
            assert data.stat().st_mode & 0o777 == 0o700
            for path in (config.jobs_db_path / "0.db", config.logs_dir):
                read = subprocess.run(
                    ["runuser", "-u", "nobody", "--", "ls", "-la", str(path)], capture_output=True, text=True
                )
                assert read.returncode != 0 and "Permission denied" in read.stderr, read
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_a_full_redis_client_table_is_degraded_health_naming_it(data_dir: Path) -> None:
    """Issue 31, item 7: 10,100 idle connections from a local user without the password filled the embedded
    Redis's client slots (new clients refused) while health said ok. The table is shrunk here to 60 slots
    so that 60 idle connections fill it as 10,000 would."""
    import contextlib

    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False})
    with HeroAgent(config) as agent:
        assert agent.redis is not None
        admin = agent.redis.client()
        admin.config_set("maxclients", 60)
        idle: list[socket.socket] = []
        try:
            while len(idle) < 60:
                sock = socket.create_connection(("127.0.0.1", config.redis.tcp_port))
                idle.append(sock)  # no AUTH: a stranger's connection, held open
            assert agent.health()["redis"] == "degraded"
            assert any("client slots" in p for p in agent.problems()), agent.problems()
        finally:
            for sock in idle:
                with contextlib.suppress(OSError):
                    sock.close()
        assert wait_until(lambda: agent.health()["redis"] == "running", timeout=10)
        admin.close()
