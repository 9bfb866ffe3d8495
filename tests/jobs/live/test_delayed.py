"""Delayed jobs: `run_at` / `delay` keep a job `new` until it is due, across restarts and Redis data loss."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from heroagent import HeroAgent
from heroagent.jobs import InvalidJobError, JobStatus, keys
from tests.conftest import make_config, redis_cli, wait_until

KEYS = keys.KeyLayout()  # the unprefixed layout: the keys every HeroAgent had before key prefixes

SLACK = 3.0  # "starts within a second": checked with room for a loaded machine


def test_delayed_job_starts_when_due_not_before(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    before = time.time()
    job = jm.create_job("later", "!!fake.return_success", delay=2)
    # time_scheduled is rounded up to the whole millisecond (a job never starts before its due time)
    assert job.status is JobStatus.NEW and before + 2 <= job.time_scheduled <= time.time() + 2 + 0.001
    assert jm.get_job(job.job_id).scheduled
    time.sleep(1.0)
    assert jm.get_job(job.job_id).status is JobStatus.NEW  # not before its time
    done = jm.wait_for_job(job.job_id, timeout=10)
    assert done.status is JobStatus.DONE
    assert job.time_scheduled <= done.time_start <= job.time_scheduled + SLACK


def test_run_at_accepts_datetimes_unix_seconds_and_iso_text(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    at = datetime.now(UTC) + timedelta(seconds=30)
    assert jm.create_job("t", "!!fake.return_success", run_at=at).time_scheduled == pytest.approx(at.timestamp())
    assert jm.create_job("t", "!!fake.return_success", run_at=at.timestamp() + 1).time_scheduled == pytest.approx(
        at.timestamp() + 1
    )
    iso = jm.create_job("t", "!!fake.return_success", run_at="2099-01-02T03:04:05Z")  # type: ignore[arg-type]
    assert iso.time_scheduled == datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    past = jm.create_job("t", "!!fake.return_success", run_at=time.time() - 60)
    assert jm.wait_for_job(past.job_id, timeout=10).status is JobStatus.DONE  # overdue: runs now
    assert jm.queue_stats()["t"]["scheduled"] == 3


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"delay": -1}, "delay"),
        ({"delay": "soon"}, "delay"),
        ({"run_at": "next tuesday"}, "run_at"),
        ({"run_at": -5}, "run_at"),
        ({"run_at": 10, "delay": 10}, "run_at"),
    ],
)
def test_bad_times_name_the_field(agent: HeroAgent, options: dict[str, object], field: str) -> None:
    jm = agent.get_job_manager()
    with pytest.raises(InvalidJobError, match=rf"^{field}: "):
        jm.create_job("t", "!!fake.return_success", **options)  # type: ignore[arg-type]
    assert len(jm.store) == 0


def test_a_delayed_job_canceled_before_it_runs_never_runs(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    job = jm.create_job("later", "!!fake.return_success", delay=1.5)
    assert jm.cancel_job(job.job_id).status is JobStatus.CANCELED
    assert redis_cli(agent, "ZCARD", KEYS.SCHEDULED) == "0"
    time.sleep(2.5)
    final = jm.wait_for_job(job.job_id, timeout=5)
    assert final.status is JobStatus.CANCELED and final.attempts == 0
    assert [v.status for v in jm.get_history(job.job_id)] == [JobStatus.NEW, JobStatus.CANCELED]


def test_delayed_jobs_survive_a_restart_and_redis_losing_its_data(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False})
    with HeroAgent(config) as first:
        jm = first.get_job_manager()
        kept = jm.create_job("later", "!!fake.return_success", delay=4)
        rebuilt = jm.create_job("later", "!!fake.return_success", delay=6)
    with HeroAgent(config) as second:  # a clean restart: Redis's AOF still has the schedule
        jm = second.get_job_manager()
        assert jm.get_job(kept.job_id).status is JobStatus.NEW
        redis_cli(second, "FLUSHALL")  # now Redis loses it: reconcile must schedule again, not run now
        assert wait_until(lambda: redis_cli(second, "ZCARD", KEYS.SCHEDULED) == "2", timeout=10)
        assert jm.get_job(rebuilt.job_id).status is JobStatus.NEW
        for job in (kept, rebuilt):
            done = jm.wait_for_job(job.job_id, timeout=15)
            assert done.status is JobStatus.DONE
            assert job.time_scheduled <= done.time_start <= job.time_scheduled + SLACK
