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
from heroagent.jobs.errors import InvalidJobError, TopicDrainingError, TopicNotFoundError
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
    counts = {k: v for k, v in jm.queue_stats()["p"].items() if k not in ("oldest_wait", "finished", "failed")}
    assert counts == {"queued": 3, "inflight": 0, "scheduled": 0, "paused": 1, "draining": 0}
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
    jm.pause_topic("d", create=True)
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
    jm.pause_topic("ui", create=True)
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


def test_an_action_on_a_topic_that_never_had_a_job_is_a_404_unless_create(web_agent: StartAgent) -> None:
    """Issue 30, item 6: a typo (`/api/queues/nosuchtopic/pause`) no longer makes a topic for good."""
    agent = web_agent()
    jm = agent.get_job_manager()
    for action in ("pause", "resume", "drain", "clear", "cancel-all"):
        r = requests.post(ui_url(agent, f"/api/queues/nosuchtopic/{action}"), timeout=5)
        assert r.status_code == 404, (action, r.text)
        message = r.json()["error"]
        assert "nosuchtopic" in message and "never had a job" in message and "create=true" in message, message
    listed = requests.get(ui_url(agent, "/api/queues"), timeout=5).json()["queues"]
    assert "nosuchtopic" not in {q["topic"] for q in listed} and "nosuchtopic" not in jm.queue_stats()
    with pytest.raises(TopicNotFoundError, match="nosuchtopic"):
        jm.pause_topic("nosuchtopic")
    r = requests.post(ui_url(agent, "/api/queues/early/pause?create=maybe"), timeout=5)
    assert r.status_code == 400 and "create" in r.json()["error"]
    r = requests.post(ui_url(agent, "/api/queues/early/pause?create=true"), timeout=5)
    assert r.status_code == 200 and r.json()["paused"] is True
    assert requests.post(ui_url(agent, "/api/queues/early/resume"), timeout=5).status_code == 200  # known now
    jm.wait_for_job(jm.create_job("had", "!!fake.return_success").job_id, timeout=10)
    assert jm.pause_topic("had")["paused"] is True  # a topic that has had a job needs no create


def test_limits_on_a_topic_that_never_had_a_job_are_a_404_unless_create(web_agent: StartAgent) -> None:
    """Issue 30's leftover: PUT limits follows the rule of the other queue actions (a typo makes no topic)."""
    agent = web_agent()
    jm = agent.get_job_manager()
    url = ui_url(agent, "/api/queues/nolimits/limits")
    r = requests.put(url, json={"max_running": 2}, timeout=5)
    assert r.status_code == 404 and "PUT /api/queues/nolimits/limits?create=true" in r.json()["error"], r.text
    assert "nolimits" not in jm.topic_limits() and "nolimits" not in jm.queue_stats()
    with pytest.raises(TopicNotFoundError, match="heroagent queue limit nolimits --create"):
        jm.set_topic_limits("nolimits", max_running=2)
    r = requests.put(url + "?create=true", json={"max_running": 2}, timeout=5)
    assert r.status_code == 200 and r.json()["max_running"] == 2
    assert requests.put(url, json={"rate": "5/second"}, timeout=5).status_code == 200  # limited: known now
    from heroagent.client import JobClient

    client = JobClient.from_config(agent.config)  # straight in Redis: the same rule
    try:
        with pytest.raises(TopicNotFoundError, match="otherlimits"):
            client.set_topic_limits("otherlimits", rate="1/second")
        assert client.set_topic_limits("otherlimits", rate="1/second", create=True)["rate"] == "1/second"
    finally:
        client.close()
    config_file = agent.config.data_path / "limits.toml"
    config_file.write_text(to_toml(agent.config))
    cmd = [sys.executable, "-m", "heroagent", "queue", "limit", "typo", "--max-running", "1"]
    cmd += ["--config", str(config_file)]
    refused = subprocess.run(cmd, capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}, timeout=60)
    assert refused.returncode == 2 and "never had a job" in refused.stderr and "--create" in refused.stderr
    made = subprocess.run([*cmd, "--create"], capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}, timeout=60)
    assert made.returncode == 0 and "typo: limits max_running 1" in made.stdout, made.stderr


