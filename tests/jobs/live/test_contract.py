"""The job contract (issue 26): what an actor declares is what every creator is checked against at
submit, from any process, and the values arrive typed.

Real parts: a Redis, the server, a `heroagent worker` process with a module the server does not have,
a JobClient, the CLI.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from heroagent import HeroAgent
from heroagent.client import JobClient
from heroagent.jobs import InvalidJobError, JobStatus
from heroagent.jobs.live.jobtypes import read_live
from heroagent.redis_server import EmbeddedRedis
from tests.conftest import child_env, external_redis, make_config, present, start_worker, wait_until

OUTBOX = textwrap.dedent(
    """
    import heroagent

    @heroagent.actor("email", max_retries=2, timeout=7)
    class Email:
        def send(self, to: str, count: int = 1, urgent: bool = False) -> dict:
            return {"to": to, "count": count, "urgent": urgent, "types": [type(count).__name__, type(urgent).__name__]}

        def fail(self, why: str) -> None:
            raise heroagent.PermanentError(why)
    """
)


@pytest.fixture
def fleet(data_dir: Path) -> Iterator[tuple[HeroAgent, str]]:
    """A server on an external Redis whose own pool serves only "local", and a `heroagent worker` that
    serves "outbox" with the module `outbox_actors` (which the server does not import)."""
    redis_server: EmbeddedRedis = external_redis(data_dir)
    modules = data_dir / "modules"
    modules.mkdir()
    (modules / "outbox_actors.py").write_text(OUTBOX)
    config = make_config(
        data_dir,
        redis={"url": redis_server.url},
        webdav={"enabled": False},
        ui={"enabled": False},
        jobs={"topics": ["local"], "lease_seconds": 2.0},
    )
    worker = None
    try:
        worker = start_worker(
            redis_server.url, "outbox", "--module", "outbox_actors", PYTHONPATH=f"{modules}:{child_env()['PYTHONPATH']}"
        )
        with HeroAgent(config) as agent:
            manager = agent.get_job_manager()
            client, layout = manager.client, manager.layout
            assert wait_until(lambda: "email" in read_live(client, layout), timeout=30), present(worker.stderr).read()
            yield agent, redis_server.url
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        redis_server.stop()


def test_a_remote_workers_actor_is_the_contract_and_its_values_arrive_typed(fleet: tuple[HeroAgent, str]) -> None:
    agent, _ = fleet
    jm = agent.get_job_manager()
    job = jm.create_job("outbox", "!!email.send to:ann@example.com count:3 urgent:false")
    assert (job.max_retries, job.timeout) == (2, 7.0)  # the worker's actor's defaults, unknown to the server
    final = jm.wait_for_job(job.job_id, timeout=30)
    assert final.status is JobStatus.DONE, final.error
    assert final.result == [{"to": "ann@example.com", "count": 3, "urgent": False, "types": ["int", "bool"]}]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ("!!email.send to:ann count:three", "count: expected a whole number, got 'three'"),
        ("!!email.send to:ann urgent:perhaps", "urgent: expected true or false, got 'perhaps'"),
        ("!!email.send to:ann msg:hi", "unknown param(s) msg; accepted: to, count, urgent"),
        ("!!email.send count:1", "missing required param(s) to"),
        ("!!email.nope to:ann", "actor 'email' has no action 'nope' (its actions: fail, send)"),
        ("!!ghost.walk", "no live worker serves actor 'ghost'"),
        ("!!email.send to:ann count:99999999999999999999999", "does not fit 64 bits"),
    ],
)
def test_every_creator_refuses_a_job_that_breaks_the_contract(
    fleet: tuple[HeroAgent, str], params: str, says: str
) -> None:
    agent, url = fleet
    jm = agent.get_job_manager()
    before = jm.queue_stats().get("outbox", {}).get("queued", 0)
    with pytest.raises(InvalidJobError) as in_server:
        jm.create_job("outbox", params)
    assert says in str(in_server.value) and str(in_server.value).startswith("params: line 1: !!")
    client = JobClient(url, timeout=2)
    try:
        with pytest.raises(InvalidJobError) as in_client:
            client.create_job("outbox", params)
        assert says in str(in_client.value)
    finally:
        client.close()
    assert jm.queue_stats().get("outbox", {}).get("queued", 0) == before  # nothing was made


def test_the_cli_refuses_it_with_one_line_and_exit_2(fleet: tuple[HeroAgent, str]) -> None:
    agent, url = fleet
    done = subprocess.run(
        [sys.executable, "-m", "heroagent", "job", "submit", "outbox", "!!email.send to:ann count:3.5"],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(HEROAGENT_REDIS_URL=url, HEROAGENT_DATA_DIR=str(agent.config.data_path)),
    )
    assert done.returncode == 2, done
    assert done.stderr.strip().splitlines() == [
        "error: params: line 1: !!email.send: count: expected a whole number, got '3.5'"
    ]


def test_a_permanent_error_spends_no_retry(fleet: tuple[HeroAgent, str]) -> None:
    agent, _ = fleet
    jm = agent.get_job_manager()
    job = jm.create_job("outbox", "!!email.fail why:'no such mailbox'", max_retries=3)
    final = jm.wait_for_job(job.job_id, timeout=30)
    assert final.status is JobStatus.ERROR and final.error == "no such mailbox"
    assert (final.attempts, final.retries) == (1, 0)


def test_job_types_lists_the_published_schemas(fleet: tuple[HeroAgent, str]) -> None:
    agent, _ = fleet
    types = {t["name"]: t for t in agent.get_job_manager().job_types()}
    email = types["email"]
    assert email["served"] is True
    assert email["own_defaults"] == {"max_retries": 2.0, "timeout": 7.0}
    assert email["actions"]["send"]["properties"]["count"] == {"type": "integer", "default": 1}
    assert email["actions"]["send"]["required"] == ["to"]
    assert types["fake"]["served"] is True  # the server's own pool serves the built-in actors


def test_unknown_actors_may_be_accepted_and_then_fail_once_without_retries(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"unknown_actors": "accept"})
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        job = jm.create_job("t", "!!nosuch.thing a:1", max_retries=3, retry_delay=1)
        final = jm.wait_for_job(job.job_id, timeout=30)
        assert final.status is JobStatus.ERROR and "no actor 'nosuch' is registered" in final.error
        assert final.attempts == 1
        with pytest.raises(InvalidJobError, match="has no action 'nope'"):  # a known actor's actions still count
            jm.create_job("t", "!!fake.nope")
