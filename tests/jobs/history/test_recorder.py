"""The recorder's batching (heroagent/jobs/history/recorder.py), against the agent's real Redis and history."""

from __future__ import annotations

import threading

import pytest
import redis

from heroagent import HeroAgent
from heroagent.jobs import keys
from heroagent.jobs.history import recorder
from heroagent.loops import SupervisedLoop
from tests.conftest import present, wait_until

KEYS = keys.KeyLayout()  # the unprefixed layout: the keys every HeroAgent had before key prefixes


def service_loop(agent: HeroAgent, name: str) -> SupervisedLoop:
    """One of the jobs service's loops (these tests stop the recorder to read the stream themselves)."""
    assert agent.jobs is not None
    return next(loop for loop in agent.jobs.loops if loop.name == name)


def test_a_small_batch_waits_for_the_events_that_follow_it(agent: HeroAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    """Events that come within the linger of a small batch's first go with it: one batch, one fsync."""
    service = agent.jobs
    assert service is not None
    service_loop(agent, "recorder").stop()  # this test reads the stream itself
    monkeypatch.setattr(recorder, "LINGER", 3.0)  # long, so nothing here races the clock
    jm = agent.get_job_manager()
    first = jm.create_job("batched", "!!fake.return_success")
    recorded: list[int] = []
    reading = threading.Thread(target=lambda: recorded.append(present(service.recorder).record_batch(block_ms=5000)))
    reading.start()
    client = present(service.manager).queue.client
    assert wait_until(lambda: client.xpending(KEYS.EVENTS, keys.EVENTS_GROUP)["pending"] == 1)  # read: lingering
    second = jm.create_job("batched", "!!fake.return_success")
    reading.join(timeout=30)
    # The one call recorded the second job too (with whatever the workers did to both meanwhile): the
    # recorder loop is stopped, so nothing else could have.
    assert recorded and recorded[0] >= 2
    assert client.xlen(KEYS.EVENTS) == 0
    assert {j.job_id for j in jm.list_jobs(topic="batched")} == {first.job_id, second.job_id}


def test_a_batch_read_before_redis_lost_its_data_is_still_recorded(
    agent: HeroAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis is emptied while the recorder lingers on events it has read: the read of what follows fails
    (the stream is gone), and what it read first is recorded all the same, so the reconcile queues those
    jobs again from the history. Dropping the batch with the failed read would lose them for good."""
    service = agent.jobs
    assert service is not None
    for name in ("recorder", "reaper", "promoter"):  # the test reads the stream; nothing may remake it meanwhile
        service_loop(agent, name).stop()
    monkeypatch.setattr(recorder, "LINGER", 1.0)
    jm = agent.get_job_manager()
    jobs = jm.create_jobs([{"topic": "later", "params": "!!fake.return_success", "delay": 3600} for _ in range(3)])
    recorded: list[int] = []
    reading = threading.Thread(target=lambda: recorded.append(present(service.recorder).record_batch(block_ms=5000)))
    reading.start()
    client = present(service.manager).queue.client
    assert wait_until(lambda: client.xpending(KEYS.EVENTS, keys.EVENTS_GROUP)["pending"] == 3)  # read: lingering
    client.flushall()
    reading.join(timeout=30)
    assert recorded == [3]
    assert {j.job_id for j in jm.list_jobs(topic="later")} == {job.job_id for job in jobs}
    present(service.reconciler).reap_step()  # what the reaper does within a second: Redis lost its data, reconcile
    assert client.zcard(KEYS.SCHEDULED) == 3  # the jobs wait again for their time


def test_events_delivered_to_the_recorder_whose_reply_was_lost_are_recorded_first(
    agent: HeroAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis handed events to the recorder's consumer, but the reply never reached it (the connection
    broke mid-reply, or Redis was killed after persisting the delivery): they wait in the consumer's
    pending list, where a read of new entries never looks (redis-py's own retry read new ones and the
    job's state never reached the history: seen in the kill -9 test of Redis under load). The reply is
    really read from Redis here and then dropped, as a broken connection drops it."""
    service = agent.jobs
    assert service is not None and service.recorder is not None
    direct = service.recorder.queue.direct
    read = direct.command
    dropped: list[object] = []

    def reply_lost_once(*command: object) -> object:
        reply = read(*command)  # type: ignore[arg-type]
        if command[0] == "XREADGROUP" and reply and not dropped:
            dropped.append(reply)
            raise redis.ConnectionError("the reply was lost (injected by the test)")
        return reply

    monkeypatch.setattr(direct, "command", reply_lost_once)
    jm = agent.get_job_manager()
    first = jm.create_job("later", "!!fake.return_success", delay=3600)  # only its create event: no worker takes it
    assert wait_until(lambda: bool(dropped))
    second = jm.create_job("later", "!!fake.return_success", delay=3600)
    client = present(service.manager).queue.client
    assert wait_until(lambda: client.xlen(KEYS.EVENTS) == 0, timeout=15)
    assert {j.job_id for j in jm.list_jobs(topic="later")} == {first.job_id, second.job_id}
    assert client.xpending(KEYS.EVENTS, keys.EVENTS_GROUP)["pending"] == 0


def test_a_first_state_read_after_a_later_jobs_is_still_recorded(agent: HeroAgent) -> None:
    """Events left pending with no error the recorder could see (here: a third party read them as the
    recorder's consumer) are found by its look at the pending list a second later, after newer events
    were recorded. The older job's first state then comes after a later job's; it takes its own id."""
    service = agent.jobs
    assert service is not None
    loop = service_loop(agent, "recorder")
    loop.stop()
    jm = agent.get_job_manager()
    older = jm.create_job("later", "!!fake.return_success", delay=3600)  # only its create event: no worker takes it
    client = present(service.manager).queue.client
    taken = client.xreadgroup(keys.EVENTS_GROUP, recorder.CONSUMER, {KEYS.EVENTS: ">"}, count=100)
    assert isinstance(taken, list) and taken and len(taken[0][1]) == 1
    loop.start()
    newer = jm.create_job("later", "!!fake.return_success", delay=3600)
    assert wait_until(lambda: client.xlen(KEYS.EVENTS) == 0, timeout=15)
    assert {j.job_id for j in jm.list_jobs(topic="later")} == {older.job_id, newer.job_id}
    assert [v.status.value for v in jm.get_history(older.job_id)] == ["new"]
    assert jm.cancel_job(older.job_id).status.value == "canceled"  # and its later states follow it
    assert wait_until(lambda: [v.status.value for v in jm.get_history(older.job_id)] == ["new", "canceled"])


@pytest.mark.parametrize("recorded_first", [False, True])
def test_a_timeline_shows_the_states_the_recorder_has_not_written_yet(agent: HeroAgent, recorded_first: bool) -> None:
    """The recorder writes a batch some milliseconds after its events (it lingers for the next ones):
    meanwhile a job's timeline takes the states it lacks from the events stream, in order, so a waiter
    that reads it right after the job ended sees every state (none, or only the first, recorded)."""
    service = agent.jobs
    assert service is not None
    jm = agent.get_job_manager()
    loop = service_loop(agent, "recorder")
    if recorded_first:
        job = jm.create_job("timeline", "!!fake.return_success", delay=3600)
        assert wait_until(lambda: present(service.manager).store.status_of(job.job_id) is not None)  # its first state
        loop.stop()
        present(service.manager).queue.client.zadd(KEYS.SCHEDULED, {f"timeline:{job.job_id}": 0})  # due now
    else:
        loop.stop()
        job = jm.create_job("timeline", "!!fake.return_success")
    assert wait_until(lambda: jm.get_job(job.job_id).status.value == "done")  # in Redis: not recorded
    assert [v.status.value for v in jm.get_history(job.job_id)] == ["new", "active", "done"]
    assert [v.version for v in jm.get_history(job.job_id)] == [1, 2, 3]


def test_a_timeline_looks_back_from_the_newest_events(agent: HeroAgent) -> None:
    """The states a timeline lacks are found from the newest event back: many events of other jobs
    before them (a recorder far behind) cost no longer look."""
    service = agent.jobs
    assert service is not None
    service_loop(agent, "recorder").stop()
    jm = agent.get_job_manager()
    jm.create_jobs([{"topic": "crowd", "params": "!!fake.return_success", "delay": 3600} for _ in range(3000)])
    job = jm.create_job("timeline", "!!fake.return_success")
    assert wait_until(lambda: jm.get_job(job.job_id).status.value == "done")
    assert present(service.manager).queue.client.xlen(KEYS.EVENTS) > 3000  # nothing recorded: all in the stream
    assert [v.version for v in jm.get_history(job.job_id)] == [1, 2, 3]


def test_every_listener_sees_each_written_batch_though_one_fails(
    agent: HeroAgent, caplog: pytest.LogCaptureFixture
) -> None:
    """`on_written` fans out: a listener that raises is logged, and the ones after it (the live event feed
    among them) still get the batch; the history has it either way."""
    service = agent.jobs
    assert service is not None
    rec = present(service.recorder)
    seen: list[tuple[int, str]] = []

    def broken(events: object) -> None:
        raise RuntimeError("a listener's bug")

    rec.on_written = (broken, *rec.on_written, lambda events: seen.extend((e.job_id, e.status.value) for e in events))
    jm = agent.get_job_manager()
    job = jm.create_job("fan-out", "!!fake.return_success")
    jm.wait_for_job(job.job_id, timeout=30)
    assert wait_until(lambda: (job.job_id, "done") in seen)
    assert [(e.job_id, e.status.value) for e in jm.events.read(0, 100).events] == [
        (job.job_id, status) for status in ("new", "active", "done")
    ]
    assert "a follow-up (test_every_listener_sees_each_written_batch_though_one_fails.<locals>.broken)" in caplog.text
