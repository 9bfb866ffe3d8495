"""Retries: a failed attempt (error, timeout, lost worker) is retried with exponential backoff and jitter;
every attempt stays in the history; a job out of retries is dead and can be retried in bulk."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heroagent import HeroAgent
from heroagent.jobs import JobStatus, keys
from heroagent.jobs.errors import InvalidJobError, JobFailed
from heroagent.jobs.retry import backoff
from heroagent.jobs.run.context import JobContext
from tests.conftest import make_config, wait_until

KEYS = keys.KeyLayout()  # the unprefixed layout: the keys every HeroAgent had before key prefixes


def test_backoff_doubles_is_capped_and_jittered_down_to_half() -> None:
    assert [backoff(2, n, 3600, 1.0) for n in range(4)] == [2, 4, 8, 16]
    assert backoff(2, 3, 3600, 0.0) == 8  # the jitter takes off up to half
    assert backoff(10, 20, 60, 1.0) == 60  # the cap


def test_failing_job_is_retried_with_backoff_then_dead_with_every_attempt_in_history(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    job = jm.create_job("flaky", "!!fake.return_error message:'downstream is down'", max_retries=2, retry_delay=0.4)
    final = jm.wait_for_job(job.job_id, timeout=20)
    assert final.status is JobStatus.ERROR and final.error == "downstream is down"
    assert (final.attempts, final.retries, final.max_retries) == (3, 2, 2)

    timeline = jm.get_history(job.job_id)
    assert [v.status.value for v in timeline] == ["new", "active", "new", "active", "new", "active", "error"]
    retries = [v for v in timeline[1:] if v.status is JobStatus.NEW]
    for n, version in enumerate(retries):
        assert f"attempt {n + 1} failed: downstream is down (retry {n + 1} of 2 in" in version.error
        wait = version.time_scheduled - version.time_end
        assert 0.4 * 2**n * 0.5 - 0.01 <= wait <= 0.4 * 2**n + 0.01  # base * 2^n, jittered to 50-100%
    starts = [v.time_start for v in timeline if v.status is JobStatus.ACTIVE]
    for retry, start in zip(retries, starts[1:], strict=True):
        assert start >= retry.time_scheduled - 0.01  # not run before its backoff ran out


def test_job_that_fails_twice_then_works_ends_done(agent: HeroAgent) -> None:
    calls: list[int] = []

    @agent.actor("wobbly")
    class Wobbly:
        def call(self, ctx: JobContext | None = None) -> str:
            calls.append(1)
            if len(calls) < 3:
                raise JobFailed(f"failure {len(calls)}")
            return "third time lucky"

    jm = agent.get_job_manager()
    job = jm.create_job("w", "!!wobbly.call", max_retries=5, retry_delay=0.1)
    final = jm.wait_for_job(job.job_id, timeout=20)
    assert (final.status, final.result, final.attempts, final.retries) == (JobStatus.DONE, ["third time lucky"], 3, 2)


def test_defaults_come_from_the_jobs_section(data_dir: Path) -> None:
    config = make_config(
        data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"max_retries": 1, "retry_delay": 0.1}
    )
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        job = jm.create_job("d", "!!fake.return_error")
        assert (job.max_retries, job.retry_delay) == (1, 0.1)
        assert jm.wait_for_job(job.job_id, timeout=20).attempts == 2
        own = jm.create_job("d", "!!fake.return_error", max_retries=0)
        assert jm.wait_for_job(own.job_id, timeout=20).attempts == 1


def test_a_timeout_is_a_failed_attempt(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    job = jm.create_job("slow", "!!fake.sleep seconds:30", timeout=0.3, max_retries=1, retry_delay=0.1)
    final = jm.wait_for_job(job.job_id, timeout=20)
    assert final.status is JobStatus.TIMEOUT and "timed out" in final.error and final.attempts == 2
    assert "attempt 1 failed: timed out after 0.3 seconds (retry 1 of 1" in jm.get_history(job.job_id)[2].error


def claim_and_abandon(agent: HeroAgent, topic: str) -> None:
    """Claim a job as a worker that then dies: it never renews its 0.2 s lease."""
    queue = agent.get_job_manager().queue
    assert wait_until(lambda: bool(queue.claim([topic], "ghost-host:1:dead/1", lease_ms=200)), timeout=5)


@pytest.fixture
def paused_agent(data_dir: Path) -> Iterator[HeroAgent]:
    """An agent whose workers serve another topic, so only the test claims jobs of topic "x"."""
    config = make_config(
        data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"topics": ["other"], "max_lost_attempts": 3}
    )
    with HeroAgent(config) as agent:
        yield agent


def test_a_lost_attempt_uses_a_retry_with_backoff(paused_agent: HeroAgent) -> None:
    jm = paused_agent.get_job_manager()
    job = jm.create_job("x", "!!fake.return_success", max_retries=2, retry_delay=0.2)
    claim_and_abandon(paused_agent, "x")
    assert wait_until(lambda: len(jm.get_history(job.job_id)) == 3, timeout=10)
    lost = jm.get_history(job.job_id)[2]
    assert lost.status is JobStatus.NEW and lost.retries == 1
    assert "attempt 1 failed: worker ghost-host:1:dead/1 stopped renewing its lease (retry 1 of 2 in" in lost.error
    assert 0.1 - 0.01 <= lost.time_scheduled - lost.time_end <= 0.2 + 0.01
    claim_and_abandon(paused_agent, "x")  # claimable once its backoff is over, and lost again
    assert wait_until(lambda: jm.get_job(job.job_id).retries == 2, timeout=10)


def test_a_job_that_keeps_losing_its_worker_ends_in_error(paused_agent: HeroAgent) -> None:
    jm = paused_agent.get_job_manager()
    job = jm.create_job("x", "!!fake.return_success", max_retries=0)
    for attempt in range(1, 4):
        claim_and_abandon(paused_agent, "x")
        if attempt < 3:  # without retries a lost attempt goes straight back to the front of the queue
            assert wait_until(lambda: jm.get_job(job.job_id).status is JobStatus.NEW, timeout=10)
    final = jm.wait_for_job(job.job_id, timeout=10)
    assert final.status is JobStatus.ERROR
    assert "3 attempts lost, no retries left" in final.error
    # The recorder deletes the finished hash right after the history has the final state (which is what
    # wait_for_job waits for), so the delete may land a moment after wait_for_job returns.
    client = paused_agent.get_job_manager().client
    assert wait_until(lambda: client.exists(KEYS.job("x", job.job_id)) == 0, timeout=5)


def test_dead_jobs_are_listed_and_retried_in_bulk(agent: HeroAgent) -> None:
    broken = [True]

    @agent.actor("mailer")
    class Mailer:
        def send(self, ctx: JobContext | None = None) -> str:
            if broken[0]:
                raise JobFailed("smtp server unreachable")
            return "sent"

    jm = agent.get_job_manager()
    jobs = jm.create_jobs([{"topic": "mail", "params": "!!mailer.send"} for _ in range(5)])
    other = jm.create_job("misc", "!!fake.return_error")
    for job in [*jobs, other]:
        assert jm.wait_for_job(job.job_id, timeout=20).status is JobStatus.ERROR
    assert {j.job_id for j in jm.list_dead(topic="mail")} == {j.job_id for j in jobs}
    assert len(jm.list_dead()) == 6

    broken[0] = False
    retried = jm.retry_dead(topic="mail")
    assert sorted(j.job_id for j in retried) == [j.job_id for j in jobs]
    finals = [jm.wait_for_job(j.job_id, timeout=20) for j in jobs]
    assert {(f.status, f.result_text, f.retries) for f in finals} == {(JobStatus.DONE, '["sent"]', 1)}
    assert [j.job_id for j in jm.list_dead()] == [other.job_id]  # the other topic was left alone
    history = jm.get_history(jobs[0].job_id)
    assert [v.status.value for v in history] == ["new", "active", "error", "new", "active", "done"]


def test_retries_are_bounded_and_never_hot(data_dir: Path) -> None:
    """Issue 10, item 10: max_retries 1e30 with retry_delay 0 retried forever (753 versions in 2 minutes)."""
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"retry_delay_min": 1.0})
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        with pytest.raises(InvalidJobError, match="max_retries: 1e\\+30 must be at most 1000"):
            jm.create_job("x", "!!fake.return_error", max_retries=1e30, retry_delay=0)  # type: ignore[arg-type]
        job = jm.create_job("x", "!!fake.return_error", max_retries=1000, retry_delay=0)
        assert job.retry_delay == 1.0  # raised to [jobs] retry_delay_min
        time.sleep(2.0)
        versions = jm.get_history(job.job_id)
        assert len(versions) <= 8, [v.status.value for v in versions]  # a couple of attempts, not hundreds
        jm.cancel_job(job.job_id)
