"""The dashboard in a real browser: Debian's chromium driven by Playwright (installed by the test command).

Screenshots of each page are saved under test-artifacts/screenshots/ (or $HEROAGENT_ARTIFACTS), and every
page at a phone's and a desktop's size under test-artifacts/screens/ (neither is committed).
The pages must work under their strict CSP: any console error (a CSP violation included) fails a test.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

import heroagent
from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from tests.conftest import REPO, ui_url, wait_until

StartAgent = Callable[..., HeroAgent]
PASSWORD = "browser-secret"
TOKEN = "browser-token-0123"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(os.environ.get("HEROAGENT_ARTIFACTS", REPO / "test-artifacts")) / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: problems.append(str(exc)))
    tab.on("dialog", lambda dialog: dialog.accept())  # the confirm() of cancel/retry/delete
    tab.set_default_timeout(15_000)
    yield tab
    context.close()
    unexpected = real_console_errors(problems)
    assert not unexpected, f"browser console errors: {unexpected}"


def real_console_errors(problems: list[str]) -> list[str]:
    """The console errors that are bugs. Not: the 4xx answers the tests provoke on purpose ("Failed to load
    resource"), nor a live part's refresh that a button's answer overtook (htmx aborts the older request
    and logs its abort as "htmx:sendAbort" with its "htmx:afterRequest": the newer answer is shown)."""
    aborted = any(p.startswith("htmx:sendAbort") for p in problems)
    benign = ("htmx:sendAbort", "htmx:afterRequest") if aborted else ()
    return [p for p in problems if "Failed to load resource" not in p and not p.startswith(benign)]


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, agent: HeroAgent) -> None:
    page.goto(ui_url(agent, "/"))
    expect(page).to_have_url(ui_url(agent, "/login?next=/"))
    shot(page, "login")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")


def mark_page(page: Page) -> None:
    """Leave a marker in the window: if the page reloads, it is gone."""
    page.evaluate("window.__heroagentMarker = 42")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__heroagentMarker") == 42, "the page was reloaded"


def test_submit_watch_and_inspect_a_job(web_agent: StartAgent, page: Page) -> None:
    agent = web_agent(ui={"password": PASSWORD, "api_token": TOKEN})
    log_in(page, agent)

    page.goto(ui_url(agent, "/submit"))
    page.fill("#topic", "browser")
    page.fill("#params", "!!fake.sleep seconds:2")
    shot(page, "submit")
    page.click("#submit")
    expect(page.locator("h1")).to_contain_text("Job #")
    mark_page(page)
    status = page.locator("#job-status")
    expect(status).to_have_text("active", timeout=10_000)
    expect(status).to_have_text("done", timeout=15_000)
    expect(page.locator("#timeline tbody tr")).to_have_count(3)
    expect(page.locator("#timeline")).to_contain_text("active")
    expect(page.locator("#log")).to_contain_text("sleeping 2.0s")
    assert_not_reloaded(page)
    shot(page, "job")

    page.goto(ui_url(agent, "/"))
    expect(page.locator("#count-done strong")).to_have_text("1")
    expect(page.locator("#workers")).to_contain_text("this server")
    shot(page, "overview")


def test_jobs_page_filters_and_updates_live(web_agent: StartAgent, page: Page) -> None:
    agent = web_agent(ui={"password": PASSWORD, "api_token": TOKEN})
    jm = agent.get_job_manager()
    ok = jm.create_job("reports", "!!fake.return_success message:fine")
    bad = jm.create_job("backups", "!!fake.return_error message:'disk full'")
    jm.wait_for_job(ok.job_id, timeout=15)
    jm.wait_for_job(bad.job_id, timeout=15)
    log_in(page, agent)

    page.goto(ui_url(agent, "/jobs"))
    expect(page.locator("tr[data-jobid]")).to_have_count(2)
    page.select_option("#filter-status", "error")
    page.click("#filters button[type=submit]")
    expect(page).to_have_url(ui_url(agent, "/jobs?status=error"))  # empty filters are dropped
    expect(page.locator("tr[data-jobid]")).to_have_count(1)
    expect(page.locator(f'tr[data-jobid="{bad.job_id}"]')).to_contain_text("backups")
    shot(page, "jobs-filtered")

    page.goto(ui_url(agent, "/jobs"))
    mark_page(page)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"topic": "live", "params": "!!fake.sleep seconds:1"}
    created = requests.post(ui_url(agent, "/api/jobs"), json=body, headers=headers, timeout=5).json()
    row = page.locator(f'tr[data-jobid="{created["job_id"]}"]')
    expect(row).to_be_visible(timeout=10_000)  # appeared without a reload
    expect(row.locator(".status")).to_have_text("done", timeout=15_000)
    assert_not_reloaded(page)
    shot(page, "jobs")


def test_run_a_script_from_the_webdav_share_and_cancel_a_job(web_agent: StartAgent, page: Page) -> None:
    agent = web_agent(ui={"password": PASSWORD, "api_token": TOKEN})
    webdav = agent.addresses()["webdav"].rstrip("/")
    script = b'#!/bin/sh\necho "hello from the share"\n'
    assert requests.put(f"{webdav}/scripts/hello.sh", data=script, timeout=5).status_code in (201, 204)
    log_in(page, agent)

    page.goto(ui_url(agent, "/scripts"))
    expect(page.locator("#webdav-address")).to_have_text(agent.addresses()["webdav"])
    shot(page, "scripts")
    page.click('button.run[data-path="scripts/hello.sh"]')
    expect(page.locator("#job-status")).to_have_text("done", timeout=15_000)
    expect(page.locator("#result")).to_contain_text("hello from the share")

    page.goto(ui_url(agent, "/submit"))
    page.fill("#params", "!!fake.sleep seconds:60")
    page.click("#submit")
    expect(page.locator("#job-status")).to_have_text("active", timeout=10_000)
    page.click("#cancel")  # confirm() is accepted by the fixture
    expect(page.locator("#job-status")).to_have_text("canceled", timeout=15_000)
    page.click("#delete")
    expect(page).to_have_url(ui_url(agent, "/jobs"))

    page.goto(ui_url(agent, "/submit"))
    page.fill("#params", "!!fake.sleep seconds:'2")
    page.click("#submit")
    expect(page.locator("#error-params")).to_contain_text("line 1")
    shot(page, "submit-error")


def test_schedules_page_follows_runs_and_pauses_and_dead_jobs_retry_in_bulk(web_agent: StartAgent, page: Page) -> None:
    agent = web_agent(ui={"password": PASSWORD, "api_token": TOKEN}, scheduler={"lease_seconds": 1.0})
    jm = agent.get_job_manager()
    log_in(page, agent)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body: dict[str, str | float] = {"name": "beat", "topic": "beats", "params": "!!fake.return_success", "every": 0.5}
    assert requests.post(ui_url(agent, "/api/schedules"), json=body, headers=headers, timeout=5).status_code == 201

    page.goto(ui_url(agent, "/schedules"))
    mark_page(page)
    row = page.locator('tr[data-schedule="beat"]')
    expect(row.locator("td.recent a")).not_to_have_count(0, timeout=10_000)  # runs appear without a reload
    expect(page.locator('tr[data-schedule="upkeep.sweep"]')).to_be_visible()
    row.locator("button", has_text="Pause").click()
    expect(row.locator(".tag.paused")).to_be_visible(timeout=5_000)
    assert agent.get_schedules().get("beat").paused
    assert_not_reloaded(page)
    shot(page, "schedules")

    failed = jm.create_jobs([{"topic": "flaky", "params": "!!fake.return_error"} for _ in range(2)])
    for job in failed:
        jm.wait_for_job(job.job_id, timeout=10)
    page.goto(ui_url(agent, "/jobs?status=error&topic=flaky"))
    expect(page.locator("form.dead")).to_contain_text("2 dead jobs")
    page.click("#retry-dead")
    expect(page.locator("#bulk-question")).to_contain_text("Retry 2 jobs matching status error,timeout, topic flaky?")
    page.click("#bulk-confirm")
    expect(page).to_have_url(ui_url(agent, "/jobs?status=error&topic=flaky"), timeout=10_000)
    expect(page.locator("#bulk-notice")).to_have_text("Queued again 2 jobs.")
    assert wait_until(lambda: all(jm.get_job(j.job_id).retries == 1 for j in failed), timeout=10)


def test_queue_buttons_pause_and_resume_and_a_phone_sized_layout(web_agent: StartAgent, page: Page) -> None:
    """Issue 12: the overview's queue rows pause and resume a topic (with a confirm for clear); the pages
    fit a 390 px wide screen without a horizontal scroll of the whole page."""
    agent = web_agent()
    jm = agent.get_job_manager()
    jm.pause_topic("phone", create=True)
    waiting = jm.create_job("phone", "!!fake.return_success")
    page.goto(ui_url(agent, "/"))
    row = page.locator('tr[data-topic="phone"]')
    expect(row.locator(".tag.paused")).to_be_visible()
    row.locator('button[data-action="resume"]').click()
    expect(page.locator("p.notice")).to_contain_text("Resumed phone.")
    assert jm.wait_for_job(waiting.job_id, timeout=15).status is JobStatus.DONE
    page.locator('tr[data-topic="phone"] button[data-action="clear"]').click()  # the dialog is accepted
    expect(page.locator("p.notice")).to_contain_text("Cleared phone.")
    page.set_viewport_size({"width": 390, "height": 800})
    for path in ("/", "/jobs", "/schedules", "/submit"):
        page.goto(ui_url(agent, path))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, (path, width)
    shot(page, "overview-390px")


def test_worker_drain_button_and_limits_on_the_overview(web_agent: StartAgent, page: Page) -> None:
    """Issue 12: a worker row's Drain button (confirmed) drains the pool; Resume lets it serve again; a
    topic's limits show on its queue row."""
    agent = web_agent()
    jm = agent.get_job_manager()
    jm.create_job("limited", "!!fake.return_success")
    jm.set_topic_limits("limited", max_running=1, rate="10/second")
    page.goto(ui_url(agent, "/"))
    expect(page.locator('tr[data-topic="limited"] .tag.limits')).to_have_text("max 1 running, 10/second")
    pool_id = agent.local_pool_id()
    page.locator(f'tr[data-worker="{pool_id}"] button[data-worker-action="drain"]').click()  # confirm accepted
    expect(page.locator("p.notice")).to_contain_text(f"Draining {pool_id}")
    assert wait_until(lambda: agent.jobs.pool.draining, timeout=15)  # type: ignore[union-attr]
    held = jm.create_job("limited", "!!fake.return_success")
    page.goto(ui_url(agent, "/"))
    expect(page.locator(f'tr[data-worker="{pool_id}"] .tag.draining')).to_be_visible()
    assert jm.get_job(held.job_id).status is JobStatus.NEW  # a drained pool takes nothing
    page.locator(f'tr[data-worker="{pool_id}"] button[data-worker-action="resume"]').click()
    expect(page.locator("p.notice")).to_contain_text(f"{pool_id} serves again")
    assert jm.wait_for_job(held.job_id, timeout=20).status is JobStatus.DONE


