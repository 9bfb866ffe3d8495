"""Progress (issue 12, item 3): reported by an actor (`ctx.progress`) or a script (`::progress` lines),
kept on the job live, shown on the pages and in /metrics, throttled."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from heroagent import HeroAgent
from heroagent.jobs import JobContext, JobStatus
from heroagent.jobs.run.worker import PROGRESS_EVERY
from tests.conftest import make_config, ui_url, wait_until


@pytest.fixture
def progress_agent(data_dir: Path) -> Iterator[HeroAgent]:
    config = make_config(data_dir, webdav={"enabled": False, "root": str(data_dir / "share")})
    (data_dir / "share" / "scripts").mkdir(parents=True)
    agent = HeroAgent(config)
    release = threading.Event()
    agent.release = release  # type: ignore[attr-defined]

    @agent.actor("steps")
    class Steps:
        def run(self, ctx: JobContext, count: str = "3") -> str:
            for n in range(1, int(count) + 1):
                ctx.progress(n / int(count), f"step {n} of {count}")
            release.wait(20)
            return "ok"

        def chatty(self, ctx: JobContext) -> str:
            for n in range(20_000):  # a flood: stored at most every PROGRESS_EVERY seconds
                ctx.progress(n / 20_000, f"item {n}")
            ctx.progress(1.0, "all done")
            return "ok"

        def bad(self, ctx: JobContext) -> str:
            ctx.progress(float("nan"))
            return "unreachable"

    agent.start()
    yield agent
    release.set()
    agent.stop()


def test_an_actor_reports_progress_and_every_view_shows_it(progress_agent: HeroAgent) -> None:
    agent = progress_agent
    jm = agent.get_job_manager()
    job = jm.create_job("p", "!!steps.run count:4")
    assert wait_until(lambda: jm.get_job(job.job_id).progress == 1.0, timeout=10)
    live = jm.get_job(job.job_id)
    assert live.status is JobStatus.ACTIVE and live.progress_details == "step 4 of 4"
    api = requests.get(ui_url(agent, f"/api/jobs/{job.job_id}"), timeout=5).json()
    assert api["progress"] == 1.0 and api["progress_details"] == "step 4 of 4"
    page = requests.get(ui_url(agent, f"/jobs/{job.job_id}"), timeout=5).text
    assert 'id="job-progress" value="1.0"' in page and "step 4 of 4" in page
    listing = requests.get(ui_url(agent, "/jobs"), timeout=5).text
    assert 'class="row-progress" value="1.0"' in listing
    metrics = requests.get(ui_url(agent, "/metrics"), timeout=5).text
    assert f'heroagent_job_progress{{topic="p",jobid="{job.job_id}"}} 1\n' in metrics
    agent.release.set()  # type: ignore[attr-defined]
    final = jm.wait_for_job(job.job_id, timeout=10)
    assert final.status is JobStatus.DONE and final.progress == 1.0  # the history keeps the last progress


def test_a_flood_of_progress_is_throttled_and_bad_values_refused(progress_agent: HeroAgent) -> None:
    jm = progress_agent.get_job_manager()
    client = jm.client
    client.config_resetstat()
    job = jm.create_job("p", "!!steps.chatty")
    assert jm.wait_for_job(job.job_id, timeout=10).status is JobStatus.DONE
    calls = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    assert calls < 50, calls  # 20,000 reports did not become 20,000 Redis calls
    bad = jm.create_job("p", "!!steps.bad")
    final = jm.wait_for_job(bad.job_id, timeout=10)
    assert final.status is JobStatus.ERROR and "is not a number from 0 to 1" in final.error


def test_a_script_reports_progress_with_lines(progress_agent: HeroAgent, data_dir: Path) -> None:
    script = data_dir / "share" / "scripts" / "copy.sh"
    script.write_text(
        "echo start\necho '::progress 0.25 copying a'\nsleep 1\necho '::progress 0.75 copying b'\nsleep 1\necho end\n"
    )
    jm = progress_agent.get_job_manager()
    job = jm.create_job("p", "!!script.run path:scripts/copy.sh")
    assert wait_until(lambda: jm.get_job(job.job_id).progress_details == "copying a", timeout=10)
    assert wait_until(lambda: jm.get_job(job.job_id).progress == 0.75, timeout=10)
    final = jm.wait_for_job(job.job_id, timeout=15)
    assert final.status is JobStatus.DONE and "::progress" not in final.result_text and "end" in final.result_text
    assert PROGRESS_EVERY <= 1.0  # the 1 s between the lines lets each be stored
