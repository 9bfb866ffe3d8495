"""The dashboard with 100,000 jobs in the history: the pages and searches return the right jobs.

How long they take is measured by bench/bench_dashboard.py, not asserted here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from bench.history_fill import fill_history
from heroagent import HeroAgent
from tests.conftest import ui_url

StartAgent = Callable[..., HeroAgent]
JOBS = 100_000


@pytest.mark.slow
def test_jobs_page_and_searches_with_100k_jobs(data_dir: Path, web_agent: StartAgent) -> None:
    fill_history(data_dir / "jobsdb", JOBS)
    agent = web_agent()
    assert agent.config.jobs_db_path == data_dir / "jobsdb"
    assert len(agent.get_job_manager().store) == JOBS

    html = requests.get(ui_url(agent, "/jobs"), timeout=60).text
    ids = [int(i) for i in re.findall(r'data-jobid="(\d+)"', html)]
    assert ids == list(range(JOBS, JOBS - 50, -1)) and f"{JOBS} jobs" in html

    html = requests.get(ui_url(agent, "/jobs?status=error&topic=topic0"), timeout=60).text
    ids = [int(i) for i in re.findall(r'data-jobid="(\d+)"', html)]
    # Job i (0-based) is id i+1; errors are every 100th, topic0 every 7th: both every 700th.
    assert ids[:3] == [99_401, 98_701, 98_001] and len(ids) == 50

    found = requests.get(ui_url(agent, "/api/jobs?text=failure number 12300"), timeout=60).json()["jobs"]
    assert [j["job_id"] for j in found] == [12_301]
    page = requests.get(ui_url(agent, "/api/jobs?text=no-such-text&limit=10"), timeout=60).json()
    assert page == {"jobs": [], "next_before": None}

    overview = requests.get(ui_url(agent, "/"), timeout=60).text
    assert re.search(r'id="count-done"[^>]*><strong>99000</strong>', overview)
