"""DNS rebinding: a page on another site that points its own name at 127.0.0.1 must reach nothing.

The repro of issue 10, item 5: with `Host` and `Origin` both naming the attacker's site, a PUT to the
share and a `!!script.run` job were accepted and the job ran. Each request here is what the browser
would send after the rebinding, against the real servers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from heroagent import HeroAgent
from heroagent.hosts import HostAllowList, host_name
from tests.conftest import present, ui_url

StartAgent = Callable[..., HeroAgent]
EVIL = "rebind.evil.example"


def dav_url(agent: HeroAgent, path: str) -> str:
    assert agent.webdav is not None
    return agent.webdav.url.rstrip("/") + path


def evil(agent_url: str) -> dict[str, str]:
    port = agent_url.split(":")[2].split("/")[0]
    return {"Host": f"{EVIL}:{port}", "Origin": f"http://{EVIL}:{port}"}


def test_a_rebound_page_can_neither_upload_a_script_nor_run_a_job(web_agent: StartAgent) -> None:
    agent = web_agent()
    script = b"#!/bin/sh\ntouch /tmp/pwned-by-rebinding\n"
    r = requests.put(dav_url(agent, "/scripts/evil.sh"), data=script, headers=evil(agent.webdav.url), timeout=5)  # type: ignore[union-attr]
    assert r.status_code == 421 and "[webdav] allowed_hosts" in r.text
    assert not (present(agent.config.share_root) / "scripts" / "evil.sh").exists()

    body = {"topic": "t", "params": "!!script.run path:'scripts/evil.sh'"}
    r = requests.post(ui_url(agent, "/api/jobs"), json=body, headers=evil(agent.ui.url), timeout=5)  # type: ignore[union-attr]
    assert r.status_code == 421 and "[ui] allowed_hosts" in r.text
    for path in ("/", "/jobs", "/api/jobs", "/api/health", "/metrics", "/static/htmx.min.js"):
        r = requests.get(ui_url(agent, path), headers=evil(agent.ui.url), timeout=5)  # type: ignore[union-attr]
        assert r.status_code == 421, path
    time.sleep(0.3)
    assert agent.get_job_manager().list_jobs() == []  # nothing was created


def test_the_servers_answer_to_their_own_names(web_agent: StartAgent) -> None:
    agent = web_agent(ui={"allowed_hosts": ["heroagent.lan"]}, webdav={"allowed_hosts": ["files.lan"]})
    port = agent.ui.url.split(":")[2].rstrip("/")  # type: ignore[union-attr]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST.:{port}", f"heroagent.lan:{port}"):
        assert requests.get(ui_url(agent, "/api/health"), headers={"Host": host}, timeout=5).status_code == 200, host
    assert requests.get(ui_url(agent, "/api/health"), headers={"Host": "files.lan"}, timeout=5).status_code == 421
    dav_port = agent.webdav.url.split(":")[2].rstrip("/")  # type: ignore[union-attr]
    r = requests.request("PROPFIND", dav_url(agent, "/"), headers={"Host": f"files.lan:{dav_port}", "Depth": "0"})
    assert r.status_code == 207
    r = requests.request("PROPFIND", dav_url(agent, "/"), headers={"Host": f"heroagent.lan:{dav_port}", "Depth": "0"})
    assert r.status_code == 421


def test_the_cross_site_check_trusts_the_allow_list_not_host(web_agent: StartAgent) -> None:
    """An allowed Host with a foreign Origin is still a cross-site request (no auth configured)."""
    agent = web_agent()
    body = {"topic": "t", "params": "!!fake.return_success"}
    for origin in (f"http://{EVIL}", "null", "file://", "http://127.0.0.1.evil.example"):
        r = requests.post(ui_url(agent, "/api/jobs"), json=body, headers={"Origin": origin}, timeout=5)
        assert r.status_code == 403, origin
    own = f"http://localhost:{agent.config.ui.port}"  # an allowed name, with the dashboard's scheme and port
    assert requests.post(ui_url(agent, "/api/jobs"), json=body, headers={"Origin": own}, timeout=5).status_code == 201
    other_port = requests.post(
        ui_url(agent, "/api/jobs"), json=body, headers={"Origin": "http://localhost:1"}, timeout=5
    )
    assert other_port.status_code == 403  # another port of the same name is another site (issue 31, item 8)


@pytest.mark.parametrize(
    ("header", "name"),
    [("Example.COM:80", "example.com"), ("[::1]:9021", "::1"), ("::1", "::1"), ("a.b.", "a.b"), ("[::1", "::1")],
)
def test_host_names_are_read_like_browsers_send_them(header: str, name: str) -> None:
    assert host_name(header) == name


def test_a_wildcard_bind_allows_only_loopback_the_machine_and_the_list() -> None:
    hosts = HostAllowList("0.0.0.0", ["ops.example"], "[ui] allowed_hosts")
    assert hosts.allows("ops.example:9021") and hosts.allows("127.0.0.1") and not hosts.allows("0.0.0.0")
    assert not hosts.allows(EVIL) and not hosts.allows_origin("null")


def test_the_redis_password_is_never_shown(web_agent: StartAgent) -> None:
    """Issue 10, item 13: the Redis password was in the start banner and on the overview page."""
    agent = web_agent()
    password = agent.redis.password  # type: ignore[union-attr]
    assert password
    for path in ("/", "/partials/overview", "/api/health", "/metrics", "/scripts"):
        page = requests.get(ui_url(agent, path), timeout=5).text
        assert password not in page, path
    assert "redis://:***@" in requests.get(ui_url(agent, "/"), timeout=5).text
    assert all(password not in address for address in agent.addresses().values())
