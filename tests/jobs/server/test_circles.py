"""Circles (issue 11, item 4): `circle_id` filters the jobs list in Python, the JSON API and the pages;
an unknown filter is a 400, not a silently wider list."""

from __future__ import annotations

from collections.abc import Callable

import requests

from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from tests.conftest import ui_url, wait_until

StartAgent = Callable[..., HeroAgent]


def test_the_jobs_list_filters_by_circle(web_agent: StartAgent) -> None:
    agent: HeroAgent = web_agent()
    jm = agent.get_job_manager()
    ours = [jm.create_job("t", "!!fake.return_success", circle_id="circle-a") for _ in range(3)]
    other = jm.create_job("t", "!!fake.return_success", circle_id='b "quoted" \\ circle')
    plain = jm.create_job("t", "!!fake.return_success")
    for job in [*ours, other, plain]:
        assert jm.wait_for_job(job.job_id, timeout=15).status is JobStatus.DONE
    assert [j.job_id for j in jm.list_jobs(circle_id="circle-a")] == [j.job_id for j in reversed(ours)]
    assert [j.job_id for j in jm.list_jobs(circle_id='b "quoted" \\ circle')] == [other.job_id]
    assert len(jm.list_jobs()) == 5 and jm.list_jobs(circle_id="nobody") == []

    query: dict[str, str | int] = {"circle_id": "circle-a", "limit": 2}
    r = requests.get(ui_url(agent, "/api/jobs"), params=query, timeout=5)
    assert r.status_code == 200 and [j["circle_id"] for j in r.json()["jobs"]] == ["circle-a"] * 2
    assert r.json()["next_before"] == ours[1].job_id
    typo = requests.get(ui_url(agent, "/api/jobs"), params={"circle": "circle-a"}, timeout=5)
    assert typo.status_code == 400 and typo.json()["error"].startswith("circle: not a filter")
    assert "circle_id" in typo.json()["error"]
    page = requests.get(ui_url(agent, "/jobs"), params={"circle_id": "circle-a"}, timeout=5)
    assert page.status_code == 200 and page.text.count('class="circle"') == 3 and 'id="filter-circle"' in page.text
    assert requests.get(ui_url(agent, "/jobs"), params={"topik": "t"}, timeout=5).status_code == 400


def test_the_circle_survives_a_restart_of_the_index(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    job = jm.create_job("t", "!!fake.return_success", circle_id="kept")
    jm.wait_for_job(job.job_id, timeout=15)
    agent.stop()
    agent.start()  # the index is rebuilt from the records
    jm = agent.get_job_manager()
    assert wait_until(lambda: [j.job_id for j in jm.list_jobs(circle_id="kept")] == [job.job_id], timeout=10)


def test_tenant_user_and_group_filter_like_circles(web_agent: StartAgent) -> None:
    agent: HeroAgent = web_agent()
    jm = agent.get_job_manager()
    labels = [
        ("!!fake.return_success", {"tenant_id": "acme", "user_id": "ann", "group": "batch-1"}),
        ("!!fake.return_error message:x", {"tenant_id": "acme", "user_id": "bob", "group": "batch-1"}),
        ("!!fake.return_success", {"tenant_id": "other"}),
    ]
    made = [jm.create_jobs([{"topic": "t", "params": params, **given}])[0] for params, given in labels]
    for job in made:
        jm.wait_for_job(job.job_id, timeout=15)
    assert [j.job_id for j in jm.list_jobs(tenant_id="acme")] == [made[1].job_id, made[0].job_id]
    assert [j.job_id for j in jm.list_jobs(tenant_id="acme", user_id="ann")] == [made[0].job_id]
    assert [j.user_id for j in jm.list_jobs(group="batch-1")] == ["bob", "ann"]
    r = requests.get(ui_url(agent, "/api/jobs"), params={"tenant_id": "other"}, timeout=5)
    assert [j["tenant_id"] for j in r.json()["jobs"]] == ["other"]
    groups = requests.get(ui_url(agent, "/api/job-groups"), timeout=5).json()
    assert groups == {"groups": [{"group": "batch-1", "jobs": 2, "by_status": {"done": 1, "error": 1}}]}
    bad = requests.post(
        ui_url(agent, "/api/jobs"), json={"topic": "t", "params": "!!a.b", "group": "g" * 300}, timeout=5
    )
    assert bad.status_code == 400 and bad.json()["error"].startswith("group:")
