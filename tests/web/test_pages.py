"""The dashboard's pages over real HTTP: content, forms, errors, the WebDAV scripts, a Redis that is down."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from heroagent import HeroAgent
from heroagent.config import Config
from heroagent.redis_server import EmbeddedRedis
from heroagent.schema.job import NEW_JOB
from tests.conftest import free_port, make_config, present, ui_url, wait_until

StartAgent = Callable[..., HeroAgent]


def csrf(agent: HeroAgent, session: requests.Session, path: str = "/submit") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', session.get(ui_url(agent, path), timeout=5).text)
    assert match
    return match.group(1)


def test_overview_shows_counts_queues_workers_redis_and_addresses(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    done = jm.create_job("reports", "!!fake.return_success")
    jm.wait_for_job(done.job_id, timeout=15)
    assert wait_until(lambda: jm.list_workers())
    html = requests.get(ui_url(agent, "/"), timeout=5).text
    assert re.search(r'id="count-done"[^>]*><strong>1</strong>', html)
    assert "reports" in html and 'id="workers"' in html and "this server" in html
    assert "6.2." in html  # the embedded Redis's version
    assert re.search(r"<th>Keys</th><td>\d+</td>", html) and "built-in" not in html
    assert agent.addresses()["webdav"] in html
    assert '<svg class="chart"' in html and "1 done" in html  # the finished job is in the chart's bar
    partial = requests.get(ui_url(agent, "/partials/overview"), timeout=5).text
    assert partial.startswith('<div id="overview"') and 'hx-trigger="heroagent-changed, every 5s"' in partial


def test_jobs_page_filters_and_pages(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    jobs = [jm.create_job("mail", f"!!fake.return_success message:m{i}") for i in range(3)]
    bad = jm.create_job("backup", "!!fake.return_error message:'tape missing'")
    for job in [*jobs, bad]:
        jm.wait_for_job(job.job_id, timeout=15)
    html = requests.get(ui_url(agent, "/jobs"), timeout=5).text
    assert all(f'data-jobid="{j.job_id}"' in html for j in [*jobs, bad]) and "4 jobs" in html
    html = requests.get(ui_url(agent, "/jobs?status=error"), timeout=5).text
    assert f'data-jobid="{bad.job_id}"' in html and f'data-jobid="{jobs[0].job_id}"' not in html
    html = requests.get(ui_url(agent, "/jobs?text=tape"), timeout=5).text
    assert re.findall(r'data-jobid="(\d+)"', html) == [str(bad.job_id)]
    html = requests.get(ui_url(agent, "/jobs?topic=mail&limit=2"), timeout=5).text
    assert re.findall(r'data-jobid="(\d+)"', html) == [str(jobs[2].job_id), str(jobs[1].job_id)]
    older = re.search(r'id="older" href="([^"]+)"', html)
    assert older
    html = requests.get(ui_url(agent, older.group(1).replace("&amp;", "&")), timeout=5).text
    assert re.findall(r'data-jobid="(\d+)"', html) == [str(jobs[0].job_id)]
    page = requests.get(ui_url(agent, "/jobs?status=sleeping"), timeout=5)
    assert page.status_code == 400 and "status: 'sleeping' is not one of" in htmllib.unescape(page.text)


def test_job_page_shows_fields_log_and_timeline(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    job = jm.create_job("demo", "!!fake.return_success message:hello", log=True)
    jm.wait_for_job(job.job_id, timeout=15)
    html = requests.get(ui_url(agent, f"/jobs/{job.job_id}"), timeout=5).text
    assert f"Job #{job.job_id}" in html and 'id="job-status">done' in html
    assert "created: topic demo" in html  # the log
    timeline = html.split('id="timeline"')[1]
    assert [s for s in re.findall(r'status-(\w+)">', timeline)] == ["new", "active", "done"]
    assert "hx-trigger" not in html.split('id="job"')[1].split(">")[0]  # finished: no more polling
    assert 'id="retry"' in html and 'id="cancel"' not in html


def test_job_buttons_cancel_retry_delete(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    job = jm.create_job("slow", "!!fake.sleep seconds:30")
    assert wait_until(lambda: jm.get_job(job.job_id).status.value == "active")
    session = requests.Session()
    token = csrf(agent, session, f"/jobs/{job.job_id}")
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    r = session.post(ui_url(agent, f"/jobs/{job.job_id}/cancel"), headers=headers, timeout=5)
    assert r.status_code == 200 and "Cancel requested." in r.text and r.text.startswith('\n<div id="job"')
    assert wait_until(lambda: jm.store.status_of(job.job_id).value == "canceled")  # type: ignore[union-attr]
    r = session.post(ui_url(agent, f"/jobs/{job.job_id}/cancel"), headers=headers, timeout=5)
    assert r.status_code == 409 and "already canceled" in r.text
    r = session.post(ui_url(agent, f"/jobs/{job.job_id}/retry"), headers=headers, timeout=5)
    assert r.status_code == 200 and "Queued again" in r.text
    assert wait_until(lambda: jm.get_job(job.job_id).status.value == "active")
    jm.cancel_job(job.job_id)
    assert wait_until(lambda: jm.store.status_of(job.job_id).value == "canceled")  # type: ignore[union-attr]
    r = session.post(ui_url(agent, f"/jobs/{job.job_id}/delete"), headers=headers, timeout=5)
    assert r.status_code == 200 and r.headers["HX-Redirect"] == "/jobs"
    assert requests.get(ui_url(agent, f"/jobs/{job.job_id}"), timeout=5).status_code == 404


def test_unknown_job_and_page_get_a_404_page(web_agent: StartAgent) -> None:
    agent = web_agent()
    for path in ("/jobs/777777", "/no/such/page"):
        r = requests.get(ui_url(agent, path), timeout=5)
        assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
        assert "<h1>Not found</h1>" in r.text and "Traceback" not in r.text


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"topic": "bad topic", "params": "!!fake.sleep"}, "topic", "may only contain"),
        ({"topic": "t", "params": ""}, "params", "must not be empty"),
        ({"topic": "t", "params": "!!fake.sleep seconds:'1"}, "params", "line 1"),
        ({"topic": "t", "params": "!!fake.sleep", "timeout": "soon"}, "timeout", "number of seconds"),
        ({"topic": "t", "params": "!!fake.sleep", "timeout": "-3"}, "timeout", "greater than 0"),
        ({"topic": "t", "params": "!!fake.sleep", "max_retries": "x"}, "max_retries", "whole number"),
        ({"topic": "t", "params": "!!fake.sleep", "priority": "12"}, "priority", "at most 9"),
        ({"topic": "t", "params": "!!fake.sleep", "priority": "high"}, "priority", "whole number"),
        ({"topic": "t", "params": "", "script": "scripts/../../etc/passwd"}, "script", "not in the share"),
    ],
)
def test_submit_form_shows_errors_next_to_the_field(
    web_agent: StartAgent, form: dict[str, str], field: str, message: str
) -> None:
    agent = web_agent()
    session = requests.Session()
    data = {"params_type": "heroscript", "csrf_token": csrf(agent, session), **form}
    r = session.post(ui_url(agent, "/submit"), data=data, allow_redirects=False, timeout=5)
    assert r.status_code == 400
    error = re.search(rf'id="error-{field}">([^<]+)<', r.text)
    assert error and message in htmllib.unescape(error.group(1)), r.text
    assert len(agent.get_job_manager().store) == 0
    assert f'value="{form["topic"]}"' in r.text  # what the user typed is kept


def test_submit_form_shows_every_field_error_at_once(web_agent: StartAgent) -> None:
    agent = web_agent()
    session = requests.Session()
    bad = {"topic": "bad topic", "params": "!!fake.sleep seconds:'1", "timeout": "-3", "max_retries": "x"}
    data = {"csrf_token": csrf(agent, session), "params_type": "heroscript", "retry_delay": "1e400", **bad}
    r = session.post(ui_url(agent, "/submit"), data=data, allow_redirects=False, timeout=5)
    assert r.status_code == 400
    shown = dict(re.findall(r'id="error-([a-z_]+)">([^<]+)<', r.text))
    assert set(shown) >= {"topic", "params", "timeout", "max_retries", "retry_delay"}, shown
    assert "never closed" in htmllib.unescape(shown["params"])


def test_submit_form_creates_the_job(web_agent: StartAgent) -> None:
    agent = web_agent()
    session = requests.Session()
    data = {"topic": "forms", "params_type": "heroscript", "params": "!!fake.return_success message:ok"}
    data.update(timeout="7", max_retries="2", priority="7", log="on", csrf_token=csrf(agent, session))
    r = session.post(ui_url(agent, "/submit"), data=data, allow_redirects=False, timeout=5)
    assert r.status_code == 303
    job_id = int(r.headers["Location"].rsplit("/", 1)[1])
    job = agent.get_job_manager().wait_for_job(job_id, timeout=15)
    assert (job.topic, job.timeout, job.max_retries, job.log, job.status.value) == ("forms", 7.0, 2, True, "done")
    assert job.priority == 7
    assert '<td id="job-priority">7</td>' in session.get(ui_url(agent, f"/jobs/{job_id}"), timeout=5).text


def test_overview_shows_a_topics_limits(web_agent: StartAgent) -> None:
    agent = web_agent(jobs={"topics": ["nobody"]})
    jm = agent.get_job_manager()
    jm.create_job("mail", "!!fake.return_success")
    jm.set_topic_limits("mail", max_running=2, rate="100/minute")
    html = requests.get(ui_url(agent, "/"), timeout=5).text
    assert re.search(r'data-topic="mail">.*max 2 running, 100/minute</span>', html, re.S)


def test_scripts_uploaded_over_webdav_are_listed_and_run(web_agent: StartAgent) -> None:
    agent = web_agent()
    webdav = agent.addresses()["webdav"].rstrip("/")
    script = b'#!/bin/sh\necho "hello from $HEROAGENT_JOB_ID"\n'
    assert requests.put(f"{webdav}/scripts/hello.sh", data=script, timeout=5).status_code in (201, 204)
    assert requests.put(f"{webdav}/notes.txt", data=b"not a script", timeout=5).status_code in (201, 204)
    session = requests.Session()
    html = session.get(ui_url(agent, "/scripts"), timeout=5).text
    assert "scripts/hello.sh" in html and "notes.txt" in html and webdav in html
    assert html.count('class="run"') == 1  # only files in scripts/ can be run
    token = csrf(agent, session, "/scripts")
    r = session.post(
        ui_url(agent, "/scripts/run"),
        data={"path": "scripts/hello.sh", "csrf_token": token},
        allow_redirects=False,
        timeout=5,
    )
    assert r.status_code == 303
    job_id = int(r.headers["Location"].rsplit("/", 1)[1])
    job = agent.get_job_manager().wait_for_job(job_id, timeout=15)
    assert job.status.value == "done" and f"hello from {job_id}" in job.result_text
    r = session.post(ui_url(agent, "/scripts/run"), data={"path": "notes.txt", "csrf_token": token}, timeout=5)
    assert r.status_code == 400 and "not in the share" in r.text
    submit = session.get(ui_url(agent, "/submit?script=scripts/hello.sh"), timeout=5).text
    assert '<option value="scripts/hello.sh" selected>' in submit


def test_metrics_parse_as_prometheus_text(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    for i in range(3):
        jm.wait_for_job(jm.create_job("alpha", f"!!fake.return_success message:{i}").job_id, timeout=15)
    jm.wait_for_job(jm.create_job("beta", "!!fake.return_error").job_id, timeout=15)
    r = requests.get(ui_url(agent, "/metrics"), timeout=5)
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    jobs = {(s.labels["status"], s.labels["topic"]): s.value for s in families["heroagent_jobs"].samples}
    assert jobs == {("done", "alpha"): 3, ("error", "beta"): 1}
    queues = {s.labels["topic"] for s in families["heroagent_queue_length"].samples}
    assert queues == {"alpha", "beta"}
    durations = families["heroagent_job_duration_seconds"].samples
    counts = {s.labels["topic"]: s.value for s in durations if s.name.endswith("_count")}
    assert counts == {"alpha": 3, "beta": 1}
    finished = {(s.labels["topic"], s.labels["status"]): s.value for s in families["heroagent_jobs_finished"].samples}
    assert finished == {("alpha", "done"): 3, ("beta", "error"): 1}
    up = {s.labels["service"]: s.value for s in families["heroagent_service_up"].samples}
    assert up == {"redis": 1, "jobs": 1, "scheduler": 1, "webdav": 1, "ui": 1}


def test_a_redis_that_is_down_gets_friendly_answers(data_dir: Path) -> None:
    """An external Redis that stops: health is 503, pages say so, a create is refused with 503 until it is back."""
    redis_config = Config(data_dir=str(data_dir / "external"))
    redis_config.redis.tcp_port = free_port()
    external = EmbeddedRedis(redis_config)
    external.start()
    agent = None
    try:
        config = make_config(data_dir, redis={"url": external.url}, webdav={"enabled": False})
        agent = HeroAgent(config).start()
        jm = agent.get_job_manager()
        first = jm.create_job("t", "!!fake.return_success", log=True)
        jm.wait_for_job(first.job_id, timeout=15)
        external.stop()

        health = requests.get(ui_url(agent, "/api/health"), timeout=10)
        assert health.status_code == 503 and health.json()["services"]["redis"] == "down"
        overview = requests.get(ui_url(agent, "/"), timeout=10)
        assert overview.status_code == 200 and "Redis is down" in overview.text
        assert requests.get(ui_url(agent, f"/jobs/{first.job_id}"), timeout=10).status_code == 200
        queues = requests.get(ui_url(agent, "/api/queues"), timeout=10)
        assert queues.status_code == 503 and "Redis is not reachable" in queues.json()["error"]
        refused = requests.post(ui_url(agent, "/api/jobs"), json={"topic": "t", "params": "!!fake.sleep seconds:0"})
        assert refused.status_code == 503 and "Redis" in refused.json()["error"]  # nothing made, and it says so

        external.start()
        created = requests.post(ui_url(agent, "/api/jobs"), json={"topic": "t", "params": "!!fake.sleep seconds:0"})
        assert created.status_code == 201
        assert jm.wait_for_job(created.json()["job_id"], timeout=20).status.value == "done"
        # Each loop that failed while Redis was away is healthy again at its next step (after its backoff).
        assert wait_until(lambda: requests.get(ui_url(agent, "/api/health"), timeout=10).status_code == 200, 30)
    finally:
        if agent is not None:
            agent.stop()
        external.stop()


def test_schedules_page_shows_runs_and_its_buttons_work(web_agent: StartAgent) -> None:
    agent = web_agent(scheduler={"lease_seconds": 1.0})
    agent.get_schedules().add("beat", "beats", "!!fake.return_success", every=0.3)
    assert wait_until(lambda: len(agent.get_schedules().get("beat").recent_jobs) >= 2, timeout=10)
    session = requests.Session()
    page = session.get(ui_url(agent, "/schedules"), timeout=5).text
    row = re.search(r'<tr data-schedule="beat">.*?</tr>', page, re.S)
    assert row and "every 0.3s" in row.group(0) and "runtime" in row.group(0)
    first_job = agent.get_schedules().get("beat").recent_jobs[-1]
    assert f'href="/jobs/{first_job}"' in page or f"#{first_job}" in row.group(0)
    assert 'data-schedule="upkeep.sweep"' in page  # the appliance's own upkeep is listed too
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf(agent, session, "/schedules")}
    r = session.post(ui_url(agent, "/schedules/beat/pause"), headers=headers, timeout=5)
    assert r.status_code == 200 and "Paused beat." in r.text and r.text.startswith('<div id="schedules"')
    assert agent.get_schedules().get("beat").paused
    r = session.post(ui_url(agent, "/schedules/upkeep.sweep/remove"), headers=headers, timeout=5)
    assert r.status_code == 400 and "pause it instead" in r.text
    r = session.post(ui_url(agent, "/schedules/beat/remove"), headers=headers, timeout=5)
    assert r.status_code == 200 and 'data-schedule="beat"' not in r.text


def test_dead_jobs_are_retried_in_bulk_from_the_jobs_page(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    jobs = jm.create_jobs([{"topic": "bulk", "params": "!!fake.return_error"} for _ in range(3)])
    for job in jobs:
        jm.wait_for_job(job.job_id, timeout=10)
    session = requests.Session()
    page = session.get(ui_url(agent, "/jobs?status=error&topic=bulk"), timeout=5).text
    assert "3 dead jobs" in page and 'id="retry-dead"' in page
    token = csrf(agent, session, "/jobs?status=error")
    r = session.post(
        ui_url(agent, "/jobs/dead/retry"), data={"csrf_token": token, "topic": "bulk"}, timeout=5, allow_redirects=False
    )
    assert r.status_code == 303 and r.headers["Location"] == "/jobs?status=error&topic=bulk"  # the list it was on
    assert wait_until(
        lambda: all(
            present(jm.store.status_of(j.job_id)).value == "error" and jm.get_job(j.job_id).retries == 1 for j in jobs
        ),
        timeout=15,
    )


def test_schedules_page_flags_a_schedule_whose_jobs_fail(web_agent: StartAgent) -> None:
    """Issue 12, item 10: the page showed no failure when a schedule's jobs failed (last_error only
    covered making the job)."""
    agent = web_agent(scheduler={"lease_seconds": 1.0})
    agent.get_schedules().add("broken", "beats", "!!fake.return_error message:nope", every=0.3)
    agent.get_schedules().add("fine", "beats", "!!fake.return_success", every=0.3)
    jm = agent.get_job_manager()

    def finished(name: str) -> list[int]:
        ids = agent.get_schedules().get(name).recent_jobs
        return [i for i in ids if (s := jm.store.status_of(i)) is not None and s.terminal]

    assert wait_until(lambda: finished("broken") and finished("fine"), timeout=15)
    page = requests.get(ui_url(agent, "/schedules"), timeout=5).text
    broken = re.search(r'<tr data-schedule="broken">.*?</tr>', page, re.S)
    fine = re.search(r'<tr data-schedule="fine">.*?</tr>', page, re.S)
    assert broken and 'class="tag failing"' in broken.group(0) and "✗" in broken.group(0)
    assert fine and "failing" not in fine.group(0) and "✓" in fine.group(0)


def test_the_pages_have_a_favicon(web_agent: StartAgent) -> None:
    agent = web_agent()
    page = requests.get(ui_url(agent, "/"), timeout=5).text
    href = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert href is not None
    icon = requests.get(ui_url(agent, href.group(1)), timeout=5)
    assert icon.status_code == 200 and icon.text.startswith("<svg")


def test_the_submit_form_has_an_input_for_every_field_of_a_new_job(web_agent: StartAgent) -> None:
    """The form is generated from schema/job.py NEW_JOB (issue 26, item 6): a field added there is here."""
    agent = web_agent()
    html = requests.get(ui_url(agent, "/submit"), timeout=5).text
    missing = [f.name for f in NEW_JOB.fields if f.name != "origin" and f'name="{f.name}"' not in html]
    assert not missing, missing


def test_the_submit_form_makes_a_json_job_naming_its_action(web_agent: StartAgent) -> None:
    agent = web_agent()
    session = requests.Session()
    data = {"topic": "forms", "params_type": "json", "params": '{"message": "from a form"}'}
    data.update(action="fake.return_success", csrf_token=csrf(agent, session))
    r = session.post(ui_url(agent, "/submit"), data=data, allow_redirects=False, timeout=5)
    assert r.status_code == 303, r.text
    job = agent.get_job_manager().wait_for_job(int(r.headers["Location"].rsplit("/", 1)[1]), timeout=15)
    assert (job.status.value, job.action, job.result) == ("done", "fake.return_success", "from a form")
    data.update(params='{"message": 5}')
    r = session.post(ui_url(agent, "/submit"), data=data, allow_redirects=False, timeout=5)
    error = re.search(r'id="error-params">([^<]+)<', r.text)
    assert r.status_code == 400 and error and "message: expected a text, got 5" in htmllib.unescape(error.group(1))


def test_jobs_list_shows_a_short_result_and_error_per_row(web_agent: StartAgent) -> None:
    """Issue 30, item 3: the list's Result and Error columns, one line each."""
    agent = web_agent()
    jm = agent.get_job_manager()
    ok = jm.create_job("cells", "!!fake.return_success message:'all fine'")
    bad = jm.create_job("cells", "!!fake.return_error message:'tape      missing'")
    for job in (ok, bad):
        jm.wait_for_job(job.job_id, timeout=15)
    page = requests.get(ui_url(agent, "/jobs?topic=cells"), timeout=5).text
    assert "<th>Result</th><th>Error</th>" in page

    def cell(job_id: int, kind: str) -> str:
        row = page[page.index(f'data-jobid="{job_id}"') :]
        found = re.search(rf'<td class="{kind}"[^>]*>([^<]*)</td>', row)
        assert found
        return htmllib.unescape(found.group(1))

    assert "all fine" in cell(ok.job_id, "result") and cell(ok.job_id, "error") == ""
    assert "tape missing" in cell(bad.job_id, "error")  # its run of spaces folded
