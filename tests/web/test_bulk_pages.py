"""The jobs list's bulk actions over real HTTP (web/bulk_pages.py): a confirmation naming the count, batches
with progress, the landing on the same filtered list, CSRF, hostile forms."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
import requests

from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from heroagent.jobs.errors import JobNotFoundError
from heroagent.jobs.server.manager import JobManager
from tests.conftest import ui_url, wait_until
from tests.web.test_pages import csrf

StartAgent = Callable[..., HeroAgent]
HTMX = {"HX-Request": "true"}


def failed_jobs(jm: JobManager, topic: str, count: int) -> list[int]:
    jobs = jm.create_jobs([{"topic": topic, "params": "!!fake.return_error"}] * count)
    for job in jobs:
        assert jm.wait_for_job(job.job_id, timeout=15).status is JobStatus.ERROR
    assert wait_until(lambda: jm.store.count("error", topic) == count, timeout=15)
    return [j.job_id for j in jobs]


def text_of(response: requests.Response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def test_delete_all_dead_confirms_the_count_and_lands_on_the_same_filtered_list(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    dead = failed_jobs(jm, "flaky", 3)
    kept = jm.create_job("flaky", "!!fake.return_success")
    assert jm.wait_for_job(kept.job_id, timeout=15).status is JobStatus.DONE
    session = requests.Session()
    listing = session.get(ui_url(agent, "/jobs?status=error&topic=flaky"), timeout=5).text
    assert 'id="delete-dead"' in listing and 'id="bulk-form"' in listing and "3 dead jobs" in listing
    form = {
        "csrf_token": csrf(agent, session, "/jobs"),
        "action": "delete",
        "all": "1",
        "status": "error,timeout",
        "topic": "flaky",
        "back": "status=error&topic=flaky",
    }
    r = session.post(ui_url(agent, "/jobs/bulk"), data=form, timeout=5)
    assert r.status_code == 200 and "Delete 3 jobs matching status error,timeout, topic flaky?" in text_of(r)
    assert all(jm.get_job(i).status is JobStatus.ERROR for i in dead)  # nothing happens before the confirmation
    r = session.post(ui_url(agent, "/jobs/bulk"), data={**form, "confirm": "yes"}, allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["Location"] == "/jobs?status=error&topic=flaky"
    landed = session.get(ui_url(agent, r.headers["Location"]), timeout=5)
    assert "Deleted 3 jobs." in text_of(landed)
    for job_id in dead:
        with pytest.raises(JobNotFoundError):
            jm.get_job(job_id)
    assert jm.get_job(kept.job_id).status is JobStatus.DONE


def test_ticked_jobs_that_changed_meanwhile_are_skipped_and_counted(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    ids = failed_jobs(jm, "picked", 3)
    session = requests.Session()
    form = {"csrf_token": csrf(agent, session, "/jobs"), "action": "retry", "ids": [str(i) for i in ids]}
    r = session.post(ui_url(agent, "/jobs/bulk"), data={**form, "back": "topic=picked"}, timeout=5)
    assert "Retry 3 jobs selected on the list?" in text_of(r)
    jm.retry_job(ids[0])  # someone retried one meanwhile: it is no longer finished
    r = session.post(
        ui_url(agent, "/jobs/bulk"),
        data={**form, "back": "topic=picked", "confirm": "yes"},
        headers=HTMX,
        timeout=30,
    )
    assert r.status_code == 200 and r.headers["HX-Redirect"] == "/jobs?topic=picked"
    notice = text_of(session.get(ui_url(agent, "/jobs?topic=picked"), timeout=5))
    assert "Queued again 2 jobs; 1 skipped" in notice or "Queued again 3 jobs." in notice  # it may have ended again


def test_more_than_a_batch_goes_on_by_itself_with_progress(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    jm.pause_topic("crowd", create=True)
    jm.create_jobs([{"topic": "crowd", "params": "!!fake.return_success"}] * 501)
    assert wait_until(lambda: jm.store.count("new", "crowd") == 501, timeout=30)
    session = requests.Session()
    form = {"csrf_token": csrf(agent, session, "/jobs"), "action": "cancel", "all": "1", "topic": "crowd"}
    r = session.post(ui_url(agent, "/jobs/bulk"), data=form, timeout=5)
    assert "Cancel 501 jobs matching topic crowd?" in text_of(r)
    r = session.post(ui_url(agent, "/jobs/bulk"), data={**form, "confirm": "yes", "total": "501"}, headers=HTMX)
    assert 'hx-trigger="load"' in r.text and "Canceling… 500 of 501 done." in text_of(r)
    before = re.search(r'name="before" value="(\d+)"', r.text)
    assert before
    step = {**form, "confirm": "yes", "total": "501", "done": "500", "before": before.group(1)}
    r = session.post(ui_url(agent, "/jobs/bulk"), data=step, headers=HTMX, timeout=30)
    assert r.headers["HX-Redirect"] == "/jobs"
    assert "Canceled 501 jobs." in text_of(session.get(ui_url(agent, "/jobs"), timeout=5))
    assert jm.store.count("new", "crowd") == 0 or wait_until(lambda: jm.store.count("canceled", "crowd") == 501)


def test_a_forged_bulk_request_without_the_csrf_token_is_refused(web_agent: StartAgent) -> None:
    agent = web_agent(ui={"password": "bulk-secret", "api_token": "bulk-token-0123456789"})
    jm = agent.get_job_manager()
    (job_id,) = failed_jobs(jm, "target", 1)
    session = requests.Session()
    login = session.get(ui_url(agent, "/login"), timeout=5).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login)
    assert token
    session.post(ui_url(agent, "/login"), data={"password": "bulk-secret", "csrf_token": token.group(1)}, timeout=5)
    forged = {"action": "delete", "ids": str(job_id), "confirm": "yes"}
    r = session.post(ui_url(agent, "/jobs/bulk"), data=forged, allow_redirects=False, timeout=5)
    assert r.status_code == 403
    r = session.post(ui_url(agent, "/jobs/bulk"), data={**forged, "csrf_token": "wrong"}, timeout=5)
    assert r.status_code == 403
    body: dict[str, Any] = {"action": "delete", "ids": [job_id]}
    r = session.post(ui_url(agent, "/api/jobs/bulk"), json=body, timeout=5)  # the logged-in browser, no header
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    assert jm.get_job(job_id).status is JobStatus.ERROR  # untouched


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"action": "explode", "ids": "1"}, "action: 'explode' must be one of retry, cancel, delete"),
        ({"action": "retry"}, "no job selected"),
        ({"action": "retry", "ids": "abc"}, "ids: 'abc' must be a whole number"),
        ({"action": "retry", "ids": "-1"}, "ids: '-1' must be a whole number"),
        ({"action": "retry", "ids": "99999999999999999999"}, "must be a whole number"),
        ({"action": "retry", "ids": "0"}, "ids: '0' is not a job id"),
        ({"action": "retry", "ids": [str(i) for i in range(1, 600)]}, "599 given; at most 500"),
        ({"action": "retry", "all": "1", "status": "sleepy"}, "sleepy"),
        ({"action": "retry", "all": "1", "topic": "x" * 200}, "topic"),
        ({"action": "retry", "ids": "1", "back": "colour=red"}, "colour: not a filter of the jobs list"),
        ({"action": "retry", "ids": "1", "confirm": "yes", "done": "many"}, "done: 'many' must be a whole number"),
        ({"action": "retry", "all": "1", "confirm": "yes", "before": "x"}, "before: 'x' must be a whole number"),
    ],
)
def test_hostile_bulk_forms_are_400_naming_the_field(
    web_agent: StartAgent, form: dict[str, str | list[str]], message: str
) -> None:
    agent = web_agent()
    session = requests.Session()
    r = session.post(ui_url(agent, "/jobs/bulk"), data={"csrf_token": csrf(agent, session, "/jobs"), **form}, timeout=5)
    assert r.status_code == 400 and message in text_of(r), text_of(r)[-300:]
