"""Handing jobs to waiting workers (`hand_to_takers` in lua/common.lua, lua/register_taker.lua,
`JobQueue.wait_for_work`): a create claims its job for an idle worker that waits to be handed one and
pushes it to that worker's inbox, so the job starts without a claim of its own. Against a real
redis-server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from heroagent import HeroAgent
from heroagent.jobs import keys
from heroagent.jobs.history.recorder import ensure_events_group
from heroagent.jobs.live import queue as queue_module
from heroagent.jobs.live.queue import JobQueue
from heroagent.jobs.live.submit import JobDefaults, submit
from heroagent.jobs.model import Job, JobStatus
from tests.conftest import external_redis, make_config, stream_entries, wait_until

KEYS = keys.KeyLayout()  # the unprefixed layout: the keys every HeroAgent had before key prefixes

LEASE_MS = 30_000


@pytest.fixture(autouse=True)
def long_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wait outlives its BLPOP by TAKER_GRACE (50 ms): long here, so no step of a test races it."""
    monkeypatch.setattr(queue_module, "TAKER_GRACE", 10.0)


@pytest.fixture
def queue(data_dir: Path) -> Iterator[JobQueue]:
    server = external_redis(data_dir)
    client = redis.Redis.from_url(server.url, socket_timeout=10)
    made = JobQueue(client, KEYS)
    made.seed(1)
    ensure_events_group(client, KEYS)
    yield made
    client.close()
    server.stop()


def create(queue: JobQueue, topic: str = "t", **spec: Any) -> int:
    def no_earlier(job_id: int) -> Job:
        raise AssertionError(f"no idempotency key here, yet job {job_id} came back")

    [(job, created)] = submit(
        queue, [{"topic": topic, "params": "!!fake.return_success", **spec}], JobDefaults(), no_earlier
    )
    assert created
    return job.job_id


def status(queue: JobQueue, topic: str, job_id: int) -> str:
    return (queue.client.hget(KEYS.job(topic, job_id), "status") or b"").decode()  # type: ignore[union-attr]


def test_a_waiting_worker_is_handed_the_job_a_create_makes(queue: JobQueue) -> None:
    handed: list[Job | None] = []
    waiting = threading.Thread(target=lambda: handed.append(queue.wait_for_work(["t"], "w1", LEASE_MS, 10.0)))
    waiting.start()
    client = queue.client
    assert wait_until(lambda: client.exists(KEYS.taker("w1")))
    job_id = create(queue)
    waiting.join(timeout=10)
    assert handed and handed[0] is not None, "the BLPOP on its inbox returned the job"
    job = handed[0]
    assert (job.job_id, job.status, job.worker, job.attempts) == (job_id, JobStatus.ACTIVE, "w1", 1)
    assert status(queue, "t", job_id) == "active"
    assert client.zcard(KEYS.queue("t")) == 0 and client.zscore(KEYS.INFLIGHT, f"t:{job_id}") is not None
    assert client.llen(KEYS.wake("t")) == 0, "its wake token went with it: no other worker wakes for nothing"
    assert not client.exists(KEYS.taker("w1")), "one job per wait"
    assert client.llen(KEYS.inbox("w1")) == 0
    states = [f[b"status"] for _, f in stream_entries(client, KEYS.EVENTS) if f[b"jobid"] == str(job_id).encode()]
    assert states == [b"new", b"active"], "both states go to the history, as with a claim"
    second = create(queue)  # nobody waits now: it waits in the queue, with its token
    assert client.zcard(KEYS.queue("t")) == 1 and status(queue, "t", second) == "new"
    assert client.llen(KEYS.wake("t")) == 1


def test_a_job_handed_after_the_wait_ended_comes_with_the_next_claim(queue: JobQueue) -> None:
    client = queue.client
    assert queue.wait_for_work(["t"], "w1", LEASE_MS, 0.05) is None  # timed out: a taker a moment longer
    job_id = create(queue)
    assert client.llen(KEYS.inbox("w1")) == 1
    assert 0 < client.pttl(KEYS.inbox("w1")) <= LEASE_MS, "a dead worker's inbox goes with the job's lease"
    claimed = queue.claim(["t"], "w1", LEASE_MS, 5, taker=True)
    assert [(j.job_id, j.status) for j in claimed] == [(job_id, JobStatus.ACTIVE)]
    assert not client.exists(KEYS.taker("w1")) and not client.exists(KEYS.inbox("w1"))
    # The same through the worker's report: finish one job, get the one handed meanwhile.
    assert queue.wait_for_work(["t"], "w1", LEASE_MS, 0.05) is None
    later = create(queue)
    _, more = queue.finish_and_claim([(claimed[0], "done", {"result": "[]"})], "w1", ["t"], LEASE_MS, 1, taker=True)
    assert [j.job_id for j in more] == [later] and status(queue, "t", job_id) == "done"
    assert queue.claim(["t"], "w1", LEASE_MS, 1, taker=True) == [], "nothing is handed twice"


def test_a_wait_that_expired_is_handed_nothing(queue: JobQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue_module, "TAKER_GRACE", 0.0)
    assert queue.wait_for_work(["t"], "gone", LEASE_MS, 0.05) is None
    time.sleep(0.2)  # its registration ran out: a worker that died while it waited
    job_id = create(queue)
    assert status(queue, "t", job_id) == "new" and queue.client.zcard(KEYS.queue("t")) == 1
    assert not queue.client.sismember(KEYS.takers("t"), "gone"), "dropped from the topic's takers"
    assert not queue.client.exists(KEYS.inbox("gone"))


