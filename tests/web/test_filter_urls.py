"""Filter URLs carry no empty parameters (issue 30, item 8): the jobs page's filter form sends every field,
the empty ones too (`/jobs?status=&topic=demo&text=`); the page answers with the same list at the URL
without them, so what is bookmarked or shared is the filter that was set."""

from __future__ import annotations

from collections.abc import Callable

import requests

from heroagent import HeroAgent
from tests.conftest import ui_url
from tests.web.test_pages import csrf


def test_empty_filter_parameters_are_dropped_from_the_url(web_agent: Callable[..., HeroAgent]) -> None:
    agent = web_agent()
    r = requests.get(ui_url(agent, "/jobs?status=&topic=demo&text=&circle_id="), allow_redirects=False, timeout=5)
    assert r.status_code == 302 and r.headers["Location"] == "/jobs?topic=demo"
    r = requests.get(ui_url(agent, "/jobs?status=&text="), allow_redirects=False, timeout=5)
    assert r.status_code == 302 and r.headers["Location"] == "/jobs"
    r = requests.get(ui_url(agent, "/jobs?topic=demo&text=a+b"), allow_redirects=False, timeout=5)
    assert r.status_code == 200  # nothing empty: the page itself
    assert requests.get(ui_url(agent, "/jobs?status=&topic=x%20y"), timeout=5).url.endswith("/jobs?topic=x+y")


def test_retry_all_lands_on_the_list_it_was_pressed_on(web_agent: Callable[..., HeroAgent]) -> None:
    """Issue 30: "Retry all" on `/jobs?status=error&topic=t` comes back to that filtered list, not to every job;
    a Referer from elsewhere (another site, another page) is not followed."""
    agent = web_agent()
    jm = agent.get_job_manager()
    jm.wait_for_job(jm.create_job("t", "!!fake.return_error message:boom").job_id, timeout=10)
    session = requests.Session()
    listing = ui_url(agent, "/jobs?status=error&topic=t")
    token = csrf(agent, session, "/jobs?status=error&topic=t")
    form = {"csrf_token": token, "topic": "t"}
    r = session.post(
        ui_url(agent, "/jobs/dead/retry"), data=form, headers={"Referer": listing}, allow_redirects=False, timeout=5
    )
    assert r.status_code == 303 and r.headers["Location"] == "/jobs?status=error&topic=t"
    htmx = {"HX-Request": "true", "X-CSRF-Token": token, "HX-Current-URL": listing}
    r = session.post(ui_url(agent, "/jobs/dead/retry"), data=form, headers=htmx, timeout=5)
    assert r.headers["HX-Redirect"] == "/jobs?status=error&topic=t"
    for elsewhere in ("https://evil.example/jobs?status=error", ui_url(agent, "/scripts?x=1")):
        r = session.post(
            ui_url(agent, "/jobs/dead/retry"),
            data=form,
            headers={"Referer": elsewhere},
            allow_redirects=False,
            timeout=5,
        )
        assert r.headers["Location"] == "/jobs?status=error&topic=t", elsewhere  # the list the button is on
