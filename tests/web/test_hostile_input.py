"""Issue 10's repros as an attacker sends them, against the real server: each gets a 400 naming the field
(never a 500), nothing is half-stored, and the server still records the history and restarts.

Items: 1 (a job whose stored version would not fit one OurDB record), 2 (NaN and infinity in numbers),
10 (unbounded retries, schedules every 1e400), 11 (500s: missing params, lone surrogates, huge strings,
deep JSON, huge offsets, unknown schedule fields, a topic with a trailing newline).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from tests.conftest import ui_url, wait_until

StartAgent = Callable[..., HeroAgent]
JOB = '{"topic": "t", "params": "!!fake.return_success"'


def post_raw(agent: HeroAgent, path: str, text: str) -> requests.Response:
    """Send the body as written: JSON with 1e400, NaN or a lone surrogate cannot be made by json.dumps."""
    return requests.post(
        ui_url(agent, path), data=text.encode(), headers={"Content-Type": "application/json"}, timeout=10
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (JOB + ', "delay": 1e400}', "delay: inf must be a finite number"),
        (JOB + ', "delay": Infinity}', "delay: inf must be a finite number"),
        (JOB + ', "run_at": 1e400}', "run_at: inf must be a finite number"),
        (JOB + ', "run_at": -Infinity}', "run_at: -inf must be a finite number"),
        (JOB + ', "timeout": NaN}', "timeout: nan must be a finite number"),
        (JOB + ', "retry_delay": NaN}', "retry_delay: nan must be a finite number"),
        (JOB + ', "max_retries": 1e30}', "max_retries: 1e+30 must be at most 1000"),
        (JOB + ', "max_retries": 2.5}', "max_retries: 2.5 must be a whole number"),
        (JOB + ', "timeout": 1e12}', "timeout: 1000000000000.0 must be at most 31622400"),
        (JOB + ', "run_at": "' + "9" * 100 + '"}', "run_at: 100 bytes is over the limit of 64 bytes"),
        ('{"topic": "t"}', "params: required"),
        ('{"topic": "t", "params": ""}', "params: must not be empty"),
        ('{"topic": "t", "params": "!!fake.return_success message:\'\\ud800\'"}', "params: "),
        (JOB + ', "circle_id": "\\udfff"}', "circle_id: "),
        ('{"topic": "abc\\n", "params": "!!fake.return_success"}', "topic: 'abc\\n' may only contain"),
        (JOB + ', "session_key": "' + "k" * 200_000 + '"}', "session_key: 200000 bytes is over the limit of 1024"),
        (JOB + ', "circle_id": "' + "c" * 14_000 + '"}', "circle_id: 14000 bytes is over the limit of 256"),
        (JOB + ', "\\u0000\\n": 1}', "'\\x00\\n': unknown field(s)"),
        ("[" * 100_000 + "]" * 100_000, "body: must be a JSON object"),
        ('{"a": ' * 50_000 + "1" + "}" * 50_000, "body: must be a JSON object"),
    ],
    ids=lambda v: v[:40] if len(v) < 200 else f"{v[:20]}...({len(v)} chars)",  # ids go into the environment
)
def test_hostile_job_fields_are_400_naming_the_field(web_agent: StartAgent, body: str, error: str) -> None:
    agent = web_agent()
    r = post_raw(agent, "/api/jobs", body)
    assert r.status_code == 400, r.text[:300]
    assert r.json()["error"].startswith(error), r.json()["error"][:300]
    assert agent.get_job_manager().list_jobs() == []


def test_a_job_too_large_for_one_history_record_is_kept_whole(web_agent: StartAgent) -> None:
    """Item 1: 40,000 '/' were 80,371 bytes once cjson escaped them: OurDB refused the record, the recorder
    died and the next start failed. Large values now go beside the record and come back whole."""
    agent = web_agent()
    jm = agent.get_job_manager()
    slashes = "/" * 40_000
    r = requests.post(
        ui_url(agent, "/api/jobs"),
        json={"topic": "t", "params": f"!!fake.return_success message:'{slashes}'"},
        timeout=10,
    )
    assert r.status_code == 201, r.json()
    done = jm.wait_for_job(r.json()["job_id"], timeout=15)
    assert done.status is JobStatus.DONE and slashes in done.result_text and slashes in done.params
    big = "x" * 300_000 + "/" * 100_000  # 400 KB of params, and the same back as the result
    job = jm.create_job("big", f"!!fake.return_success message:'{big}'", circle_id="c" * 256, log=True)
    final = jm.wait_for_job(job.job_id, timeout=30)
    assert final.status is JobStatus.DONE and big in final.result_text
    history = jm.get_history(job.job_id)
    assert [v.status.value for v in history] == ["new", "active", "done"] and all(big in v.params for v in history)
    after = jm.create_job("after", "!!fake.return_success")  # the recorder is alive and well
    assert jm.wait_for_job(after.job_id, timeout=15).status is JobStatus.DONE
    values = agent.config.jobs_db_path.with_name(agent.config.jobs_db_path.name + ".values") / str(job.job_id)
    assert values.is_dir() and list(values.iterdir())
    page = requests.get(ui_url(agent, f"/jobs/{job.job_id}"), timeout=10)
    assert page.status_code == 200 and "more characters" in page.text and len(page.text) < 300_000
    agent.stop()
    agent.start()  # the history with spilled values opens again, whole
    jm = agent.get_job_manager()
    assert big in jm.get_job(job.job_id).result_text
    jm.delete_job(job.job_id)
    assert not values.exists()  # a deleted job's values go with it
    # 47 KB of params with a 14 KB circle_id: the circle is bounded on its own.
    body = {"topic": "t", "params": "!!fake.return_success message:'" + "a" * 47_000 + "'", "circle_id": "c" * 14000}
    r = requests.post(ui_url(agent, "/api/jobs"), json=body, timeout=10)
    assert r.status_code == 400 and r.json()["error"].startswith("circle_id:")


def test_params_over_the_configured_cap_are_refused(web_agent: StartAgent) -> None:
    agent = web_agent(jobs={"max_value_bytes": 100_000})
    r = requests.post(ui_url(agent, "/api/jobs"), json={"topic": "t", "params": "!!x.y a:'" + "z" * 100_001 + "'"})
    assert r.status_code == 400 and "[jobs] max_value_bytes" in r.json()["error"]


def test_other_hostile_requests_get_400_not_500(web_agent: StartAgent) -> None:
    agent = web_agent()
    job = agent.get_job_manager().create_job("t", "!!fake.return_success", log=True)
    r = requests.get(ui_url(agent, f"/api/jobs/{job.job_id}/log?offset=99999999999999999999"), timeout=5)
    assert r.status_code == 400 and r.json()["error"].startswith("offset:")
    base = {"name": "s", "topic": "t", "params": "!!fake.return_success", "every": 60}
    for extra, error in (
        ({"colour": "red"}, "schedule 's': colour: unknown field"),
        ({"every": 1e400}, "schedule 's': every: inf must be a finite number"),
        ({"timeout": float("nan")}, "schedule 's': timeout: nan must be a finite number"),
        ({"source": "upkeep"}, "schedule: give an object"),
        ({"name": ["x"]}, "schedule: name: ['x'] must be a string"),
    ):
        text = json.dumps({**base, **extra})  # Python writes Infinity/NaN, which the server's parser reads
        r = post_raw(agent, "/api/schedules", text)
        assert r.status_code == 400 and r.json()["error"].startswith(error), (extra, r.text[:200])
    login = requests.get(ui_url(agent, "/login?next=/%0a/evil.example"), allow_redirects=False, timeout=5)
    assert login.status_code in (200, 302)


@pytest.mark.parametrize("field", ["timeout", "retry_delay", "run_at", "delay"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_the_python_api_refuses_non_finite_numbers_too(web_agent: StartAgent, field: str, value: float) -> None:
    from heroagent.jobs import InvalidJobError

    jm = web_agent().get_job_manager()
    options: dict[str, Any] = {field: value}
    with pytest.raises(InvalidJobError, match=rf"^{field}: .* must be a finite number"):
        jm.create_job("t", "!!fake.return_success", **options)
    assert jm.list_jobs() == []


# Ids no job can have: past SQLite's and Redis's 64-bit integers (the index's lookups overflowed: a 500),
# at the edge of them, and 0.
HUGE_IDS = [2**63, 2**64 + 7, 10**40, 2**63 - 1, 0]


@pytest.mark.parametrize("job_id", HUGE_IDS)
def test_a_job_id_no_job_can_have_is_404_on_every_job_route(web_agent: StartAgent, job_id: int) -> None:
    agent = web_agent()
    routes = [("GET", ""), ("GET", "/history"), ("GET", "/log"), ("DELETE", "")]
    routes += [("POST", f"/{action}") for action in ("cancel", "suspend", "resume", "retry")]
    for method, tail in routes:
        r = requests.request(method, ui_url(agent, f"/api/jobs/{job_id}{tail}"), timeout=10)
        assert r.status_code == 404, (method, tail, r.status_code, r.text[:200])
        assert r.json()["error"] == f"no job with id {job_id}", (method, tail)
    page = requests.get(ui_url(agent, f"/jobs/{job_id}"), timeout=10)
    assert page.status_code == 404


@pytest.mark.parametrize("job_id", [2**63, 10**40, -1, 0])
def test_the_python_api_says_no_such_job_for_an_id_no_job_can_have(web_agent: StartAgent, job_id: int) -> None:
    from heroagent.jobs import JobNotFoundError

    jm = web_agent().get_job_manager()
    calls: list[Callable[[], object]] = [
        lambda: jm.get_job(job_id),
        lambda: jm.get_history(job_id),
        lambda: jm.get_log(job_id),
        lambda: jm.cancel_job(job_id),
        lambda: jm.suspend_job(job_id),
        lambda: jm.resume_job(job_id),
        lambda: jm.retry_job(job_id),
        lambda: jm.delete_job(job_id),
    ]
    for call in calls:
        with pytest.raises(JobNotFoundError, match=rf"^no job with id {job_id}$"):
            call()


@pytest.mark.parametrize("before", ["99999999999999999999999", str(2**63), "-99999999999999999999999"])
def test_a_page_before_an_id_no_job_can_have_is_a_page_not_a_500(web_agent: StartAgent, before: str) -> None:
    agent = web_agent()
    job = agent.get_job_manager().create_job("t", "!!fake.return_success")
    assert wait_until(lambda: agent.get_job_manager().list_jobs())
    r = requests.get(ui_url(agent, f"/api/jobs?before={before}"), timeout=10)
    assert r.status_code == 200, r.text[:200]
    assert [j["job_id"] for j in r.json()["jobs"]] == ([] if before.startswith("-") else [job.job_id])
    assert requests.get(ui_url(agent, f"/jobs?before={before}"), timeout=10).status_code == 200


@pytest.mark.parametrize("body", ["\x00", '{"topic": ', "[1, 2]", '"mail"', "null"])
def test_a_body_that_is_not_an_object_retries_no_dead_job(web_agent: StartAgent, body: str) -> None:
    """The bulk "retry every dead job" runs for an empty body or {} only: a body that meant to name a topic
    and is garbled (not JSON, not an object) is a 400, and no dead job of any topic is queued again."""
    agent = web_agent()
    jm = agent.get_job_manager()
    dead = jm.create_job("dead", "!!fake.return_error")
    jm.wait_for_job(dead.job_id, timeout=10)
    r = post_raw(agent, "/api/jobs/dead/retry", body)
    assert r.status_code == 400 and r.json()["error"].startswith("body: give {} for every dead job"), r.text[:200]
    assert jm.get_job(dead.job_id).status is JobStatus.ERROR
    empty = requests.post(ui_url(agent, "/api/jobs/dead/retry"), timeout=10)
    assert empty.status_code == 200 and empty.json()["retried"] == [dead.job_id]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/api/health", {"GET", "HEAD", "OPTIONS"}),
        ("PATCH", "/api/jobs", {"GET", "HEAD", "OPTIONS", "POST"}),
        ("PUT", "/api/jobs/1/cancel", {"OPTIONS", "POST"}),
        ("TRACE", "/jobs", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_a_method_not_allowed_names_the_allowed_ones(
    web_agent: StartAgent, method: str, path: str, allowed: set[str]
) -> None:
    """RFC 9110: a 405 lists the methods the resource takes in `Allow` (the JSON error had dropped it)."""
    r = requests.request(method, ui_url(web_agent(), path), timeout=10)
    assert r.status_code == 405
    assert {m.strip() for m in r.headers.get("Allow", "").split(",")} == allowed, r.headers


def test_a_log_offset_past_what_a_file_can_hold_is_an_empty_read(web_agent: StartAgent) -> None:
    """The largest offset the API takes is past the filesystem's largest file (ext4: 16 TiB), where a seek
    failed with EINVAL: a 500. Past the end of a log is nothing to read, wherever the end is."""
    agent = web_agent()
    jm = agent.get_job_manager()
    job = jm.create_job("t", "!!fake.return_success", log=True)
    jm.wait_for_job(job.job_id, timeout=10)
    for offset in (10**15 - 1, 2**44, 10**9):
        r = requests.get(ui_url(agent, f"/api/jobs/{job.job_id}/log?offset={offset}"), timeout=10)
        assert r.status_code == 200, r.text[:200]
        assert r.json() == {
            "job_id": job.job_id,
            "jobid": job.job_id,
            "offset": offset,
            "next_offset": offset,
            "log": "",
        }
    assert jm.get_log(job.job_id, 10**15 - 1) == ""


@pytest.mark.parametrize("query", ["before=5&before=1", "status=done&status=error", "offset=0&offset=9"])
def test_a_query_parameter_given_twice_is_a_400_naming_it(web_agent: StartAgent, query: str) -> None:
    """Which of two values counts is a guess (the first was taken): an API call that gives one twice is
    refused, as a misspelt filter is, rather than answered for half of what it asked."""
    agent = web_agent()
    job = agent.get_job_manager().create_job("t", "!!fake.return_success", log=True)
    path = f"/api/jobs/{job.job_id}/log" if query.startswith("offset") else "/api/jobs"
    r = requests.get(ui_url(agent, f"{path}?{query}"), timeout=10)
    name = query.split("=", 1)[0]
    assert r.status_code == 400, r.text[:200]
    assert r.json()["error"] == f"{name}: given 2 times; give it once"


HUGE = "1" + "0" * 400  # a JSON integer no float can hold (10**400)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/api/jobs", f'{{"topic": "t", "params": "!!fake.sleep", "timeout": {HUGE}}}', "timeout"),
        ("post", "/api/jobs", f'{{"topic": "t", "params": "!!fake.sleep", "delay": {HUGE}}}', "delay"),
        ("post", "/api/jobs", f'{{"topic": "t", "params": "!!fake.sleep", "run_at": {HUGE}}}', "run_at"),
        ("post", "/api/jobs", f'{{"topic": "t", "params": "!!fake.sleep", "max_retries": {HUGE}}}', "max_retries"),
        ("post", "/api/jobs", f'{{"topic": "t", "params": "!!fake.sleep", "priority": -{HUGE}}}', "priority"),
        ("post", "/api/schedules", f'{{"name": "n", "topic": "t", "params": "!!x.y", "every": {HUGE}}}', "every"),
        ("put", "/api/queues/t/limits", f'{{"max_running": {HUGE}}}', "max_running"),
    ],
)
def test_a_json_integer_too_large_for_a_float_is_a_400_naming_the_field(
    web_agent: StartAgent, method: str, path: str, body: str, field: str
) -> None:
    """Issue 31, item 9: 10**400 in any numeric field was a 500 (OverflowError turning it into a float)."""
    agent = web_agent()
    r = requests.request(
        method, ui_url(agent, path), data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert r.status_code == 400, r.text
    assert field in r.json()["error"], r.json()


@pytest.mark.parametrize("offset", ["²", "١٢", "1_000", " 5", "+5"])
def test_a_log_offset_that_is_not_ascii_digits_is_a_400(web_agent: StartAgent, offset: str) -> None:
    agent = web_agent()
    job = agent.get_job_manager().create_job("t", "!!fake.return_success", log=True)
    r = requests.get(ui_url(agent, f"/api/jobs/{job.job_id}/log"), params={"offset": offset}, timeout=10)
    assert r.status_code == 400 and "offset" in r.json()["error"], r.text
