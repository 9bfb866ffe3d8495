"""Redis in production, least privilege (issue 28, item 2): everything works with an ACL user that has no
@admin and no @dangerous commands and may touch only HeroAgent's keys, the rule the README gives; what
needs more (INFO, for the dashboard's Redis panel and for noticing every Redis restart) degrades with a note.

Real parts: a Redis with an ACL user, the server, its pages and API, a `heroagent worker` process, JobClient.
"""

from __future__ import annotations

from pathlib import Path

import redis
import requests

from heroagent import HeroAgent
from heroagent.client import JobClient
from heroagent.jobs import JobStatus
from tests.conftest import external_redis, make_config, start_worker, ui_url, wait_until

# The README's rule (section "Redis in production"), without +info: the least a user can be given.
ACL_RULE = (
    "on",
    ">app-secret-app-secret",
    "~hero:*",
    "~herojobs:*",
    "~heroqueue:*",
    "&*",
    "+@all",
    "-@admin",
    "-@dangerous",
)


def test_an_acl_user_without_admin_dangerous_or_other_keys_runs_everything(data_dir: Path) -> None:
    server = external_redis(data_dir)
    worker = None
    try:
        admin = server.client()
        admin.execute_command("ACL", "SETUSER", "app", *ACL_RULE)  # type: ignore[no-untyped-call]
        admin.set("other-app:secret", "theirs")
        url = f"redis://app:app-secret-app-secret@127.0.0.1:{server.port}/0"
        with redis.Redis.from_url(url) as limited:  # the rule holds: other keys and INFO are refused
            for command in (("GET", "other-app:secret"), ("INFO",), ("CONFIG", "GET", "dir"), ("KEYS", "*")):
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
        server.stop()
