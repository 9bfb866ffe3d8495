"""The JSON API over real HTTP (cheroot on 127.0.0.1), against the real embedded Redis and OurDB."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
import requests
from openapi_spec_validator import validate

from heroagent import HeroAgent
from heroagent.web import create_app
from heroagent.web.openapi import openapi_document
from tests.conftest import ui_url, wait_until

StartAgent = Callable[..., HeroAgent]


@pytest.fixture
def api(web_agent: StartAgent) -> tuple[HeroAgent, Callable[[str], str]]:
    agent = web_agent()
    return agent, lambda path: ui_url(agent, path)


def wait_status(url: Callable[[str], str], job_id: int, *statuses: str, timeout: float = 15) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def check() -> bool:
        seen.update(requests.get(url(f"/api/jobs/{job_id}"), timeout=5).json())
        return seen.get("status") in statuses

    assert wait_until(check, timeout=timeout), f"job {job_id} is {seen.get('status')}, not {statuses}"
    return seen


def test_create_read_history_and_log(api: tuple[HeroAgent, Callable[[str], str]]) -> None:
    agent, url = api
    body: dict[str, str | bool | int] = {
        "topic": "demo",
        "params": "!!fake.return_success message:'hi there'",
        "log": True,
        "timeout": 5,
    }
    r = requests.post(url("/api/jobs"), json=body, timeout=5)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["topic"] == "demo" and job["status"] == "new" and job["timeout"] == 5
    assert r.headers["Location"] == f"/api/jobs/{job['job_id']}"
    done = wait_status(url, job["job_id"], "done")
    assert done["result"] == ["hi there"] and done["attempts"] == 1
    assert wait_until(lambda: agent.get_job_manager().store.status_of(job["job_id"]).value == "done")  # type: ignore[union-attr]
    history = requests.get(url(f"/api/jobs/{job['job_id']}/history"), timeout=5).json()["history"]
    assert [v["status"] for v in history] == ["new", "active", "done"]
    log = requests.get(url(f"/api/jobs/{job['job_id']}/log"), timeout=5).json()
    assert "created: topic demo" in log["log"] and log["next_offset"] == len(log["log"].encode())
    rest = requests.get(url(f"/api/jobs/{job['job_id']}/log?offset={log['next_offset']}"), timeout=5).json()
    assert rest["log"] == "" and rest["next_offset"] == log["next_offset"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("not json", "body"),
        ([1, 2], "body"),
        ({"params": "!!fake.sleep"}, "topic"),
        ({"topic": "bad topic!", "params": "x"}, "topic"),
        ({"topic": "t", "params": "!!fake.sleep", "params_type": "cobol"}, "params_type"),
        ({"topic": "t", "params": "!!fake.sleep", "timeout": "soon"}, "timeout"),
        ({"topic": "t", "params": "!!fake.sleep", "timeout": -1}, "timeout"),
        ({"topic": "t", "params": "!!fake.sleep", "log": "yes"}, "log"),
        ({"topic": "t", "params": "!!fake.sleep", "max_retries": 1.5}, "max_retries"),
        ({"topic": "t", "params": "!!fake.sleep", "priority": 10}, "priority"),
        ({"topic": "t", "params": "!!fake.sleep", "no_overlap_key": "a b"}, "no_overlap_key"),
        ({"topic": "t", "params": "!!fake.sleep", "overlap_delay": -1}, "overlap_delay"),
        ({"topic": "t", "params": 42}, "params"),
        ({"topic": "t", "params": "!!fake.sleep seconds:'2"}, "params"),
    ],
)
def test_bad_new_jobs_are_400_naming_the_field(
    api: tuple[HeroAgent, Callable[[str], str]], body: Any, field: str
) -> None:
    agent, url = api
    before = len(agent.get_job_manager().store)
    if isinstance(body, str):
        r = requests.post(url("/api/jobs"), data=body, headers={"Content-Type": "application/json"}, timeout=5)
    else:
        r = requests.post(url("/api/jobs"), json=body, timeout=5)
    assert r.status_code == 400
    assert r.json()["error"].startswith(f"{field}: ") or r.json()["error"].startswith(f"{field},"), r.json()
    assert len(agent.get_job_manager().store) == before  # nothing half-created


def test_heroscript_syntax_error_names_the_line(api: tuple[HeroAgent, Callable[[str], str]]) -> None:
    _, url = api
    r = requests.post(url("/api/jobs"), json={"topic": "t", "params": "!!fake.sleep\n  seconds:'2"}, timeout=5)
    assert r.status_code == 400 and "line 2" in r.json()["error"]


def test_list_filters_and_paging(api: tuple[HeroAgent, Callable[[str], str]]) -> None:
    agent, url = api
    jm = agent.get_job_manager()
    ok = [jm.create_job("alpha", f"!!fake.return_success message:ok{i}") for i in range(5)]
    bad = jm.create_job("beta", "!!fake.return_error message:'disk full'")
    for job in [*ok, bad]:
        jm.wait_for_job(job.job_id, timeout=15)
    everything = requests.get(url("/api/jobs"), timeout=5).json()
    assert [j["job_id"] for j in everything["jobs"]] == sorted([j.job_id for j in [*ok, bad]], reverse=True)
    assert everything["next_before"] is None
    errors = requests.get(url("/api/jobs?status=error"), timeout=5).json()["jobs"]
    assert [j["job_id"] for j in errors] == [bad.job_id] and errors[0]["error"] == "disk full"
    assert {j["topic"] for j in requests.get(url("/api/jobs?topic=alpha"), timeout=5).json()["jobs"]} == {"alpha"}
    found = requests.get(url("/api/jobs?text=ok3"), timeout=5).json()["jobs"]
    assert [j["job_id"] for j in found] == [ok[3].job_id]
    assert requests.get(url("/api/jobs?text=DISK"), timeout=5).json()["jobs"][0]["job_id"] == bad.job_id

    pages: list[int] = []
    before = None
    while True:
        query = "/api/jobs?topic=alpha&limit=2" + (f"&before={before}" if before else "")
        page = requests.get(url(query), timeout=5).json()
        pages.extend(j["job_id"] for j in page["jobs"])
        before = page["next_before"]
        if before is None:
            break
    assert pages == sorted((j.job_id for j in ok), reverse=True)


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=sleeping", "status"), ("limit=0", "limit"), ("limit=many", "limit"), ("before=x", "before")],
)
def test_bad_list_queries_are_400(api: tuple[HeroAgent, Callable[[str], str]], query: str, field: str) -> None:
    _, url = api
    r = requests.get(url(f"/api/jobs?{query}"), timeout=5)
    assert r.status_code == 400 and r.json()["error"].startswith(f"{field}: ")


def test_unknown_jobs_and_routes_are_json_404(api: tuple[HeroAgent, Callable[[str], str]]) -> None:
    _, url = api
    for method, path in [
        ("GET", "/api/jobs/424242"),
        ("GET", "/api/jobs/424242/history"),
        ("GET", "/api/jobs/424242/log"),
        ("POST", "/api/jobs/424242/cancel"),
        ("POST", "/api/jobs/424242/retry"),
        ("DELETE", "/api/jobs/424242"),
        ("GET", "/api/nothing-here"),
    ]:
        r = requests.request(method, url(path), timeout=5)
        assert r.status_code == 404, (method, path)
        assert r.headers["Content-Type"].startswith("application/json") and r.json()["error"]
    r = requests.put(url("/api/jobs"), timeout=5)
    assert r.status_code == 405 and "PUT" in r.json()["error"]


def test_cancel_retry_delete_and_conflicts(api: tuple[HeroAgent, Callable[[str], str]]) -> None:
    agent, url = api
    job = requests.post(url("/api/jobs"), json={"topic": "slow", "params": "!!fake.sleep seconds:30"}, timeout=5).json()
    wait_status(url, job["job_id"], "active")
    r = requests.delete(url(f"/api/jobs/{job['job_id']}"), timeout=5)
    assert r.status_code == 409 and "cancel it first" in r.json()["error"]
    r = requests.post(url(f"/api/jobs/{job['job_id']}/retry"), timeout=5)
    assert r.status_code == 409 and "only finished jobs" in r.json()["error"]
    assert requests.post(url(f"/api/jobs/{job['job_id']}/cancel"), timeout=5).status_code == 200
    wait_status(url, job["job_id"], "canceled")
    r = requests.post(url(f"/api/jobs/{job['job_id']}/cancel"), timeout=5)
    assert r.status_code == 409 and "already canceled" in r.json()["error"]

    r = requests.post(url(f"/api/jobs/{job['job_id']}/retry"), timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "new" and r.json()["retries"] == 1
    wait_status(url, job["job_id"], "active")
    requests.post(url(f"/api/jobs/{job['job_id']}/cancel"), timeout=5)
    wait_status(url, job["job_id"], "canceled")
    assert wait_until(lambda: agent.get_job_manager().store.status_of(job["job_id"]).value == "canceled")  # type: ignore[union-attr]
    assert requests.delete(url(f"/api/jobs/{job['job_id']}"), timeout=5).status_code == 204
    assert requests.get(url(f"/api/jobs/{job['job_id']}"), timeout=5).status_code == 404


def test_queues_workers_and_health(api: tuple[HeroAgent, Callable[[str], str]]) -> None:
    _, url = api
    requests.post(url("/api/jobs"), json={"topic": "qtopic", "params": "!!fake.sleep seconds:0.1"}, timeout=5)
    queues = requests.get(url("/api/queues"), timeout=5).json()["queues"]
    assert any(
        q["topic"] == "qtopic"
        and set(q)
        == {"topic", "queued", "inflight", "scheduled", "paused", "draining", "max_running", "rate"}
        | {"oldest_wait", "finished", "failed", "paused_why"}
        for q in queues
    )
    assert wait_until(lambda: requests.get(url("/api/workers"), timeout=5).json()["workers"])
    workers = requests.get(url("/api/workers"), timeout=5).json()["workers"]
    local = [w for w in workers if w["local"]]
    assert len(local) == 1 and local[0]["concurrency"] >= 3 and isinstance(local[0]["running"], list)
    health = requests.get(url("/api/health"), timeout=5)
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "services": {
            "redis": "running",
            "jobs": "running",
            "scheduler": "running",
            "webdav": "running",
            "ui": "running",
        },
        "problems": [],
        "notices": [],
    }


def _schema_for(doc: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any] | None:
    response = doc["paths"][path][method]["responses"][str(status)]
    content = response.get("content", {}).get("application/json", {})
    schema = content.get("schema")
    if schema is None:
        return None
    return {**schema, "components": doc["components"]}


def test_openapi_document_is_valid_and_matches_the_routes(api: tuple[HeroAgent, Callable[[str], str]]) -> None:
    agent, url = api
    served = requests.get(url("/api/openapi.json"), timeout=5).json()
    assert served == openapi_document(agent.get_job_manager().types.get().types)  # with the live job types
    validate(served)  # a valid OpenAPI 3.1 document

    app = create_app(agent)
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routes |= {(path, m.lower()) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    documented = {(path, method) for path, ops in served["paths"].items() for method in ops}
    assert routes == documented


def test_responses_match_the_openapi_schemas(api: tuple[HeroAgent, Callable[[str], str]]) -> None:
    agent, url = api
    doc = openapi_document()

    def check(path: str, method: str, response: requests.Response) -> None:
        schema = _schema_for(doc, path, method, response.status_code)
        assert schema is not None, f"{method} {path} answered {response.status_code}, which is not documented"
        jsonschema.validate(response.json(), schema)

    created = requests.post(url("/api/jobs"), json={"topic": "s", "params": "!!fake.return_success"}, timeout=5)
    check("/api/jobs", "post", created)
    job_id = created.json()["job_id"]
    wait_status(url, job_id, "done")
    check("/api/jobs", "get", requests.get(url("/api/jobs"), timeout=5))
    check("/api/jobs", "post", requests.post(url("/api/jobs"), json={"topic": ""}, timeout=5))
    check("/api/jobs/{job_id}", "get", requests.get(url(f"/api/jobs/{job_id}"), timeout=5))
    check("/api/jobs/{job_id}", "get", requests.get(url("/api/jobs/999999"), timeout=5))
    check("/api/jobs/{job_id}/history", "get", requests.get(url(f"/api/jobs/{job_id}/history"), timeout=5))
    check("/api/jobs/{job_id}/log", "get", requests.get(url(f"/api/jobs/{job_id}/log"), timeout=5))
    check("/api/jobs/{job_id}/cancel", "post", requests.post(url(f"/api/jobs/{job_id}/cancel"), timeout=5))
    check("/api/queues", "get", requests.get(url("/api/queues"), timeout=5))
    check("/api/workers", "get", requests.get(url("/api/workers"), timeout=5))
    check("/api/health", "get", requests.get(url("/api/health"), timeout=5))
    assert wait_until(lambda: agent.get_job_manager().store.status_of(job_id).value == "done")  # type: ignore[union-attr]
    check("/api/jobs/{job_id}/retry", "post", requests.post(url(f"/api/jobs/{job_id}/retry"), timeout=5))


def test_delayed_job_through_the_api_shows_as_scheduled(api: tuple[HeroAgent, Callable[[str], str]]) -> None:
    _, url = api
    r = requests.post(url("/api/jobs"), json={"topic": "later", "params": "!!fake.return_success", "delay": 60})
    assert r.status_code == 201
    job = r.json()
    assert job["status"] == "new" and job["time_scheduled"] > job["time_created"] + 59
    assert requests.get(url("/api/queues"), timeout=5).json()["queues"][0]["scheduled"] == 1
    page = requests.get(url("/jobs"), timeout=5).text
    assert re.search(r'class="tag scheduled"[^>]*>scheduled in (59|60) s<', page)
    r = requests.post(url("/api/jobs"), json={"topic": "t", "params": "!!fake.sleep", "run_at": "tomorrow"})
    assert r.status_code == 400 and r.json()["error"].startswith("run_at: ")
    at = requests.post(
        url("/api/jobs"), json={"topic": "t", "params": "!!fake.sleep", "run_at": "2099-01-01T00:00:00Z"}
    )
    assert at.status_code == 201 and at.json()["time_scheduled"] == 4070908800.0
    assert requests.post(url(f"/api/jobs/{job['job_id']}/cancel"), timeout=5).json()["status"] == "canceled"


def test_schedules_and_dead_jobs_through_the_api(api: tuple[HeroAgent, Callable[[str], str]]) -> None:
    agent, url = api
    doc = openapi_document()

    def check(path: str, method: str, response: requests.Response, status: int) -> Any:
        assert response.status_code == status, response.text
        schema = _schema_for(doc, path, method, status)
        if schema is not None:
            jsonschema.validate(response.json(), schema)
        return response.json() if response.content else None

    new: dict[str, str | float] = {"name": "beat", "topic": "beats", "params": "!!fake.return_success", "every": 0.3}
    made = check("/api/schedules", "post", requests.post(url("/api/schedules"), json=new, timeout=5), 201)
    assert made["name"] == "beat" and made["source"] == "runtime" and made["next_run"]
    bad = requests.post(url("/api/schedules"), json={**new, "name": "bad", "every": 0, "cron": "x"}, timeout=5)
    assert check("/api/schedules", "post", bad, 400)["error"].startswith("schedule 'bad': cron = 'x'")
    assert wait_until(
        lambda: len(requests.get(url("/api/schedules/beat"), timeout=5).json()["recent_jobs"]) >= 2, timeout=10
    )
    listing = check("/api/schedules", "get", requests.get(url("/api/schedules"), timeout=5), 200)
    assert {"beat", "upkeep.sweep"} <= {s["name"] for s in listing["schedules"]} and listing["leader"]
    paused = requests.post(url("/api/schedules/beat/pause"), timeout=5)
    assert check("/api/schedules/{name}/pause", "post", paused, 200)["paused"] is True
    resumed = requests.post(url("/api/schedules/beat/resume"), timeout=5)
    assert check("/api/schedules/{name}/resume", "post", resumed, 200)["next_run"] is not None
    gone = requests.delete(url("/api/schedules/beat"), timeout=5)
    check("/api/schedules/{name}", "delete", gone, 204)
    check("/api/schedules/{name}", "get", requests.get(url("/api/schedules/beat"), timeout=5), 404)
    upkeep = requests.delete(url("/api/schedules/upkeep.sweep"), timeout=5)
    assert "pause it instead" in check("/api/schedules/{name}", "delete", upkeep, 400)["error"]

    jm = agent.get_job_manager()
    failed = jm.create_jobs([{"topic": "dead", "params": "!!fake.return_error"} for _ in range(3)])
    for job in failed:
        jm.wait_for_job(job.job_id, timeout=10)
    dead = check("/api/jobs/dead", "get", requests.get(url("/api/jobs/dead?topic=dead"), timeout=5), 200)
    assert dead["total"] == 3 and [j["job_id"] for j in dead["jobs"]] == [j.job_id for j in reversed(failed)]
    retry = requests.post(url("/api/jobs/dead/retry"), json={"topic": "dead"}, timeout=5)
    assert check("/api/jobs/dead/retry", "post", retry, 200)["count"] == 3
    bad_retry = requests.post(url("/api/jobs/dead/retry"), json={"topic": 5}, timeout=5)
    check("/api/jobs/dead/retry", "post", bad_retry, 400)


def test_a_waiting_job_has_an_eta_and_a_running_one_names_the_worker_holding_it(web_agent: StartAgent) -> None:
    """Issue 26, item 5: `locked_by` while it runs; `eta` for a job that waits (an estimate, so only its
    order is asserted: later in the queue, later expected; a delayed job at its time)."""
    agent = web_agent(jobs={"worker_count": 1, "topics": ["eta"]})
    jm = agent.get_job_manager()
    warm = jm.create_job("eta", "!!fake.sleep seconds:0.2")
    assert jm.wait_for_job(warm.job_id, timeout=15).status.value == "done"  # the topic's first run time
    running = jm.create_job("eta", "!!fake.sleep seconds:3")
    second, third = (jm.create_job("eta", "!!fake.sleep seconds:0.1") for _ in range(2))
    delayed = jm.create_job("eta", "!!fake.sleep seconds:0.1", delay=3600)
    assert wait_until(lambda: jm.get_job(running.job_id).status.value == "active")

    def read(job_id: int) -> dict[str, Any]:
        answer = requests.get(ui_url(agent, f"/api/jobs/{job_id}"), timeout=5)
        assert answer.status_code == 200
        body: dict[str, Any] = answer.json()
        return body

    now = read(running.job_id)
    assert now["locked_by"] == now["worker"] != "" and now["eta"] is None
    etas = [read(second.job_id)["eta"], read(third.job_id)["eta"]]
    assert all(isinstance(e, float) for e in etas) and etas[0] < etas[1], etas
    assert read(delayed.job_id)["eta"] == jm.get_job(delayed.job_id).time_scheduled
    assert read(warm.job_id)["locked_by"] == "" and read(warm.job_id)["eta"] is None
    page = requests.get(ui_url(agent, f"/jobs/{third.job_id}"), timeout=5).text
    assert 'id="job-eta"' in page and "an estimate" in page
    jm.cancel_job(running.job_id)


def test_bulk_retries_by_ids_and_deletes_by_filter_in_batches(api: tuple[HeroAgent, Callable[[str], str]]) -> None:
    """Issue 30, item 2: POST /api/jobs/bulk with ids, or a filter paged by next_before."""
    agent, url = api
    jm = agent.get_job_manager()
    ids = [jm.create_job("bulky", "!!fake.return_error").job_id for _ in range(3)]
    for job_id in ids:
        wait_status(url, job_id, "error")
    assert wait_until(lambda: agent.get_job_manager().store.count("error", "bulky") == 3)
    r = requests.post(url("/api/jobs/bulk"), json={"action": "retry", "ids": [*ids, 10**12]}, timeout=30)
    assert r.status_code == 200
    assert r.json() == {
        "action": "retry",
        "done": 3,
        "skipped": 1,
        "skipped_ids": [10**12],
        "left": [],
        "next_before": None,
    }
    for job_id in ids:
        wait_status(url, job_id, "error")
    assert wait_until(lambda: jm.store.count("error", "bulky") == 3)
    body: dict[str, Any] = {"action": "delete", "filter": {"topic": "bulky", "status": "error,timeout", "limit": 2}}
    first = requests.post(url("/api/jobs/bulk"), json=body, timeout=30).json()
    assert (first["done"], first["next_before"]) == (2, ids[1])
    body["filter"]["before"] = first["next_before"]
    second = requests.post(url("/api/jobs/bulk"), json=body, timeout=30).json()
    assert (second["done"], second["next_before"]) == (1, None)
    assert all(requests.get(url(f"/api/jobs/{i}"), timeout=5).status_code == 404 for i in ids)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("[1, 2]", "body: must be a JSON object"),
        ('{"action": "retry"}', 'give either "ids"'),
        ('{"action": "retry", "ids": [1], "filter": {}}', 'give either "ids"'),
        ('{"action": "retry", "ids": null}', "ids: must be a list"),
        ('{"action": "retry", "ids": [1, "2"]}', "'2' is not a job id"),
        ('{"action": "retry", "ids": [1.0]}', "'1.0' is not a job id"),
        ('{"action": "retry", "ids": [-5]}', "'-5' is not a job id"),
        ('{"action": "retry", "ids": [99999999999999999999999]}', "is not a job id"),
        ('{"action": "retry", "ids": [' + ",".join(["1"] * 10_000) + "]}", "10000 given; at most 500"),
        ('{"action": "explode", "ids": [1]}', "action: 'explode' must be one of"),
        ('{"ids": [1]}', "action: 'None' must be one of"),
        ('{"action": "delete", "filter": "everything"}', "filter: must be an object"),
        ('{"action": "delete", "filter": null}', "filter: must be an object"),
        ('{"action": "delete", "filter": {"limit": "x"}}', "limit"),
        ('{"action": "delete", "filter": {"before": 1.5}}', "before"),
        ('{"action": "delete", "filter": {"nope": 1}}', "nope: unknown field"),
        ('{"action": "delete", "ids": [1], "force": true}', "force: unknown field"),
    ],
)
def test_hostile_bulk_bodies_are_400_naming_the_field(web_agent: StartAgent, body: str, error: str) -> None:
    agent = web_agent()
    headers = {"Content-Type": "application/json"}
    r = requests.post(ui_url(agent, "/api/jobs/bulk"), data=body, headers=headers, timeout=10)
    assert r.status_code == 400 and error in r.json()["error"], r.text[:300]


def test_a_job_read_back_takes_the_names_it_was_created_with(api: tuple[HeroAgent, Callable[[str], str]]) -> None:
    """Issue 30, item 6: every field a create took comes back under the same name (and value) from the job, the
    lists and the history; the old wire names come along as aliases for one release."""
    _, url = api
    given: dict[str, Any] = {
        "circle_id": "c-1",
        "session_key": "s-1",
        "tenant_id": "acme",
        "user_id": "ann",
        "group": "batch-1",
        "idempotency_key": "symmetric-1",
        "priority": 3,
        "max_retries": 2,
        "retry_delay": 1.5,
        "timeout": 30.0,
        "no_overlap_key": "k",
        "overlap_delay": 0.5,
    }
    r = requests.post(url("/api/jobs"), json={"topic": "sym", "params": "!!fake.return_success", **given}, timeout=5)
    assert r.status_code == 201, r.text
    created = r.json()
    job_id = created["job_id"]
    wait_status(url, job_id, "done")
    listed = requests.get(url("/api/jobs?topic=sym"), timeout=5).json()["jobs"]
    history = requests.get(url(f"/api/jobs/{job_id}/history"), timeout=5).json()
    for read in (
        created,
        requests.get(url(f"/api/jobs/{job_id}"), timeout=5).json(),
        listed[0],
        history["history"][-1],
    ):
        assert {k: read[k] for k in given} == given
        assert read["jobid"] == read["job_id"] == job_id and read["circleid"] == "c-1"  # the old names, until 0.2
    assert history["job_id"] == history["jobid"] == job_id
    again = {k: v for k, v in created.items() if k in given or k in ("topic", "params", "params_type")}
    assert requests.post(url("/api/jobs"), json=again, timeout=5).status_code == 200  # sent back as read: same job


def test_the_body_limit_follows_max_value_bytes(web_agent: StartAgent) -> None:
    """Issue 30, item 6: params up to [jobs] max_value_bytes fit in a create however the JSON escapes them (the
    limit is 3 x that + 64 KiB); a larger body is a 413 naming the setting, not a 1 MiB cut."""
    agent = web_agent(jobs={"max_value_bytes": 400_000, "lease_seconds": 2.0, "worker_count": 1})
    url = ui_url(agent, "/api/jobs")
    long_text = "!!fake.return_success message:'" + "é" * 190_000 + "'"  # 380 KB as UTF-8, 1.1 MB as \\u escapes
    escaped = json.dumps({"topic": "big", "params": long_text})  # ensure_ascii: every é is 6 bytes
    assert len(escaped) > 1024 * 1024
    r = requests.post(url, data=escaped, headers={"Content-Type": "application/json"}, timeout=20)
    assert r.status_code == 201, r.text[:300]
    over = json.dumps({"topic": "big", "params": "x" * (3 * 400_000 + 65_536)})
    r = requests.post(url, data=over, headers={"Content-Type": "application/json"}, timeout=20)
    assert r.status_code == 413, r.text[:300]
    message = r.json()["error"]
    assert "[jobs] max_value_bytes" in message and str(3 * 400_000 + 65_536) in message, message
    too_long = json.dumps({"topic": "big", "params": "!!fake.return_success message:'" + "x" * 500_000 + "'"})
    r = requests.post(url, data=too_long, headers={"Content-Type": "application/json"}, timeout=20)
    assert r.status_code == 400 and "[jobs] max_value_bytes" in r.json()["error"], r.text[:300]
    page = requests.post(ui_url(agent, "/submit"), data={"params": "x" * (2 * 1024 * 1024)}, timeout=20)
    assert page.status_code == 413 and "1 MiB" in page.text  # pages keep their own, smaller limit
