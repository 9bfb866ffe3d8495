"""`skipped` (issue 12, item 4): a final status a job sets itself (ctx.skip, a script's "::skip" line);
not a failure, so never retried, and recorded, listed and counted like the other final statuses."""

from __future__ import annotations

import stat

import heroagent
from heroagent import HeroAgent
from heroagent.jobs import JobContext, JobStatus
from tests.conftest import redis_cli, wait_until


def test_an_actor_skips_its_job(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    job = jm.create_job("sk", "!!fake.skip reason:'already up to date'", max_retries=3)
    final = jm.wait_for_job(job.job_id, timeout=15)
    assert final.status is JobStatus.SKIPPED and final.result == "already up to date"
    assert final.attempts == 1 and final.retries == 0  # not a failure: no retry
    assert [v.status.value for v in jm.get_history(job.job_id)] == ["new", "active", "skipped"]
    assert [j.job_id for j in jm.list_jobs(status="skipped")] == [job.job_id]
    assert wait_until(lambda: redis_cli(agent, "EXISTS", f"herojobs:sk:{job.job_id}") == "0")  # left Redis


def test_a_process_isolated_actor_and_a_script_can_skip(agent: HeroAgent) -> None:
    @heroagent.actor("sync", isolation="process")
    class Sync:
        def run(self, ctx: JobContext) -> str:
            ctx.skip("no changes")

    script = agent.config.share_root / "scripts" / "maybe.sh"  # type: ignore[operator]
    script.write_text('#!/bin/sh\necho "looking"\necho "::skip nothing new since 08:00"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    failing = agent.config.share_root / "scripts" / "fails.sh"  # type: ignore[operator]
    failing.write_text('#!/bin/sh\necho "::skip would skip"\nexit 3\n')
    failing.chmod(failing.stat().st_mode | stat.S_IXUSR)
    jm = agent.get_job_manager()
    isolated = jm.wait_for_job(jm.create_job("sk", "!!sync.run").job_id, timeout=15)
    assert (isolated.status, isolated.result) == (JobStatus.SKIPPED, "no changes")
    scripted = jm.wait_for_job(jm.create_job("sk", "!!script.run path:'scripts/maybe.sh'").job_id, timeout=15)
    assert (scripted.status, scripted.result) == (JobStatus.SKIPPED, "nothing new since 08:00")
    failed = jm.wait_for_job(jm.create_job("sk", "!!script.run path:'scripts/fails.sh'").job_id, timeout=15)
    assert failed.status is JobStatus.ERROR and "exited with code 3" in failed.error  # a failure stays one
