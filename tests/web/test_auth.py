"""Auth and the secure defaults: login, session cookie, CSRF, bearer tokens, throttling, headers, binding."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from heroagent import HeroAgent
from heroagent.errors import ServiceError
from tests.conftest import make_config, ui_url

StartAgent = Callable[..., HeroAgent]
PASSWORD = "correct horse battery staple"
TOKEN = "t0ken-for-the-api"


@pytest.fixture
def secured(web_agent: StartAgent) -> HeroAgent:
    return web_agent(ui={"password": PASSWORD, "api_token": TOKEN})


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(agent: HeroAgent, password: str = PASSWORD) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    page = session.get(ui_url(agent, "/login"), timeout=5)
    response = session.post(
        ui_url(agent, "/login"),
        data={"password": password, "csrf_token": csrf_of(page.text), "next": "/jobs"},
        allow_redirects=False,
        timeout=5,
    )
    return session, response


def test_pages_need_a_login(secured: HeroAgent) -> None:
    r = requests.get(ui_url(secured, "/jobs?status=done"), allow_redirects=False, timeout=5)
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    r = requests.get(ui_url(secured, "/partials/overview"), headers={"HX-Request": "true"}, timeout=5)
    assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login")
    assert requests.get(ui_url(secured, "/static/style.css"), timeout=5).status_code == 200


def test_login_sets_a_safe_session_cookie_and_logout_ends_it(secured: HeroAgent) -> None:
    session, r = login(secured)
    assert r.status_code == 302 and r.headers["Location"] == "/jobs"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = session.get(ui_url(secured, "/jobs"), allow_redirects=False, timeout=5)
    assert page.status_code == 200 and "Log out" in page.text
    # The logged-in browser may use the API too (with its CSRF token for changes).
    assert session.get(ui_url(secured, "/api/queues"), timeout=5).status_code == 200
    body = {"topic": "t", "params": "!!fake.return_success"}
    assert session.post(ui_url(secured, "/api/jobs"), json=body, timeout=5).status_code == 403
    token = csrf_of(page.text)
    created = session.post(ui_url(secured, "/api/jobs"), json=body, headers={"X-CSRF-Token": token}, timeout=5)
    assert created.status_code == 201
    out = session.post(ui_url(secured, "/logout"), data={"csrf_token": token}, allow_redirects=False, timeout=5)
    assert out.status_code == 302
    assert session.get(ui_url(secured, "/jobs"), allow_redirects=False, timeout=5).status_code == 302


def test_login_redirects_only_inside_the_dashboard(secured: HeroAgent) -> None:
    session = requests.Session()
    page = session.get(ui_url(secured, "/login"), timeout=5)
    hostile = (
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\nSet-Cookie: x=1",
        "/ /evil.example",
        "/\x00x",
    )
    for target in hostile:
        r = session.post(
            ui_url(secured, "/login"),
            data={"password": PASSWORD, "csrf_token": csrf_of(page.text), "next": target},
            allow_redirects=False,
            timeout=5,
        )
        assert r.status_code == 302 and r.headers["Location"] == "/", target
        page = session.get(ui_url(secured, "/login?next=/"), timeout=5)


def test_wrong_logins_in_a_row_slow_the_next_ones(secured: HeroAgent) -> None:
    statuses = [login(secured, "wrong")[1].status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    # The third failure starts a wait: even the right password is refused until it has passed.
    _, r = login(secured)
    assert r.status_code == 429 and "Wait" in r.text
    time.sleep(1.2)
    _, r = login(secured)
    assert r.status_code == 302


def login_in(session: requests.Session, agent: HeroAgent, password: str = PASSWORD) -> requests.Response:
    page = session.get(ui_url(agent, "/login"), timeout=5)
    return session.post(
        ui_url(agent, "/login"),
        data={"password": password, "csrf_token": csrf_of(page.text), "next": "/jobs"},
        allow_redirects=False,
        timeout=5,
    )


def test_wrong_passwords_from_its_address_do_not_lock_out_a_browser_that_logged_in_before(secured: HeroAgent) -> None:
    """A local user without the password shares the admin's address (127.0.0.1): its guesses slow strangers
    down, not the browser that has logged in here before (its signed device cookie has a count of its own)."""
    admin = requests.Session()
    assert login_in(admin, secured).status_code == 302
    assert "heroagent_device" in admin.cookies
    admin.post(ui_url(secured, "/logout"), data={"csrf_token": csrf_of(admin.get(ui_url(secured, "/jobs")).text)})
    for _ in range(6):  # someone else on this machine, guessing
        login(secured, "guess")
    assert login(secured)[1].status_code == 429  # a browser with no history waits, even with the right one
    forged = requests.Session()
    forged.cookies.set("heroagent_device", "forged.value", path="/login")
    assert login_in(forged, secured).status_code == 429  # a cookie we did not sign is no device
    assert login_in(admin, secured).status_code == 302  # the admin's browser gets in at once
    assert admin.get(ui_url(secured, "/jobs"), allow_redirects=False, timeout=5).status_code == 200
    # its own wrong tries count on their own, and slow it down as any other
    statuses = [login_in(admin, secured, "wrong").status_code for _ in range(4)]
    assert statuses[:3] == [401, 401, 401] and statuses[3] == 429


def test_forms_need_the_csrf_token(secured: HeroAgent) -> None:
    session, _ = login(secured)
    form = {"topic": "t", "params": "!!fake.return_success", "params_type": "heroscript"}
    r = session.post(ui_url(secured, "/submit"), data=form, allow_redirects=False, timeout=5)
    assert r.status_code == 403 and "Reload" in r.text
    page = session.get(ui_url(secured, "/submit"), timeout=5)
    form["csrf_token"] = csrf_of(page.text)
    r = session.post(ui_url(secured, "/submit"), data=form, allow_redirects=False, timeout=5)
    assert r.status_code == 303 and r.headers["Location"].startswith("/jobs/")
    # A login form posted without the token (login CSRF) is refused too.
    r = requests.post(ui_url(secured, "/login"), data={"password": PASSWORD}, allow_redirects=False, timeout=5)
    assert r.status_code == 403


def test_api_needs_the_bearer_token(secured: HeroAgent) -> None:
    url = ui_url(secured, "/api/jobs")
    r = requests.get(url, timeout=5)
    assert r.status_code == 401 and r.json()["error"].startswith("authentication required")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert r.status_code == 401 and "wrong" in r.json()["error"]
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(url, headers=good, timeout=5).status_code == 200
    created = requests.post(url, json={"topic": "t", "params": "!!fake.return_success"}, headers=good, timeout=5)
    assert created.status_code == 201
    assert requests.get(ui_url(secured, "/metrics"), timeout=5).status_code == 401
    assert requests.get(ui_url(secured, "/metrics"), headers=good, timeout=5).status_code == 200
    # Health stays open for load balancers and the container's HEALTHCHECK.
    assert requests.get(ui_url(secured, "/api/health"), timeout=5).status_code == 200


def test_security_headers_on_every_response(web_agent: StartAgent) -> None:
    agent = web_agent()
    for path in ("/", "/jobs", "/api/queues", "/static/style.css", "/nowhere", "/api/jobs/99999", "/metrics"):
        r = requests.get(ui_url(agent, path), timeout=5)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff", path


def test_pages_have_no_inline_scripts_or_styles(web_agent: StartAgent) -> None:
    agent = web_agent()
    job = agent.get_job_manager().create_job("t", "!!fake.return_success", log=True)
    for path in (
        "/",
        "/jobs",
        f"/jobs/{job.job_id}",
        "/submit",
        "/scripts",
        "/schedules",
        "/jobs?status=error",
        "/nowhere",
    ):
        html = requests.get(ui_url(agent, path), timeout=5).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html and "<style" not in html and " on" + "click=" not in html, path


def test_without_auth_a_cross_site_browser_cannot_change_anything(web_agent: StartAgent) -> None:
    agent = web_agent()
    url = ui_url(agent, "/api/jobs")
    body = {"topic": "t", "params": "!!fake.return_success"}
    r = requests.post(url, json=body, headers={"Origin": "http://evil.example"}, timeout=5)
    assert r.status_code == 403
    r = requests.post(url, json=body, headers={"Sec-Fetch-Site": "cross-site"}, timeout=5)
    assert r.status_code == 403
    assert requests.post(url, json=body, timeout=5).status_code == 201  # a program (no Origin) may
    same = ui_url(agent, "").rstrip("/")
    assert requests.post(url, json=body, headers={"Origin": same}, timeout=5).status_code == 201


@pytest.mark.parametrize("ui", [{}, {"password": "x"}, {"api_token": "x" * 16}])
def test_non_loopback_bind_without_auth_is_refused(data_dir: Path, ui: dict[str, str]) -> None:
    agent = HeroAgent(make_config(data_dir, ui={"host": "0.0.0.0", **ui}, webdav={"enabled": False}))
    with pytest.raises(ServiceError, match=r"set \[ui\] password and \[ui\] api_token") as info:
        agent.start()
    assert info.value.service == "ui"
    assert not agent.running


def test_wrong_api_tokens_in_a_row_slow_the_next_ones(secured: HeroAgent) -> None:
    """Issue 10, item 13: wrong tokens were not throttled, so a token could be guessed at full speed."""
    url = ui_url(secured, "/api/jobs")
    wrong = {"Authorization": "Bearer guess"}
    assert [requests.get(url, headers=wrong, timeout=5).status_code for _ in range(3)] == [401, 401, 401]
    r = requests.get(url, headers=wrong, timeout=5)
    assert r.status_code == 429 and "wait" in r.json()["error"] and int(r.headers["Retry-After"]) >= 1
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(url, headers=good, timeout=5).status_code == 200  # the right one is never locked out
    assert requests.get(url, headers=wrong, timeout=5).status_code == 401  # and it cleared the address


def test_wrong_tokens_from_rotating_addresses_are_throttled_together(secured: HeroAgent) -> None:
    """Issue 31, item 8: 234 wrong tokens in 0.27 s from rotating 127.0.0.x source addresses, no 429."""
    import http.client

    port = secured.config.ui.port

    def get_from(source: str, token: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
        try:
            conn.request("GET", "/api/jobs", headers={"Authorization": f"Bearer {token}"})
            return conn.getresponse().status
        finally:
            conn.close()

    codes = [get_from(f"127.0.0.{last}", "guess") for last in range(2, 40)]
    assert codes.count(401) <= 10 and codes.count(429) >= len(codes) - 10, codes
    assert get_from("127.0.0.7", TOKEN) == 200  # the right token still gets in, from any of them


def test_an_origin_of_another_port_or_scheme_is_another_site(web_agent: StartAgent) -> None:
    """Issue 31, item 8: the cross-site check ignored the Origin's port and scheme, so a page on another
    local port (the WebDAV share's, a dev server's) could create jobs on a server without auth."""
    agent = web_agent()
    url = ui_url(agent, "/api/jobs")
    body = {"topic": "t", "params": "!!fake.return_success"}
    port = agent.config.ui.port
    webdav = agent.addresses().get("webdav", "").rstrip("/")
    for origin in (
        "http://localhost:8000",
        f"http://localhost:{port + 1}",
        f"https://127.0.0.1:{port}",
        "http://127.0.0.1",
        webdav,
    ):
        r = requests.post(url, json=body, headers={"Origin": origin}, timeout=5)
        assert r.status_code == 403, (origin, r.status_code)
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        assert requests.post(url, json=body, headers={"Origin": origin}, timeout=5).status_code == 201, origin


def test_the_hero_origin_is_reserved_to_the_hero_intake(web_agent: StartAgent) -> None:
    """Issue 31, item 8: any API client could set origin "hero:osis:h42" and forge another system's answer."""
    agent = web_agent(hero={"enabled": True})
    body = {"topic": "t", "params": "!!fake.return_success", "origin": "hero:osis:h42"}
    r = requests.post(ui_url(agent, "/api/jobs"), json=body, timeout=5)
    assert r.status_code == 400 and "origin" in r.json()["error"] and "hero intake" in r.json()["error"]
    body["origin"] = "billing-service"
    assert requests.post(ui_url(agent, "/api/jobs"), json=body, timeout=5).status_code == 201


def test_a_short_api_token_is_refused_at_start_naming_the_fix(data_dir: Path) -> None:
    agent = HeroAgent(make_config(data_dir, ui={"api_token": "short-token"}, webdav={"enabled": False}))
    with pytest.raises(ServiceError, match=r"\[ui\] api_token must be at least 16 characters.*openssl rand") as info:
        agent.start()
    assert info.value.service == "ui" and not agent.running