def test_suspend_and_resume_buttons_on_the_job_page(web_agent: StartAgent, page: Page) -> None:
    """Issue 12: a running job's page has Suspend; once suspended, Resume; the status shows each step."""

    @heroagent.actor("napper", isolation="process")
    class Napper:
        def run(self, seconds: str = "3") -> str:
            time.sleep(float(seconds))
            return "rested"

    agent = web_agent()
    jm = agent.get_job_manager()
    job = jm.create_job("naps", "!!napper.run seconds:3", timeout=30)
    assert wait_until(lambda: jm.get_job(job.job_id).status is JobStatus.ACTIVE, timeout=15)
    page.goto(ui_url(agent, f"/jobs/{job.job_id}"))
    page.locator("button#suspend").click()
    expect(page.locator("#notice")).to_contain_text("Suspend requested")
    expect(page.locator("#job-status")).to_have_text("suspended", timeout=15_000)
    page.locator("button#resume").click()
    expect(page.locator("#job-status")).to_have_text("done", timeout=20_000)
    assert [v.status.value for v in jm.get_history(job.job_id)][-3:] == ["resuming", "active", "done"]


# ------------------------------------------------------------------ every page at a phone's and a desktop's size

SCREENS = SHOTS.parent / "screens"  # test-artifacts/screens/<page>-<width>x<height>.png
SIZES = ((390, 844), (1280, 800))
LONG_TOPIC = "a-rather-long-topic-name-that-would-not-fit-on-a-phone-screen-at-all"

