"""Filter URLs carry no empty parameters (issue 30, item 8): the jobs page's filter form sends every field,
the empty ones too (`/jobs?status=&topic=demo&text=`); the page answers with the same list at the URL
without them, so what is bookmarked or shared is the filter that was set."""

from __future__ import annotations

from collections.abc import Callable

import requests

from heroagent import HeroAgent
from tests.conftest import ui_url


def test_empty_filter_parameters_are_dropped_from_the_url(web_agent: Callable[..., HeroAgent]) -> None:
    agent = web_agent()
    r = requests.get(ui_url(agent, "/jobs?status=&topic=demo&text=&circle_id="), allow_redirects=False, timeout=5)
    assert r.status_code == 302 and r.headers["Location"] == "/jobs?topic=demo"
    r = requests.get(ui_url(agent, "/jobs?status=&text="), allow_redirects=False, timeout=5)
    assert r.status_code == 302 and r.headers["Location"] == "/jobs"
    r = requests.get(ui_url(agent, "/jobs?topic=demo&text=a+b"), allow_redirects=False, timeout=5)
    assert r.status_code == 200  # nothing empty: the page itself
    assert requests.get(ui_url(agent, "/jobs?status=&topic=x%20y"), timeout=5).url.endswith("/jobs?topic=x+y")
