"""JobClient: the manager's calls from outside the server process, through Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heroagent import HeroAgent
from heroagent.client import JobClient, ServerUnavailableError, redis_url_for
from heroagent.jobs import InvalidJobError, InvalidTransitionError, JobNotFoundError, JobStatus, keys
from tests.conftest import make_config


def test_client_does_what_the_manager_does(agent: HeroAgent) -> None:
    client = JobClient.from_config(agent.config)
    assert client.url.startswith("unix://")
    job = client.create_job("remote", "!!fake.return_success message:'from afar'", log=True)
    final = client.wait_for_job(job.job_id, timeout=10)
    assert final.status is JobStatus.DONE and json.loads(final.result) == ["from afar"]
    assert [v.status.value for v in client.get_history(job.job_id)] == ["new", "active", "done"]
    assert client.list_jobs(topic="remote")[0].job_id == job.job_id
    assert "started on worker" in client.get_log(job.job_id)
    assert "remote" in client.queue_stats()
    many = client.create_jobs([{"topic": "remote", "params": "!!fake.return_success"}] * 3)
    assert len({j.job_id for j in many}) == 3
    with pytest.raises(InvalidJobError, match="topic"):
        client.create_job("bad topic", "!!fake.return_success")
    with pytest.raises(JobNotFoundError):
        client.get_job(424242)
    with pytest.raises(InvalidTransitionError, match="already done"):
        client.cancel_job(job.job_id)
    client.delete_job(job.job_id)
    with pytest.raises(JobNotFoundError):
        client.get_job(job.job_id)


def test_unknown_operations_are_refused(agent: HeroAgent) -> None:
    client = JobClient.from_config(agent.config)
    with pytest.raises(Exception, match="unknown operation 'reconcile'"):
        client.call("reconcile")


def test_no_server_is_a_clear_error(data_dir: Path, agent: HeroAgent) -> None:
    # A Redis with no HeroAgent server reading requests: the agent's Redis, a topic-less request key.
    client = JobClient(redis_url_for(agent.config), timeout=0.5)
    agent.jobs.rpc.stop()  # type: ignore[union-attr]
    with pytest.raises(ServerUnavailableError, match="no HeroAgent server answered"):
        client.get_job(1)
    assert agent.redis.client().llen(keys.RPC_REQUESTS) == 0  # type: ignore[union-attr]
    unreachable = JobClient.from_config(make_config(data_dir / "none", redis={"url": "redis://127.0.0.1:1/0"}))
    with pytest.raises(ServerUnavailableError, match="cannot reach Redis"):
        unreachable.get_job(1)
