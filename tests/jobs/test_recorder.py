"""The recorder's batching (heroagent/jobs/recorder.py), against the agent's real Redis and history."""

from __future__ import annotations

import threading

import pytest

from heroagent import HeroAgent
from heroagent.jobs import keys, recorder
from tests.conftest import wait_until


def test_a_small_batch_waits_for_the_events_that_follow_it(agent: HeroAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    """Events that come within the linger of a small batch's first go with it: one batch, one fsync."""
    service = agent.jobs
    assert service is not None
    next(loop for loop in service.loops if loop.name == "recorder").stop()  # this test reads the stream itself
    monkeypatch.setattr(recorder, "LINGER", 3.0)  # long, so nothing here races the clock
    jm = agent.get_job_manager()
    first = jm.create_job("batched", "!!fake.return_success")
    recorded: list[int] = []
    reading = threading.Thread(target=lambda: recorded.append(service.recorder.record_batch(block_ms=5000)))
    reading.start()
    client = service.manager.queue.client
    assert wait_until(lambda: client.xpending(keys.EVENTS, keys.EVENTS_GROUP)["pending"] == 1)  # read: lingering
    second = jm.create_job("batched", "!!fake.return_success")
    reading.join(timeout=30)
    # The one call recorded the second job too (with whatever the workers did to both meanwhile): the
    # recorder loop is stopped, so nothing else could have.
    assert recorded and recorded[0] >= 2
    assert client.xlen(keys.EVENTS) == 0
    assert {j.job_id for j in jm.list_jobs(topic="batched")} == {first.job_id, second.job_id}