# What is wrong with the page's layout: the page scrolls sideways, a visible element is wider than the
# viewport or sticks out of it, a control has no name a screen reader (or a person) can go by.
LAYOUT_PROBLEMS = """() => {
  const width = window.innerWidth;
  const out = [];
  const page = document.scrollingElement.scrollWidth;
  if (page > width) out.push(`the page is ${page} px wide`);
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  for (const el of document.body.querySelectorAll('*')) {
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    if (r.width > width + 0.5 || r.left < -0.5 || r.right > width + 0.5) {
      out.push(`${name(el)} spans ${Math.round(r.left)}..${Math.round(r.right)} px`);
    }
  }
  for (const el of document.querySelectorAll('button, select, textarea, input:not([type=hidden]), a[href]')) {
    if (!el.checkVisibility()) continue;
    const label = el.getAttribute('aria-label') || (el.labels && el.labels.length) || el.textContent.trim() ||
      el.getAttribute('title') || el.getAttribute('placeholder');
    if (!label) out.push(`${name(el)} has no label`);
  }
  return out.slice(0, 20);
}"""


def the_pages(agent: HeroAgent) -> dict[str, str]:
    """Every page, with content on it: queues (one paused, one with a long name), workers, finished and dead
    jobs, a schedule, a script. Name -> path."""
    jm = agent.get_job_manager()
    done = jm.create_job("reports", "!!fake.return_success message:fine", circle_id="circle-" + "x" * 40)
    dead = jm.create_job(LONG_TOPIC, "!!fake.return_error message:'" + "disk full " * 30 + "'")
    jm.pause_topic("held", create=True)
    jm.create_jobs([{"topic": "held", "params": "!!fake.return_success"}] * 2)
    for topic in ("alpha", "beta", "gamma", "delta"):
        jm.create_job(topic, "!!fake.return_success")
    jm.set_topic_limits("alpha", max_running=2, rate="5/second")
    flow = jm.group(  # a group with a long layer and a callback (issue 29, item 6)
        [{"topic": "batch", "params": "!!fake.return_success"} for _ in range(30)],
        on_complete={"topic": "batch", "params": "!!fake.return_success"},
    )
    diamond = jm.create_jobs(
        [
            {"topic": "dia", "params": "!!fake.skip", "group": "diamond"},
            {"topic": "dia", "params": "!!fake.return_success", "depends_on": ["@0"], "group": "diamond"},
            {"topic": "dia", "params": "!!fake.return_success", "depends_on": ["@0"], "group": "diamond"},
            {"topic": "dia", "params": "!!fake.return_success", "depends_on": ["@1", "@2"], "group": "diamond"},
        ]
    )
    for job in (done, dead, *diamond):
        jm.wait_for_job(job.job_id, timeout=15)
    assert flow.on_complete is not None
    jm.wait_for_job(flow.on_complete.job_id, timeout=15)
    agent.get_schedules().add_from(
        {"name": "nightly-report", "topic": "reports", "params": "!!fake.return_success", "cron": "0 3 * * *"}
    )
    share = agent.config.share_root
    assert share is not None
    (share / "scripts" / "hello.sh").write_text('#!/bin/sh\necho "hello"\n')
    return {
        "overview": "/",
        "jobs": "/jobs",
        "job": f"/jobs/{dead.job_id}",
        "waiting-job": f"/jobs/{diamond[3].job_id}",
        "group": f"/groups/{flow.group}",
        "diamond": "/groups/diamond",
        "dead": "/jobs?status=error,timeout",
        "schedules": "/schedules",
        "scripts": "/scripts",
        "submit": "/submit",
    }


