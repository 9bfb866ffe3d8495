"""No version string on any page (issue 30, item 8): every dashboard page and partial, the API's GET routes and
/metrics, and the WebDAV share's listing carry no version of HeroAgent or of the server software under it, in
their headers or their body. (The OpenAPI document's `info.version` is the API's version, which OpenAPI
requires: it is the one place left out.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.metadata import version

import requests

from heroagent import HeroAgent, __version__
from heroagent.web import create_app
from tests.conftest import ui_url

SOFTWARE = ("wsgidav", "cheroot", "flask", "werkzeug")
LEFT_OUT = {"/api/openapi.json"}
STREAMS = {"/api/events"}  # open for minutes: their headers and first frame are looked at


def versions() -> dict[str, str]:
    return {"heroagent": __version__, **{name: version(name) for name in SOFTWARE}}


def page_paths(agent: HeroAgent, job_id: int) -> list[str]:
    """Every GET route of the app that needs no argument but a job id, with `job_id` filled in."""
    paths = []
    for rule in create_app(agent).url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static" or rule.rule in LEFT_OUT:
            continue
        path = rule.rule.replace("<int:job_id>", str(job_id))
        if "<" not in path:
            paths.append(path)
    return sorted(set(paths))


def leaks(response: requests.Response, found: dict[str, str], body: str | None = None) -> list[str]:
    """`name version` of each version that shows in the response's headers or body (`body`: the part read)."""
    text = (
        "\n".join(f"{k}: {v}" for k, v in response.headers.items()) + "\n" + (response.text if body is None else body)
    )
    return [f"{name} {v}" for name, v in found.items() if re.search(rf"(?<![\d.]){re.escape(v)}(?![\d])", text)]


def test_no_page_carries_a_version(web_agent: Callable[..., HeroAgent]) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    job = jm.create_job("demo", "!!fake.return_success", log=True)
    jm.wait_for_job(job.job_id, timeout=10)
    found = versions()
    paths = page_paths(agent, job.job_id)
    assert {"/", "/jobs", f"/jobs/{job.job_id}", "/schedules", "/submit", "/scripts", "/metrics"} <= set(paths)
    assert agent.webdav is not None
    share = agent.webdav.url.rstrip("/")
    urls = [ui_url(agent, path) for path in paths] + [f"{share}/", f"{share}/scripts/"]
    problems = {}
    for url in urls:
        stream = any(url.endswith(path) for path in STREAMS)
        r = requests.get(url, timeout=10, stream=stream)
        assert r.status_code < 500, (url, r.status_code)
        body = next(r.iter_content(chunk_size=None)).decode() if stream else None
        if leaked := leaks(r, found, body):
            problems[url] = leaked
        r.close()
    assert not problems, problems
    listing = requests.get(f"{share}/", timeout=10)
    assert listing.status_code == 200 and "<html" in listing.text.lower()  # the dir browser's page was checked
