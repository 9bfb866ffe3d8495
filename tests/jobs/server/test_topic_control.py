"""Topic (queue) control (issue 12, item 2): pause, resume, drain, clear, cancel-all, in the Python API,
the JSON API, the CLI and the dashboard, against real workers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import requests

from heroagent import HeroAgent
from heroagent.config import to_toml
from heroagent.jobs import JobStatus
from heroagent.jobs.errors import InvalidJobError, TopicDrainingError
from tests.conftest import REPO, ui_url, wait_until
from tests.web.test_pages import csrf

StartAgent = Callable[..., HeroAgent]

NO_LIMITS = {"max_running": None, "rate": None}


def test_a_paused_topic_waits_and_runs_when_resumed_even_after_a_restart(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    running = jm.create_job("p", "!!fake.sleep seconds:1")
    assert wait_until(lambda: jm.get_job(running.job_id).status is JobStatus.ACTIVE)
    assert jm.pause_topic("p") == {"topic": "p", "paused": True, "draining": False, **NO_LIMITS}
    waiting = [jm.create_job("p", "!!fake.return_success") for _ in range(3)]
    other = jm.create_job("q", "!!fake.return_success")
    assert jm.wait_for_job(other.job_id, timeout=10).status is JobStatus.DONE  # other topics run
    assert jm.wait_for_job(running.job_id, timeout=10).status is JobStatus.DONE  # the running one finishes
    time.sleep(0.5)
    assert all(jm.get_job(j.job_id).status is JobStatus.NEW for j in waiting)
    assert jm.queue_stats()["p"] == {"queued": 3, "inflight": 0, "scheduled": 0, "paused": 1, "draining": 0}
    agent.stop()
    agent.start()  # the pause is kept in Redis
    jm = agent.get_job_manager()
    time.sleep(0.5)
    assert all(jm.get_job(j.job_id).status is JobStatus.NEW for j in waiting)
    jm.resume_topic("p")
    assert all(jm.wait_for_job(j.job_id, timeout=10).status is JobStatus.DONE for j in waiting)


def test_a_draining_topic_refuses_new_jobs_and_finishes_the_queued(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    jm.pause_topic("d")
    queued = jm.create_job("d", "!!fake.return_success")
    jm.drain_topic("d")
    with pytest.raises(TopicDrainingError, match="topic d is draining"):
        jm.create_jobs(
            [{"topic": "e", "params": "!!fake.return_success"}, {"topic": "d", "params": "!!fake.return_success"}]
        )
    assert jm.list_jobs(topic="e") == [] and not jm.queue_stats().get("e")  # all or nothing
    r = requests.post(ui_url(agent, "/api/jobs"), json={"topic": "d", "params": "!!fake.return_success"}, timeout=5)
    assert r.status_code == 409 and "draining" in r.json()["error"]
    r = requests.post(ui_url(agent, "/api/queues/d/resume"), timeout=5)
    assert r.status_code == 200 and r.json() == {"topic": "d", "paused": False, "draining": False, **NO_LIMITS}
    assert jm.wait_for_job(queued.job_id, timeout=10).status is JobStatus.DONE
    assert jm.create_job("d", "!!fake.return_success").job_id > queued.job_id


def test_clear_and_cancel_all(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    running = jm.create_job("c", "!!fake.sleep seconds:30")
    assert wait_until(lambda: jm.get_job(running.job_id).status is JobStatus.ACTIVE)
    jm.pause_topic("c")
    queued = [jm.create_job("c", "!!fake.return_success") for _ in range(5)]
    later = jm.create_job("c", "!!fake.return_success", delay=60)
    result = jm.clear_topic("c")
    assert result == {"topic": "c", "paused": True, "draining": False, "canceled": 6, "stopping": 0, **NO_LIMITS}
    for job in [*queued, later]:
        final = jm.wait_for_job(job.job_id, timeout=10)
        assert final.status is JobStatus.CANCELED and final.error == "canceled: topic c was cleared"
    assert jm.get_job(running.job_id).status is JobStatus.ACTIVE  # clear leaves running jobs alone
    r = requests.post(ui_url(agent, "/api/queues/c/cancel-all"), timeout=5)
    assert r.status_code == 200 and r.json()["stopping"] == 1
    assert jm.wait_for_job(running.job_id, timeout=15).status is JobStatus.CANCELED
    assert jm.queue_stats()["c"]["queued"] == 0


def test_bad_actions_and_topics_are_400s(web_agent: StartAgent) -> None:
    agent = web_agent()
    r = requests.post(ui_url(agent, "/api/queues/t/explode"), timeout=5)
    assert r.status_code == 400 and "pause, resume, drain, clear, cancel-all" in r.json()["error"]
    r = requests.post(ui_url(agent, "/api/queues/bad%20topic/pause"), timeout=5)
    assert r.status_code == 400 and r.json()["error"].startswith("topic:")
    with pytest.raises(InvalidJobError):
        agent.get_job_manager().pause_topic("x" * 200)


def test_the_dashboard_buttons_and_the_cli(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    jm.pause_topic("ui")
    jm.create_job("ui", "!!fake.return_success")
    session = requests.Session()
    page = session.get(ui_url(agent, "/"), timeout=5).text
    assert 'data-topic="ui"' in page and 'class="tag paused"' in page and 'data-action="resume"' in page
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf(agent, session, "/")}
    r = session.post(ui_url(agent, "/queues/ui/resume"), headers=headers, timeout=5)
    assert r.status_code == 200 and "Resumed ui." in r.text and r.text.startswith('<div id="overview"')
    assert not jm.topic_state("ui")["paused"]

    config_file = agent.config.data_path / "c.toml"
    config_file.write_text(to_toml(agent.config))
    env = {"PYTHONPATH": str(REPO)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "heroagent", "queue", *args, "--config", str(config_file)]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)

    assert cli("drain", "ui").stdout.strip() == "ui: draining"
    listed = cli("list")
    assert listed.returncode == 0 and any(
        line.split()[0] == "ui" and "draining" in line for line in listed.stdout.splitlines()[1:]
    )
    assert json.loads(cli("clear", "ui", "--json").stdout)["canceled"] == 0
    bad = cli("explode", "ui")
    assert bad.returncode == 2 and "No such command" in bad.stderr
