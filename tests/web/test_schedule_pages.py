"""Issue 30, item 4: the Schedules pages add, edit and run schedules now, and show each one's last runs; the form
is generated from schema/schedule.py SCHEDULE, a bad edit shows its field's problem, config schedules are
read-only. Through Flask's test client on a running agent (its scheduler, job system and history are real)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from heroagent.schema.schedule import SCHEDULE
from tests.conftest import make_config, wait_until
from tests.web.webclient import csrf, field_error, make_client, text

NIGHTLY = {"name": "nightly", "topic": "reports", "params": "!!fake.return_success message:night", "cron": "0 3 * * *"}


@pytest.fixture
def running(data_dir: Path) -> Iterator[HeroAgent]:
    """An agent with one schedule in its config file (no HTTP servers: the test client is the browser)."""
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"lease_seconds": 2.0})
    config.schedules = [dict(NIGHTLY, name="from-config")]
    with HeroAgent(config) as agent:
        yield agent


@pytest.fixture
def client(running: HeroAgent) -> FlaskClient:
    return make_client(running)


def post(client: FlaskClient, path: str, form: dict[str, str]) -> Any:
    return client.post(path, data={"csrf_token": csrf(client, "/schedules"), **form})


def test_the_add_form_has_every_field_of_a_schedule(client: FlaskClient) -> None:
    page = client.get("/schedules/new")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for name in SCHEDULE.names():  # generated from the schema: a field added there is in the form
        assert f'id="{name}" name="{name}"' in body, name
    assert '<select id="misfire"' in body and '<textarea id="params"' in body
    assert 'type="checkbox" id="enabled" name="enabled" checked' in body


def test_add_then_see_it_with_its_buttons(client: FlaskClient, running: HeroAgent) -> None:
    form = {**NIGHTLY, "timeout": "30", "priority": "5", "enabled": "on"}
    answer = post(client, "/schedules/new", form)
    assert answer.status_code == 303 and answer.headers["Location"] == "/schedules/nightly"
    schedule = running.get_schedules().get("nightly").schedule
    assert (schedule.topic, schedule.cron, schedule.timeout, schedule.priority) == ("reports", "0 3 * * *", 30.0, 5)
    assert schedule.max_retries == -1 and schedule.source == "runtime"  # left empty: the job's default
    page = client.get("/schedules/nightly").get_data(as_text=True)
    assert "Added nightly." in page and 'id="edit"' in page and 'id="run-now"' in page
    assert 'id="read-only"' not in page
    listing = client.get("/schedules").get_data(as_text=True)
    assert 'href="/schedules/nightly"' in listing and 'aria-label="Run schedule nightly now"' in listing


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"cron": "61 * * * *"}, "cron", "higher than the maximum"),
        ({"cron": "* * * *"}, "cron", "Wrong number of fields"),
        ({"cron": "0 0 31 2 *"}, "cron", "never fires"),
        ({"every": "often"}, "every", "'often' must be a number of seconds"),
        ({"every": "-5", "cron": ""}, "every", "must be at least 0"),
        ({"priority": "12"}, "priority", "must be at most 9"),
        ({"max_retries": "1.5"}, "max_retries", "must be a whole number"),
        ({"params": "!!fake.return_success message:'open"}, "params", "line 1"),
        ({"params": ""}, "params", "must not be empty"),
        ({"topic": "bad topic"}, "topic", "may only contain"),
        ({"action": "Not An Action"}, "action", "'Not An Action'"),
        ({"misfire": "later"}, "misfire", "is not one of run_once, skip"),
        ({"name": "a/b"}, "name", "must be 1-64 letters"),
        ({"name": "from-config"}, "name", "in the config file"),
    ],
)
def test_a_bad_schedule_shows_its_fields_problem(
    client: FlaskClient, running: HeroAgent, change: dict[str, str], field: str, message: str
) -> None:
    answer = post(client, "/schedules/new", {**NIGHTLY, **change})
    body = answer.get_data()
    assert answer.status_code == 400 and "Traceback" not in text(body)
    assert message in field_error(body, field), text(body)[:2000]
    assert "nightly" not in {i.schedule.name for i in running.get_schedules().list()}
    for name, value in change.items():  # what was typed is shown back
        if name not in ("misfire", "params") and value:
            assert f'value="{value}"' in body.decode().replace("&#39;", "'"), name


def test_both_or_neither_trigger_is_the_forms_problem(client: FlaskClient) -> None:
    answer = post(client, "/schedules/new", {**NIGHTLY, "every": "60"})
    assert answer.status_code == 400 and "give either cron" in field_error(answer.get_data(), "form")


def test_edit_keeps_the_name_state_and_runs_and_shows_a_bad_edits_problem(
    client: FlaskClient, running: HeroAgent
) -> None:
    schedules = running.get_schedules()
    schedules.add_from({**NIGHTLY, "enabled": False})
    job_id = schedules.run_now("nightly")
    page = client.get("/schedules/nightly/edit").get_data(as_text=True)
    assert 'value="0 3 * * *"' in page and 'id="name"' not in page and 'id="enabled"' not in page
    assert 'id="timeout" name="timeout" value=""' in page  # 0 = the default: an empty field
    bad = post(client, "/schedules/nightly/edit", {**NIGHTLY, "cron": "0 25 * * *"})
    assert bad.status_code == 400 and "higher than the maximum" in field_error(bad.get_data(), "cron")
    assert schedules.get("nightly").schedule.cron == "0 3 * * *"  # nothing changed
    good = post(client, "/schedules/nightly/edit", {**NIGHTLY, "cron": "", "every": "3600", "max_retries": "2"})
    assert good.status_code == 303 and good.headers["Location"] == "/schedules/nightly"
    info = schedules.get("nightly")
    assert (info.schedule.every, info.schedule.cron, info.schedule.max_retries) == (3600.0, "", 2)
    assert info.paused and not info.schedule.enabled  # its paused state stays
    assert info.recent_jobs == [job_id] and info.state.runs == 1  # and its runs
    assert "Saved nightly." in client.get("/schedules/nightly").get_data(as_text=True)


def test_a_config_schedule_is_read_only_here(client: FlaskClient, running: HeroAgent) -> None:
    page = client.get("/schedules/from-config").get_data(as_text=True)
    assert 'id="read-only"' in page and "config file" in page and 'id="edit"' not in page
    assert 'id="run-now"' in page
    refused = client.get("/schedules/from-config/edit")
    assert refused.status_code == 400 and "read-only here" in text(refused.get_data())
    forged = post(client, "/schedules/from-config/edit", {**NIGHTLY, "cron": "0 4 * * *"})
    assert forged.status_code == 400
    assert running.get_schedules().get("from-config").schedule.cron == "0 3 * * *"
    upkeep = client.get("/schedules/upkeep.sweep").get_data(as_text=True)
    assert 'id="read-only"' in upkeep and 'id="run-now"' not in upkeep
    assert post(client, "/schedules/upkeep.sweep/run", {}).status_code == 400


def test_run_now_makes_the_job_counted_among_its_runs(client: FlaskClient, running: HeroAgent) -> None:
    schedules = running.get_schedules()
    schedules.add_from(NIGHTLY)
    before = schedules.get("nightly")
    answer = post(client, "/schedules/nightly/run", {})
    assert answer.status_code == 303 and answer.headers["Location"] == "/schedules/nightly"
    after = schedules.get("nightly")
    assert len(after.recent_jobs) == 1 and after.state.runs == before.state.runs + 1
    assert after.state.last_run == before.state.last_run and after.next_run == before.next_run  # the grid stays
    job_id = after.recent_jobs[0]
    jm = running.get_job_manager()
    job = jm.wait_for_job(job_id, timeout=15)
    assert (job.topic, job.status, job.params) == ("reports", JobStatus.DONE, NIGHTLY["params"])
    assert wait_until(lambda: jm.store.status_of(job_id) is JobStatus.DONE, timeout=10)
    page = client.get("/schedules/nightly").get_data(as_text=True)
    assert f"Ran nightly now: job #{job_id}." in page
    assert f'<a href="/jobs/{job_id}">#{job_id}</a>' in page and "status-done" in page
    jm.delete_job(job_id)
    assert "status-deleted" in client.get("/schedules/nightly").get_data(as_text=True)
    partial = client.post(
        "/schedules/from-config/run", headers={"HX-Request": "true", "X-CSRF-Token": csrf(client, "/schedules")}
    )
    assert partial.status_code == 200 and "Ran from-config now: job #" in partial.get_data(as_text=True)


def test_forms_without_the_csrf_token_are_refused(client: FlaskClient, running: HeroAgent) -> None:
    running.get_schedules().add_from(NIGHTLY)
    for path in ("/schedules/new", "/schedules/nightly/edit", "/schedules/nightly/run", "/schedules/nightly/pause"):
        answer = client.post(path, data={**NIGHTLY, "name": "forged", "every": "1"})
        assert answer.status_code == 403, path
    info = running.get_schedules().get("nightly")
    assert not info.recent_jobs and not info.paused and info.schedule.cron == "0 3 * * *"


def test_unknown_schedule_pages_are_404(client: FlaskClient) -> None:
    for path in ("/schedules/nope", "/schedules/nope/edit"):
        assert client.get(path).status_code == 404
    assert post(client, "/schedules/nope/run", {}).status_code == 404
    assert post(client, "/schedules/nope/edit", NIGHTLY).status_code == 404


def test_the_api_replaces_and_runs_a_schedule(client: FlaskClient, running: HeroAgent) -> None:
    running.get_schedules().add_from(NIGHTLY)
    changed = client.put(
        "/api/schedules/nightly", json={"topic": "other", "params": "!!fake.return_success", "every": 60}
    )
    assert changed.status_code == 200 and changed.json["every"] == 60 and changed.json["topic"] == "other"  # type: ignore[index]
    renamed = client.put("/api/schedules/nightly", json={**NIGHTLY, "name": "other"})
    assert renamed.status_code == 400 and "name: cannot be changed" in renamed.json["error"]  # type: ignore[index]
    assert client.put("/api/schedules/from-config", json=NIGHTLY).status_code == 400
    assert client.put("/api/schedules/nope", json=NIGHTLY).status_code == 404
    ran = client.post("/api/schedules/nightly/run")
    assert ran.status_code == 201 and ran.json["schedule"]["recent_jobs"] == [ran.json["job_id"]]  # type: ignore[index]
    assert ran.headers["Location"] == f"/api/jobs/{ran.json['job_id']}"  # type: ignore[index]
