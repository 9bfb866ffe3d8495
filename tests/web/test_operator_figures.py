"""Issue 30, item 3: what an operator reads on the overview and the jobs list: per-queue latency (its
oldest waiting job's age), throughput and error rate, worker utilisation over time, a filter for every
field the API filters on."""

from __future__ import annotations

import re
import time

import requests

from heroagent.jobs.history.stats import JobStats
from heroagent.jobs.model import JobStatus
from tests.conftest import ui_url, wait_until
from tests.web.test_browser import StartAgent


def test_queue_figures_latency_throughput_and_errors(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    jm.pause_topic("slow", create=True)
    jm.create_job("slow", "!!fake.return_success", priority=9)
    time.sleep(1.1)
    jm.create_job("slow", "!!fake.return_success", priority=0)  # newer, lower priority: the oldest is the other
    ends = [jm.create_job("mixed", "!!fake.return_success") for _ in range(3)]
    ends.append(jm.create_job("mixed", "!!fake.return_error"))
    for job in ends:
        jm.wait_for_job(job.job_id, timeout=15)
    assert wait_until(lambda: jm.queue_stats()["mixed"]["finished"] == 4)
    stats = jm.queue_stats()
    assert stats["slow"]["oldest_wait"] >= 1 and stats["slow"]["queued"] == 2
    assert (stats["mixed"]["finished"], stats["mixed"]["failed"], stats["mixed"]["oldest_wait"]) == (4, 1, 0)
    rows = {q["topic"]: q for q in requests.get(ui_url(agent, "/api/queues"), timeout=10).json()["queues"]}
    assert rows["mixed"]["failed"] == 1 and rows["slow"]["oldest_wait"] >= 1
    page = requests.get(ui_url(agent, "/"), timeout=10).text
    assert 'data-label="Errors">25%' in page
    assert re.search(r'data-label="Oldest">[1-9][0-9]* s<', page)


def test_utilisation_is_sampled_from_every_pool() -> None:
    stats = JobStats()
    now = time.time()
    start = (int(now // 10) - 3) * 10.0  # a bucket's start (buckets are 10 s), 30 s back
    stats.observe_slots(1, 4, start + 1)
    stats.observe_slots(3, 4, start + 2)  # same bucket: averaged
    stats.observe_slots(0, 0, now)  # no slot: no bar
    shares = [share for _, share in stats.utilisation(now) if share is not None]
    assert shares == [0.5]
    stats.observe(topic="t", status=JobStatus.TIMEOUT, time_start=now - 1, time_end=now)
    assert stats.topic_window(now) == {"t": {"finished": 1, "failed": 1}}


def test_the_overview_shows_busy_slots_and_the_jobs_page_filters_every_label(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    jm.create_job("labels", "!!fake.sleep seconds:3", tenant_id="acme", user_id="ann", group="batch-1")
    other = jm.create_job("labels", "!!fake.return_success", tenant_id="other")
    jm.wait_for_job(other.job_id, timeout=15)
    assert wait_until(lambda: "% busy" in requests.get(ui_url(agent, "/"), timeout=10).text, timeout=15)
    for name, value in (("tenant_id", "acme"), ("user_id", "ann"), ("group", "batch-1")):
        page = requests.get(ui_url(agent, "/jobs"), params={name: value}, timeout=10).text
        assert f'name="{name}"' in page and f'value="{value}"' in page
        assert "labels" in page and f"/jobs/{other.job_id}" not in page
