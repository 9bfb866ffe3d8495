"""One history writer per Redis (issue 31, item 2): two servers on one Redis split its events stream, so each
history missed jobs (A lacked 322 of 600) and A's next start re-ran 144 finished jobs.

Real parts: one Redis, servers with their own data dirs on it, a server killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from heroagent import HeroAgent
from heroagent.errors import ServiceError
from heroagent.jobs import JobStatus, keys
from heroagent.redis_server import EmbeddedRedis
from tests.conftest import child_env, external_redis, make_config, wait_until

KEYS = keys.KeyLayout()  # the unprefixed layout: the keys every HeroAgent had before key prefixes


@pytest.fixture
def shared_redis(data_dir: Path) -> Iterator[EmbeddedRedis]:
    server = external_redis(data_dir)
    try:
        yield server
    finally:
        server.stop()


def server_config(data_dir: Path, name: str, url: str) -> object:
    return make_config(
        data_dir / name,
        redis={"url": url},
        webdav={"enabled": False},
        ui={"enabled": False},
        scheduler={"enabled": False},
    )


def test_a_second_server_on_the_same_redis_is_refused_naming_the_first(
    data_dir: Path, shared_redis: EmbeddedRedis
) -> None:
    with HeroAgent(server_config(data_dir, "a", shared_redis.url)) as first:  # type: ignore[arg-type]
        second = HeroAgent(server_config(data_dir, "b", shared_redis.url))  # type: ignore[arg-type]
        with pytest.raises(ServiceError) as refused:
            second.start()
        message = str(refused.value)
        assert "another HeroAgent server records this Redis's jobs" in message
        assert f"pid {os.getpid()}" in message and str((data_dir / "a").resolve()) in message
        second.stop()
        jm = first.get_job_manager()
        made = [j.job_id for j in jm.create_jobs([{"topic": "t", "params": "!!fake.return_success"}] * 200)]
        assert wait_until(lambda: all(jm.store.status_of(i) is JobStatus.DONE for i in made), timeout=60)
    # The first stopped and gave its lease up: the second may start now.
    with HeroAgent(server_config(data_dir, "b", shared_redis.url)) as second_now:  # type: ignore[arg-type]
        assert second_now.health()["jobs"] == "running"


KILLED = textwrap.dedent(
    """
    import sys, time
    from heroagent import HeroAgent
    from heroagent.config import Config
    config = Config(data_dir=sys.argv[1])
    config.redis.url = sys.argv[2]
    config.webdav.enabled = config.ui.enabled = config.scheduler.enabled = False
    agent = HeroAgent(config)
    agent.start()
    print("started", flush=True)
    time.sleep(600)
    """
)


def test_a_server_killed_with_sigkill_starts_again_at_once_its_lease_taken_over(
    data_dir: Path, shared_redis: EmbeddedRedis
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(data_dir / "a"), shared_redis.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started", proc.stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    client = redis.Redis.from_url(shared_redis.url)
    held = json.loads(client.get(KEYS.HISTORY_LEASE) or b"{}")
    assert held.get("pid") == proc.pid  # its lease is still there, for up to 15 s
    with HeroAgent(server_config(data_dir, "a", shared_redis.url)) as again:  # type: ignore[arg-type]
        assert json.loads(client.get(KEYS.HISTORY_LEASE) or b"{}")["pid"] == os.getpid()
        assert again.health()["jobs"] == "running"
    client.close()


def test_a_server_whose_lease_went_to_another_records_nothing_and_says_so(
    data_dir: Path, shared_redis: EmbeddedRedis
) -> None:
    """A server stalled past its lease (SIGSTOP, a long GC): another took it. Its recorder must neither ack
    nor drop what the other now records (the `recorded` script is fenced), and health says why."""
    config = server_config(data_dir, "a", shared_redis.url)
    with HeroAgent(config) as agent:  # type: ignore[arg-type]
        client = redis.Redis.from_url(shared_redis.url)
        other = json.dumps({"token": "x", "host": "elsewhere", "pid": 4242, "data_dir": "/srv/b", "since": 0})
        client.set(KEYS.HISTORY_LEASE, other, px=60_000)
        jm = agent.get_job_manager()
        job = jm.create_job("t", "!!fake.return_success")
        assert wait_until(lambda: agent.health()["jobs"] == "degraded", timeout=30)
        assert "the history lease went to another server (pid 4242 on elsewhere" in " ".join(agent.problems())
        assert jm.store.status_of(job.job_id) is None or jm.store.status_of(job.job_id) is JobStatus.NEW
        assert client.xlen(KEYS.EVENTS) > 0  # its events wait in the stream for the lease's holder
        client.close()