def test_a_topic_with_nothing_left_can_be_removed(web_agent: StartAgent) -> None:
    """DELETE /api/queues/<topic>: 404 for a topic never seen, 409 naming what is left, else 204 and it is gone
    (its state and limits too); its finished jobs stay in the history."""
    agent = web_agent()
    jm = agent.get_job_manager()
    url = ui_url(agent, "/api/queues/gone")
    r = requests.delete(ui_url(agent, "/api/queues/nosuchtopic"), timeout=5)
    assert r.status_code == 404 and "nosuchtopic" in r.json()["error"]
    running = jm.create_job("gone", "!!fake.sleep seconds:30")
    assert wait_until(lambda: jm.get_job(running.job_id).status is JobStatus.ACTIVE)
    jm.pause_topic("gone")
    jm.create_job("gone", "!!fake.return_success")
    jm.create_job("gone", "!!fake.return_success", delay=60)
    jm.set_topic_limits("gone", max_running=3)
    r = requests.delete(url, timeout=5)
    assert r.status_code == 409, r.text
    assert all(w in r.json()["error"] for w in ("gone", "1 queued", "1 running", "1 scheduled", "cancel-all"))
    jm.cancel_all("gone")
    assert jm.wait_for_job(running.job_id, timeout=15).status is JobStatus.CANCELED
    assert wait_until(lambda: requests.delete(url, timeout=5).status_code == 204, timeout=10)
    assert "gone" not in jm.queue_stats() and "gone" not in jm.topic_limits()
    assert jm.list_jobs(topic="gone")  # the history keeps its jobs
    assert requests.delete(url, timeout=5).status_code == 404  # gone from Redis: nothing to remove
    jm.pause_topic("typo", create=True)
    jm.remove_topic("typo")
    with pytest.raises(TopicNotFoundError):
        jm.resume_topic("typo")  # made by create=true, removed, never had a job: unknown again


def test_the_cli_creates_and_removes_topics(web_agent: StartAgent) -> None:
    agent = web_agent()
    config_file = agent.config.data_path / "c.toml"
    config_file.write_text(to_toml(agent.config))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "heroagent", "queue", *args, "--config", str(config_file)]
        return subprocess.run(cmd, capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}, timeout=60)

    unknown = cli("pause", "typo")
    assert unknown.returncode == 2 and "never had a job" in unknown.stderr and "--create" in unknown.stderr
    assert cli("pause", "typo", "--create").stdout.strip() == "typo: paused"
    assert cli("remove", "typo").stdout.strip() == "typo: removed"
    missing = cli("remove", "typo")
    assert missing.returncode == 2 and "typo" in missing.stderr


def test_a_topic_with_pause_on_error_pauses_at_its_first_failure_after_retries(web_agent: StartAgent) -> None:
    """Issue 29, item 5 (Heracles' pause_on_error): the failure pauses the topic, after the job's retries;
    the overview, the API and health say why; the queued jobs wait; a resume by hand lets them run."""
    agent = web_agent(topics={"fragile": {"pause_on_error": True}, "sturdy": {"max_running": 5}})
    jm = agent.get_job_manager()
    failing = jm.create_job("fragile", "!!fake.return_error message:'disk full'", max_retries=1, retry_delay=0.05)
    assert jm.wait_for_job(failing.job_id, timeout=20).status is JobStatus.ERROR
    assert jm.get_job(failing.job_id).retries == 1  # it paused after the retry, not at the first attempt
    assert wait_until(lambda: jm.topic_state("fragile")["paused"])
    waiting = jm.create_job("fragile", "!!fake.return_success")
    other = jm.create_job("sturdy", "!!fake.return_error")  # another topic's failure pauses nothing
    assert jm.wait_for_job(other.job_id, timeout=20).status is JobStatus.ERROR
    assert not jm.topic_state("sturdy")["paused"]
    why = jm.paused_why()["fragile"]
    assert f"job {failing.job_id} ended error: " in why and "disk full" in why
    rows = {q["topic"]: q for q in requests.get(ui_url(agent, "/api/queues"), timeout=10).json()["queues"]}
    assert rows["fragile"]["paused_why"] == why and rows["sturdy"]["paused_why"] == ""
    assert "disk full" in requests.get(ui_url(agent, "/"), timeout=10).text
    assert wait_until(lambda: any("topic fragile paused itself" in p for p in agent.problems()), timeout=15)
    time.sleep(0.5)
    assert jm.get_job(waiting.job_id).status is JobStatus.NEW  # it waits
    jm.resume_topic("fragile")
    assert jm.wait_for_job(waiting.job_id, timeout=20).status is JobStatus.DONE
    assert "fragile" not in jm.paused_why()
    assert wait_until(lambda: not any("fragile" in p for p in agent.problems()), timeout=15)