def test_a_job_that_may_not_start_is_not_handed(queue: JobQueue) -> None:
    """Handing a job claims as a claim does: a paused topic's job, or one whose no-overlap key a running
    job holds, stays in its queue, and the worker stays a taker for a job that may start."""
    client = queue.client
    queue.pause("t")
    assert queue.wait_for_work(["t", "u"], "w1", LEASE_MS, 0.05) is None
    paused = create(queue)
    assert status(queue, "t", paused) == "new" and client.exists(KEYS.taker("w1"))
    assert client.sismember(KEYS.takers("t"), "w1")
    holder = create(queue, "u", no_overlap_key="k")
    assert status(queue, "u", holder) == "active", "handed: the key was free"
    [running] = queue.claim([], "w1", LEASE_MS, 0, taker=True)
    assert running.job_id == holder
    assert queue.wait_for_work(["u"], "w1", LEASE_MS, 0.05) is None
    blocked = create(queue, "u", no_overlap_key="k")
    assert status(queue, "u", blocked) == "new" and client.exists(KEYS.taker("w1"))
    free = create(queue, "u")
    assert status(queue, "u", free) == "active", "a job of the same topic that may start is handed"


def test_a_job_handed_to_a_worker_that_died_comes_back_with_its_lease(queue: JobQueue) -> None:
    assert queue.wait_for_work(["t"], "dead", 200, 0.01) is None  # waited, then was killed
    job_id = create(queue)
    assert status(queue, "t", job_id) == "active"
    assert wait_until(lambda: queue.reap() == 1, timeout=5)
    assert status(queue, "t", job_id) == "new" and queue.client.zcard(KEYS.queue("t")) == 1
    assert queue.client.hget(KEYS.job("t", job_id), "lost") == b"1"
    assert wait_until(lambda: not queue.client.exists(KEYS.inbox("dead")), timeout=5)


def test_a_worker_of_a_pool_asked_to_drain_is_handed_nothing(queue: JobQueue) -> None:
    """The drain request counts from the moment it is made, before the pool notices it."""
    assert queue.wait_for_work(["t"], "pool-a/1", LEASE_MS, 0.05, "pool-a") is None
    queue.client.sadd(KEYS.WORKERS_DRAINING, "pool-a")
    job_id = create(queue)
    assert status(queue, "t", job_id) == "new" and queue.client.zcard(KEYS.queue("t")) == 1
    assert not queue.client.exists(KEYS.taker("pool-a/1")), "its wait is over"
    queue.client.srem(KEYS.WORKERS_DRAINING, "pool-a")
    assert queue.wait_for_work(["t"], "pool-a/1", LEASE_MS, 0.05, "pool-a") is None
    later = create(queue)
    assert status(queue, "t", job_id) == "active", "serving again: handed the queue's first job (by id)"
    assert status(queue, "t", later) == "new"


def test_something_else_in_an_inbox_is_an_error_named_not_a_crash(queue: JobQueue) -> None:
    """Only a create writes an inbox; anything else there (written by hand) is refused with a clear
    error that the worker logs before it claims as usual."""
    queue.client.rpush(KEYS.inbox("w1"), "not a job")
    with pytest.raises(redis.DataError, match="handed to w1 cannot be read"):
        queue.wait_for_work(["t"], "w1", LEASE_MS, 1.0)
    assert queue.wait_for_work(["t"], "w1", LEASE_MS, 0.05) is None


def test_a_pool_that_waits_is_handed_the_job_and_leaves_the_takers_when_it_stops(data_dir: Path) -> None:
    """The server's own pool: its listener waits as a taker, so a create returns with the job already
    claimed for it (no claim of its own: it is `active` before the create's reply); it runs it; at stop
    its workers leave the topic's takers. A Redis of its own, to look at after the server stopped."""
    external = external_redis(data_dir)
    client = redis.Redis.from_url(external.url)
    try:
        config = make_config(
            data_dir,
            redis={"url": external.url},
            webdav={"enabled": False},
            ui={"enabled": False},
            jobs={"topics": ["handy"], "queue_poll_interval": 5.0},  # one long wait: no gap between two
        )
        with HeroAgent(config) as agent:
            jm = agent.get_job_manager()
            assert wait_until(
                lambda: any(
                    client.exists(KEYS.taker(w.decode() if isinstance(w, bytes) else w))
                    for w in client.smembers(KEYS.takers("handy"))
                )
            )
            job = jm.create_job("handy", "!!fake.return_success")
            assert client.hget(KEYS.job("handy", job.job_id), "status") in (b"active", b"done")
            final = jm.wait_for_job(job.job_id, timeout=15)
            assert final.status is JobStatus.DONE and final.worker.startswith(agent.local_pool_id())
            assert [v.status.value for v in jm.get_history(job.job_id)] == ["new", "active", "done"]
        assert client.scard(KEYS.takers("handy")) == 0
        assert not client.keys(f"{KEYS.PREFIX_TAKER}:*") and not client.keys(f"{KEYS.PREFIX_INBOX}:*")
    finally:
        client.close()
        external.stop()