def test_every_page_fits_a_phone_and_a_desktop(web_agent: StartAgent, browser: Browser) -> None:
    """Issue 30, item 1: at 390x844 and 1280x800 no page scrolls sideways, no element is wider than the
    screen, every control has a label and every queue's buttons are on screen; screenshots of each page."""
    agent = web_agent()
    pages = the_pages(agent)
    SCREENS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    for width, height in SIZES:
        context = browser.new_context(viewport={"width": width, "height": height})
        tab = context.new_page()
        tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        try:
            for name, path in pages.items():
                tab.goto(ui_url(agent, path))
                expect(tab.locator("h1")).to_be_visible()
                problems = tab.evaluate(LAYOUT_PROBLEMS)
                assert problems == [], (name, width, problems)
                tab.screenshot(path=str(SCREENS / f"{name}-{width}x{height}.png"), full_page=True)
            tab.goto(ui_url(agent, "/"))
            buttons = tab.locator("#queues button")
            assert buttons.count() >= 4 * 6  # six topics, three or four buttons each
            for i in range(buttons.count()):
                box = None
                for _ in range(5):  # the 1 s refresh may swap the row out between the scroll and the look
                    button = buttons.nth(i)
                    button.scroll_into_view_if_needed()
                    box = button.bounding_box()
                    if box is not None:
                        break
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (i, box)
                assert box["y"] >= 0 and box["y"] + box["height"] <= height + 1, (i, box)  # + a sub-pixel
            tab.goto(ui_url(agent, pages["dead"]))
            tab.click("#delete-dead")  # the bulk confirmation is a page too
            expect(tab.locator("#bulk-question")).to_contain_text("Delete 1 job matching")
            problems = tab.evaluate(LAYOUT_PROBLEMS)
            assert problems == [], ("bulk", width, problems)
            tab.screenshot(path=str(SCREENS / f"bulk-confirm-{width}x{height}.png"), full_page=True)
        finally:
            context.close()
        assert not errors, errors


