"""Suspend and resume a running job (issue 12, item 4): `script` jobs by SIGSTOP/SIGCONT of their process
group, actors at `ctx.checkpoint()`; the timeout clock stops and the worker slot is freed meanwhile."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
import requests

import heroagent
from heroagent import HeroAgent
from heroagent.jobs import InvalidTransitionError, JobContext, JobStatus
from tests.conftest import make_config, ui_url, wait_until

TICKER = """#!/bin/sh
# writes a line every 0.1 s, 20 lines in all (2 s of work)
i=0
while [ $i -lt 20 ]; do echo $i >> "$1"; i=$((i+1)); sleep 0.1; done
"""


def status_is(agent: HeroAgent, job_id: int, status: JobStatus) -> bool:
    return agent.get_job_manager().get_job(job_id).status is status


def test_a_script_job_is_stopped_and_continued_and_its_clock_stops(data_dir: Path) -> None:
    config = make_config(
        data_dir,
        webdav={"enabled": False, "root": str(data_dir / "share")},
        ui={"enabled": False},
        jobs={"lease_seconds": 1.5, "worker_count": 1, "topics": ["s"]},
    )
    (data_dir / "share" / "scripts").mkdir(parents=True)
    script = data_dir / "share" / "scripts" / "ticker.sh"
    script.write_text(TICKER)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    out = data_dir / "ticks.txt"
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        job = jm.create_job("s", f"!!script.run path:'scripts/ticker.sh' args:'{out}'", timeout=3.5)
        assert wait_until(lambda: out.exists() and len(out.read_text().split()) >= 3, timeout=15)
        assert jm.suspend_job(job.job_id).status is JobStatus.SUSPENDING
        assert wait_until(lambda: status_is(agent, job.job_id, JobStatus.SUSPENDED), timeout=10)
        ticks = len(out.read_text().split())
        other = jm.create_job("s", "!!fake.return_success")  # the only worker slot was given back
        assert jm.wait_for_job(other.job_id, timeout=10).status is JobStatus.DONE
        time.sleep(2.5)  # longer than the job's timeout has left: a stopped clock does not run out
        assert len(out.read_text().split()) == ticks  # stopped: not a line more
        assert jm.resume_job(job.job_id).status in (JobStatus.RESUMING, JobStatus.ACTIVE)
        assert wait_until(lambda: status_is(agent, job.job_id, JobStatus.ACTIVE), timeout=10)
        final = jm.wait_for_job(job.job_id, timeout=20)
        assert final.status is JobStatus.DONE, final.error
        assert out.read_text().split() == [str(i) for i in range(20)]
        statuses = [v.status.value for v in jm.get_history(job.job_id)]
        assert statuses == ["new", "active", "suspending", "suspended", "resuming", "active", "done"]
        assert final.time_end - final.time_start > 3.5  # it lived longer than its timeout, suspended


def test_an_actor_pauses_at_its_checkpoint(agent: HeroAgent) -> None:
    steps: list[int] = []

    @heroagent.actor("stepper", suspendable=True)
    class Stepper:
        def run(self, ctx: JobContext) -> str:
            for i in range(40):
                ctx.checkpoint()
                steps.append(i)
                time.sleep(0.05)
            return "stepped"

    jm = agent.get_job_manager()
    job = jm.create_job("a", "!!stepper.run")
    assert wait_until(lambda: len(steps) >= 3)
    jm.suspend_job(job.job_id)
    assert wait_until(lambda: status_is(agent, job.job_id, JobStatus.SUSPENDED), timeout=10)
    held = len(steps)
    time.sleep(0.5)
    assert len(steps) == held
    jm.resume_job(job.job_id)
    final = jm.wait_for_job(job.job_id, timeout=20)
    assert final.status is JobStatus.DONE and steps == list(range(40))


def test_a_job_that_cannot_pause_is_refused_a_suspend_and_runs_on(web_agent: object) -> None:
    """A thread actor not declared suspendable has no checkpoint to pause at: a suspend would sit in
    `suspending` for good (it did, before the contract said who can pause). It is refused, with why."""
    agent = web_agent()  # type: ignore[operator]
    jm = agent.get_job_manager()
    job = jm.create_job("a", "!!fake.sleep seconds:2")
    assert wait_until(lambda: status_is(agent, job.job_id, JobStatus.ACTIVE))
    with pytest.raises(InvalidTransitionError, match=r"cannot suspend: actor 'fake' cannot pause .*suspendable=True"):
        jm.suspend_job(job.job_id)
    r = requests.post(ui_url(agent, f"/api/jobs/{job.job_id}/suspend"), timeout=5)
    assert r.status_code == 409 and "actor 'fake' cannot pause" in r.json()["error"]
    page = requests.get(ui_url(agent, f"/jobs/{job.job_id}"), timeout=5).text
    assert 'id="suspend"' not in page and 'id="cancel"' in page  # not offered on the job page
    assert jm.wait_for_job(job.job_id, timeout=15).status is JobStatus.DONE


def test_a_suspended_job_can_be_canceled(agent: HeroAgent) -> None:
    @heroagent.actor("pausable", isolation="process")
    class Pausable:
        def run(self, ctx: JobContext) -> str:
            time.sleep(30)
            return "never"

    jm = agent.get_job_manager()
    job = jm.create_job("a", "!!pausable.run", timeout=60)
    assert wait_until(lambda: status_is(agent, job.job_id, JobStatus.ACTIVE))
    time.sleep(0.2)
    jm.suspend_job(job.job_id)
    assert wait_until(lambda: status_is(agent, job.job_id, JobStatus.SUSPENDED), timeout=10)
    jm.cancel_job(job.job_id)
    assert jm.wait_for_job(job.job_id, timeout=15).status is JobStatus.CANCELED


def test_suspend_and_resume_refuse_what_they_cannot_do(web_agent: object) -> None:
    agent = web_agent(jobs={"topics": ["nobody"]})  # type: ignore[operator]
    jm = agent.get_job_manager()
    waiting = jm.create_job("t", "!!fake.return_success")
    with pytest.raises(InvalidTransitionError, match="only an active job can be suspended"):
        jm.suspend_job(waiting.job_id)
    with pytest.raises(InvalidTransitionError, match="only a suspended job can be resumed"):
        jm.resume_job(waiting.job_id)
    r = requests.post(ui_url(agent, f"/api/jobs/{waiting.job_id}/suspend"), timeout=5)
    assert r.status_code == 409 and "only an active job" in r.json()["error"]
    assert requests.post(ui_url(agent, "/api/jobs/999999/resume"), timeout=5).status_code == 404
