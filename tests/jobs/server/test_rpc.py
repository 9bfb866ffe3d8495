"""The server's request thread (heroagent/jobs/server/rpc.py): it stops when asked, not at its next poll."""

from __future__ import annotations

import threading

import redis

from heroagent import HeroAgent
from heroagent.client import JobClient
from heroagent.jobs import JobStatus, keys
from heroagent.jobs.server.rpc import RequestServer
from tests.conftest import wait_until

KEYS = keys.KeyLayout()  # the unprefixed layout: the keys every HeroAgent had before key prefixes


def waiting_in_blpop(client: redis.Redis, name: str) -> bool:
    """Whether Redis sees the connection named `name` blocked (flag b) in a BLPOP."""
    listed: list[dict[str, str]] = client.client_list()
    return any(c.get("name") == name and c.get("cmd") == "blpop" and "b" in c.get("flags", "") for c in listed)


def request_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "heroagent-request-server")


def test_stop_wakes_the_blpop_it_waits_in_and_another_servers_stop_does_not(agent: HeroAgent) -> None:
    """With a poll interval of a minute, only the wake can end the wait within stop's 5 s join; a second
    server on the same Redis goes on waiting, the agent's own goes on answering, and no wake key is left."""
    assert agent.redis is not None
    watcher = agent.redis.client()
    manager = agent.get_job_manager()
    first = RequestServer(manager, agent.redis.client(client_name="rpc-first"), poll_interval=60)
    second = RequestServer(manager, agent.redis.client(client_name="rpc-second"), poll_interval=60)
    first.start()
    second.start()
    try:
        assert wait_until(lambda: waiting_in_blpop(watcher, "rpc-first") and waiting_in_blpop(watcher, "rpc-second"))
        assert request_threads() == 3  # the agent's own too
        first.stop()
        assert not waiting_in_blpop(watcher, "rpc-first"), "stop returned with the thread still in its BLPOP"
        assert request_threads() == 2
        assert second.loop.state().running and waiting_in_blpop(watcher, "rpc-second")
        assert watcher.keys("hero:rpc:wake:*") == []
        client = JobClient.from_config(agent.config)
        job = client.create_job("rpc", "!!fake.return_success")
        assert client.wait_for_job(job.job_id, timeout=10).status is JobStatus.DONE
    finally:
        second.stop()
    assert request_threads() == 1
    assert watcher.keys("hero:rpc:wake:*") == [] and watcher.llen(KEYS.RPC_REQUESTS) == 0