def test_a_group_page_draws_its_jobs_in_layers(web_agent: StartAgent, page: Page) -> None:
    """Issue 29, item 6: a diamond is three layers (1, 2, 1), each job a link with its status; a job page
    links its parents and its group; the callback is named."""
    agent = web_agent()
    jm = agent.get_job_manager()
    a, b, c, d = jm.create_jobs(
        [
            {"topic": "dg", "params": "!!fake.return_success", "group": "dg"},
            {"topic": "dg", "params": "!!fake.return_success", "depends_on": ["@0"], "group": "dg"},
            {"topic": "dg", "params": "!!fake.return_success", "depends_on": ["@0"], "group": "dg"},
            {"topic": "dg", "params": "!!fake.return_success", "depends_on": ["@1", "@2"], "group": "dg"},
        ]
    )
    jm.wait_for_job(d.job_id, timeout=15)
    assert wait_until(lambda: jm.get_group("dg")["done"] == 4)
    page.goto(ui_url(agent, "/groups/dg"))
    expect(page.locator("#group-progress")).to_contain_text("4 of 4 ended")
    layer_sizes = page.evaluate("() => [...document.querySelectorAll('.graph .layer')].map(l => l.children.length)")
    assert layer_sizes == [1, 2, 1]
    expect(page.locator(".graph .layer").nth(2)).to_contain_text(f"#{d.job_id} done")
    title = page.locator(".graph .layer").nth(2).locator("a").get_attribute("title")
    assert title is not None and f"after #{b.job_id}, #{c.job_id}" in title
    page.click(f"text=#{d.job_id} done")
    expect(page.locator("#job-parents")).to_contain_text(f"#{b.job_id}")
    page.click("#job-group")
    expect(page.locator("h1")).to_contain_text("dg")
    assert jm.children(a.job_id) == [b.job_id, c.job_id] and jm.children(d.job_id) == []
    page.goto(ui_url(agent, f"/jobs/{a.job_id}"))
    expect(page.locator("#job-children")).to_contain_text(f"#{b.job_id}, #{c.job_id}")
    page.goto(ui_url(agent, "/groups/nosuchgroup"))
    expect(page.locator("body")).to_contain_text("no job has it")
    assert a.job_id < b.job_id


