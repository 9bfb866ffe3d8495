"""Redis in production, least privilege (issue 28, item 2): everything works with an ACL user that has no
@admin and no @dangerous commands and may touch only HeroAgent's keys, the rule the README gives; what
needs more (INFO, for the dashboard's Redis panel and for noticing every Redis restart) degrades with a note.

Real parts: a Redis with an ACL user (the bundled 6.2, and Debian's Redis 7 with the README's `-function`),
the server, its pages and API, a `heroagent worker` process, JobClient.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests

from heroagent import HeroAgent
from heroagent.client import JobClient
from heroagent.jobs import JobStatus
from heroagent.redis_server import EmbeddedRedis
from tests.conftest import (
    external_redis,
    free_port,
    make_config,
    readme_acl_rule,
    start_worker,
    ui_url,
    wait_until,
)

# The README's rule (section "Redis in production"), without +info: the least a user can be given.
ACL_RULE = readme_acl_rule("heroagent", "app-secret-app-secret")
DEBIAN_REDIS = shutil.which("redis-server", path="/usr/bin")


@dataclass
class DebianRedis:
    """Debian's redis-server (7.x), no password for its default user: the admin of a managed Redis."""

    proc: subprocess.Popen[bytes]
    port: int

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture(params=["bundled-6.2", "debian-7"])
def managed_redis(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[tuple[str, DebianRedis | EmbeddedRedis]]:
    """A Redis of its own: the bundled server, or Debian's (Redis 7: the README's rule adds -function)."""
    if request.param == "bundled-6.2":
        bundled = external_redis(data_dir)
        try:
            yield request.param, bundled
        finally:
            bundled.stop()
        return
    if DEBIAN_REDIS is None:
        pytest.skip("scripts/test.sh installs Debian's redis-server")
    folder = data_dir / "debian-redis"
    folder.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [DEBIAN_REDIS, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    server = DebianRedis(proc, port)

    def answers() -> bool:
        try:
            with server.client() as client:
                return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        assert wait_until(answers, timeout=20)
        yield request.param, server
    finally:
        server.stop()


def test_an_acl_user_without_admin_dangerous_or_other_keys_runs_everything(
    data_dir: Path, managed_redis: tuple[str, DebianRedis | EmbeddedRedis]
) -> None:
    kind, server = managed_redis
    worker = None
    try:
        admin = server.client()
        version = int(admin.info("server")["redis_version"].split(".")[0])
        assert (version >= 7) == (kind == "debian-7")
        rule = (*ACL_RULE, "-function") if version >= 7 else ACL_RULE  # as the README says for Redis 7
        admin.execute_command("ACL", "SETUSER", "app", *rule)  # type: ignore[no-untyped-call]
        admin.set("other-app:secret", "theirs")
        url = f"redis://app:app-secret-app-secret@127.0.0.1:{server.port}/0"
        with redis.Redis.from_url(url) as limited:  # the rule holds: other keys, INFO... are refused
            refused = [("GET", "other-app:secret"), ("INFO",), ("CONFIG", "GET", "dir"), ("KEYS", "*")]
            refused.append(("SCRIPT", "FLUSH"))  # every user's script cache
            if version >= 7:
                refused.append(("FUNCTION", "FLUSH"))  # every user's function libraries
            for command in refused:
                try:
                    limited.execute_command(*command)
                    raise AssertionError(f"{command} was allowed")
                except redis.exceptions.NoPermissionError:
                    pass
        config = make_config(
            data_dir / "srv", redis={"url": url}, webdav={"enabled": False}, jobs={"topics": ["local"]}
        )
        with HeroAgent(config) as agent:
            worker = start_worker(url, "remote")
            jm = agent.get_job_manager()
            local = jm.create_job("local", "!!fake.return_success message:here", idempotency_key="acl-1")
            remote = JobClient(url, timeout=5).create_job("remote", "!!fake.return_success message:there")
            assert jm.wait_for_job(local.job_id, timeout=20).status is JobStatus.DONE
            assert jm.wait_for_job(remote.job_id, timeout=30).result == ["there"]
            schedules = agent.get_schedules()
            schedules.add("beat", "local", "!!fake.return_success", every=0.5)
            assert wait_until(lambda: schedules.get("beat").recent_jobs, timeout=15)
            assert agent.health() == {**agent.health(), "redis": "running", "jobs": "running"}
            assert any("may not run INFO" in n for n in agent.notices())
            for path in ("/", "/jobs", f"/jobs/{local.job_id}", "/schedules", "/metrics", "/api/health"):
                page = requests.get(ui_url(agent, path), timeout=10)
                assert page.status_code == 200, (path, page.status_code)
            assert "may not run INFO" in requests.get(ui_url(agent, "/"), timeout=10).text
        assert admin.get("other-app:secret") == b"theirs"
        admin.close()
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
