"""The worker pool's threads: one idle thread listens for new jobs; a busy thread's report takes the
next job while its own job is quick; an idle thread still starts a job that arrives while another one is
slow (see WorkerPool._idle)."""

from __future__ import annotations

from heroagent import HeroAgent
from heroagent.client import JobClient
from heroagent.jobs import JobStatus, keys
from tests.conftest import wait_until

KEYS = keys.KeyLayout()  # the unprefixed layout: the keys every HeroAgent had before key prefixes


def test_a_job_arriving_while_another_runs_long_starts_on_an_idle_thread(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    slow = jm.create_job("pool", "!!fake.sleep seconds:20")
    assert wait_until(lambda: jm.get_job(slow.job_id).status is JobStatus.ACTIVE, timeout=10)
    quick = jm.create_job("pool", "!!fake.return_success message:beside")
    assert jm.wait_for_job(quick.job_id, timeout=10).status is JobStatus.DONE
    assert jm.get_job(slow.job_id).status is JobStatus.ACTIVE  # it ran beside the slow one, not after it
    jm.cancel_job(slow.job_id)


def test_jobs_submitted_one_by_one_each_run_once_and_leave_no_wake_token(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    client = JobClient(agent.redis.url)  # type: ignore[union-attr]
    try:
        ids = [client.create_job("trickle", "!!fake.return_success").job_id for _ in range(300)]
    finally:
        client.close()
    for job_id in ids:
        assert jm.wait_for_job(job_id, timeout=30).status is JobStatus.DONE
        assert [v.status.value for v in jm.get_history(job_id)] == ["new", "active", "done"], job_id
    redis = agent.redis.client()  # type: ignore[union-attr]
    assert redis.llen(KEYS.wake("trickle")) == 0  # tokens went with the jobs that were taken


def test_every_idle_thread_takes_part_when_jobs_wait(agent: HeroAgent) -> None:
    """Three slow jobs at once on a pool of three threads: all run at the same time (the threads that
    were not listening are woken as the listener takes its job)."""
    jm = agent.get_job_manager()
    jobs = jm.create_jobs([{"topic": "wide", "params": "!!fake.sleep seconds:20"}] * 3)
    assert wait_until(lambda: all(jm.get_job(j.job_id).status is JobStatus.ACTIVE for j in jobs), timeout=15)
    for job in jobs:
        jm.cancel_job(job.job_id)
