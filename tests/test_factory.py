"""The factory: start order, rollback when a service fails, stop in reverse, and the public API."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest
import redis

import heroagent
from heroagent import HeroAgent, New
from heroagent.errors import ConfigError, ServiceError
from tests.conftest import make_config, pid_running


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
