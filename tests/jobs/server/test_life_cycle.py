"""The life cycle tells the truth (issue 26): a canceled job keeps nothing of the run it canceled, a cancel
answers with the state after it (`canceling` while the job stops), and the log says what happened in
the order it happened. Through the manager, the API and the CLI, against a real server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable

import requests

from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from heroagent.jobs.model import RUNNING
from heroagent.redis_connect import redis_url_for
from tests.conftest import child_env, ui_url, wait_until


def running(agent: HeroAgent, job_id: int) -> bool:
    return agent.get_job_manager().get_job(job_id).status is JobStatus.ACTIVE


def assert_canceled_truthfully(agent: HeroAgent, job_id: int) -> None:
    jm = agent.get_job_manager()
    final = jm.wait_for_job(job_id, timeout=20)
    assert final.status is JobStatus.CANCELED
    assert final.result is None  # fake.sleep returned "slept 6s" after the cancel: that is not what happened
    assert wait_until(lambda: jm.get_history(job_id)[-1].status is JobStatus.CANCELED, timeout=10)
    statuses = [v.status for v in jm.get_history(job_id)]
    assert statuses[:2] == [JobStatus.NEW, JobStatus.ACTIVE] and statuses[-2:] == [
        JobStatus.CANCELING,
        JobStatus.CANCELED,
    ], statuses
    history = jm.get_history(job_id)
    assert all(v.result is None for v in history)
    # Each version carries the time of its own change (a timeline of one start time no more).
    times = [v.updated_at for v in history]
    assert times == sorted(times) and abs(times[0] - history[0].time_created) < 0.001
    assert times[-1] > times[1]  # the end's own time, not the start's
    lines = [line.split(" ", 2)[2] for line in jm.get_log(job_id).splitlines()]
    assert lines[0] == "created: topic t", lines  # first, whoever wrote it first
    assert lines[1].startswith("started on worker")
    assert "cancel requested" in lines
    assert "canceled: canceled while it ran" in lines
    assert not any(line.startswith("done") for line in lines), lines


def test_a_canceled_running_job_keeps_no_result_and_its_log_is_in_order(
    web_agent: Callable[..., HeroAgent],
) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    job = jm.create_job("t", "!!fake.sleep seconds:6", log=True)
    assert wait_until(lambda: running(agent, job.job_id))
    asked = jm.cancel_job(job.job_id)
    assert asked.status is JobStatus.CANCELING and asked.status in RUNNING  # the state after the request
    assert_canceled_truthfully(agent, job.job_id)

    by_api = jm.create_job("t", "!!fake.sleep seconds:6", log=True)
    assert wait_until(lambda: running(agent, by_api.job_id))
    answer = requests.post(ui_url(agent, f"/api/jobs/{by_api.job_id}/cancel"), timeout=5)
    assert answer.status_code == 200 and answer.json()["status"] == "canceling"
    assert_canceled_truthfully(agent, by_api.job_id)

    by_cli = jm.create_job("t", "!!fake.sleep seconds:6", log=True)
    assert wait_until(lambda: running(agent, by_cli.job_id))
    env = child_env(HEROAGENT_REDIS_URL=redis_url_for(agent.config), HEROAGENT_DATA_DIR=str(agent.config.data_path))
    done = subprocess.run(
        [sys.executable, "-m", "heroagent", "job", "cancel", str(by_cli.job_id), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "canceling"
    assert_canceled_truthfully(agent, by_cli.job_id)


def test_a_queued_job_is_canceled_at_once_and_a_log_begins_with_its_creation(
    web_agent: Callable[..., HeroAgent],
) -> None:
    agent = web_agent(jobs={"topics": ["elsewhere"]})
    jm = agent.get_job_manager()
    job = jm.create_job("t", "!!fake.return_success", log=True)
    time.sleep(0.3)  # recorded: its log has its creation
    assert jm.cancel_job(job.job_id).status is JobStatus.CANCELED
    lines = [line.split(" ", 2)[2] for line in jm.get_log(job.job_id).splitlines()]
    assert lines[0] == "created: topic t"


def test_a_job_stopped_by_its_timeout_ends_timeout_and_is_dead(web_agent: Callable[..., HeroAgent]) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    slow = jm.create_job("t", "!!fake.sleep seconds:30", timeout=0.3)
    failed = jm.create_job("t", "!!fake.return_error message:boom")
    final = jm.wait_for_job(slow.job_id, timeout=20)
    assert final.status is JobStatus.TIMEOUT and final.error == "timed out after 0.3 seconds"
    assert final.status.terminal and jm.wait_for_job(failed.job_id, timeout=20).status is JobStatus.ERROR
    assert wait_until(lambda: {j.job_id for j in jm.list_dead()} == {slow.job_id, failed.job_id}, timeout=10)
    both = jm.list_jobs(status="error,timeout")
    assert {j.job_id for j in both} == {slow.job_id, failed.job_id}
    assert [j.job_id for j in jm.list_jobs(status="timeout")] == [slow.job_id]
    listed = requests.get(ui_url(agent, "/api/jobs"), params={"status": "timeout,error"}, timeout=5).json()["jobs"]
    assert {j["job_id"] for j in listed} == {slow.job_id, failed.job_id}
    dead = requests.get(ui_url(agent, "/api/jobs/dead"), timeout=5).json()
    assert dead["total"] == 2
    bad = requests.get(ui_url(agent, "/api/jobs"), params={"status": "error,nope"}, timeout=5)
    assert bad.status_code == 400 and "status: 'nope' is not one of" in bad.json()["error"]
    overview = requests.get(ui_url(agent, "/"), timeout=5).text
    assert re.search(r'id="count-timeout"[^>]*><strong>1</strong>', overview)  # a rare status: shown when not 0
    assert 'id="count-canceling"' not in overview and 'id="count-error"' in overview
    retried = jm.retry_dead()
    assert {j.job_id for j in retried} == {slow.job_id, failed.job_id}