def test_desktop_queue_rows_are_aligned(web_agent: StartAgent, page: Page) -> None:
    """Issue 30, item 1: each cell of a queue row has the row's top and bottom (no staggered borders)."""
    agent = web_agent()
    jm = agent.get_job_manager()
    jm.pause_topic("aligned", create=True)
    jm.create_job("aligned", "!!fake.return_success")
    page.goto(ui_url(agent, "/"))
    edges = page.evaluate(
        """() => [...document.querySelectorAll('#queues tbody tr')].map(tr =>
             [...tr.children].map(td => { const r = td.getBoundingClientRect(); return [r.top, r.bottom]; }))"""
    )
    assert edges
    for row in edges:
        assert len({round(top) for top, _ in row}) == 1 and len({round(bottom) for _, bottom in row}) == 1, row


def test_bulk_delete_of_ticked_jobs_keeps_the_filter(web_agent: StartAgent, page: Page) -> None:
    """Issue 30, item 2: tick jobs (the ticks survive the list's refresh), Delete, confirm naming the count,
    and land on the same filtered list with the result."""
    agent = web_agent()
    jm = agent.get_job_manager()
    jobs = jm.create_jobs([{"topic": "tidy", "params": "!!fake.return_success"}] * 3)
    for job in jobs:
        jm.wait_for_job(job.job_id, timeout=15)
    page.goto(ui_url(agent, "/jobs?topic=tidy&status=done"))
    for job in jobs[:2]:
        page.check(f"#pick-{job.job_id}")
    page.wait_for_timeout(2_500)  # the list refreshes every 2 s; the ticks stay
    assert page.is_checked(f"#pick-{jobs[0].job_id}") and page.is_checked(f"#pick-{jobs[1].job_id}")
    page.click("#bulk-delete")
    expect(page.locator("#bulk-question")).to_contain_text("Delete 2 jobs selected on the list?")
    shot(page, "bulk-confirm")
    page.click("#bulk-confirm")
    expect(page).to_have_url(ui_url(agent, "/jobs?status=done&topic=tidy"))
    expect(page.locator("#bulk-notice")).to_have_text("Deleted 2 jobs.")
    expect(page.locator("tr[data-jobid]")).to_have_count(1)
    assert jm.get_job(jobs[2].job_id).status is JobStatus.DONE


@pytest.mark.parametrize(
    ("ui", "mode"),
    [({"password": PASSWORD, "api_token": TOKEN}, "stream"), ({"api_token": TOKEN}, "polling")],
    ids=["logged-in: the stream", "token only: polling"],
)
def test_the_live_parts_follow_the_event_stream_or_poll_without_it(
    web_agent: StartAgent, page: Page, ui: dict[str, str], mode: str
) -> None:
    """static/live.js opens the event stream and refreshes the jobs list when its events come; a browser the
    API would refuse (a token, no login) gets no stream URL and polls instead. Either way rows update live."""
    agent = web_agent(ui=ui)
    if "password" in ui:
        log_in(page, agent)
    page.goto(ui_url(agent, "/jobs"))
    expect(page.locator("body")).to_have_attribute("data-live-mode", mode)
    mark_page(page)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"topic": "events", "params": "!!fake.return_success"}
    created = requests.post(ui_url(agent, "/api/jobs"), json=body, headers=headers, timeout=5).json()
    if mode == "stream":
        expect(page.locator("body")).to_have_attribute("data-live-event", re.compile(r"^[0-9a-f]{8}-[0-9]+$"))
    row = page.locator(f'tr[data-jobid="{created["job_id"]}"]')
    expect(row.locator(".status")).to_have_text("done")
    assert_not_reloaded(page)
