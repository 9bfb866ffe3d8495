"""Issue 30's leftover: the overview's Remove button on a topic with nothing waiting or running (the operation
behind DELETE /api/queues/<topic>), through Flask's test client."""

from __future__ import annotations

from flask.testing import FlaskClient

from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from tests.conftest import wait_until
from tests.web.webclient import csrf, make_client, text


def htmx(client: FlaskClient) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf(client, "/")}


def test_remove_is_offered_on_an_empty_topic_only_and_removes_it(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    client = make_client(agent)
    done = jm.create_job("finished", "!!fake.return_success")
    assert jm.wait_for_job(done.job_id, timeout=15).status is JobStatus.DONE
    jm.pause_topic("held", create=True)
    jm.create_job("held", "!!fake.return_success")
    page = client.get("/").get_data(as_text=True)
    assert 'aria-label="Remove finished"' in page and 'aria-label="Remove held"' not in page
    answer = client.post("/queues/finished/remove", headers=htmx(client))
    assert answer.status_code == 200 and "Removed finished." in answer.get_data(as_text=True)
    assert "finished" not in jm.queue_stats()
    assert wait_until(lambda: jm.store.status_of(done.job_id) is JobStatus.DONE)  # its history stays
    refused = client.post("/queues/held/remove", headers=htmx(client))  # a forged or stale button
    body = refused.get_data(as_text=True)
    assert refused.status_code == 200 and 'id="queue-problem"' in body and "1 queued" in text(body)
    assert "held" in jm.queue_stats()
    assert client.post("/queues/held/remove", data={"csrf_token": csrf(client, "/")}).status_code == 409
    assert client.post("/queues/held/remove").status_code == 403  # no CSRF token
    assert client.post("/queues/nosuchtopic/remove", headers=htmx(client)).status_code == 404
