"""Issue 30, item 5: a job's values on its page. Text keeps its line breaks, JSON is a tree that folds, at most
64 KiB of either is shown (a 10 MB result too) and the whole value is a download; the log is shown from a
line's start and followed while the job runs. Flask's test client on a running agent; web/values.py alone."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

import heroagent
from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from heroagent.jobs.errors import JobFailed
from heroagent.jobs.server.manager import JobManager
from heroagent.web.values import MAX_NODES, PAGE_VALUE_LIMIT, head, json_tree
from tests.conftest import make_config, wait_until
from tests.web.webclient import make_client, text

BIG = 10 * 1024 * 1024


@heroagent.actor("bigvalues")
class BigValues:
    """Results of any size, with line breaks (a program's output)."""

    def text(self, size: str = "1") -> str:
        line = "a line of output that goes on for a while, 0123456789\n"
        return (line * (int(size) // len(line) + 1))[: int(size)]

    def echo(self, value: dict[str, Any]) -> dict[str, Any]:
        return value

    def fail(self, lines: str = "1") -> str:
        raise JobFailed("".join(f"problem {i}\n" for i in range(int(lines))))


@pytest.fixture
def running(data_dir: Path) -> Iterator[HeroAgent]:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"lease_seconds": 2.0})
    with HeroAgent(config) as agent:
        yield agent


@pytest.fixture
def client(running: HeroAgent) -> FlaskClient:
    return make_client(running)


def finished(jm: JobManager, job_id: int) -> None:
    """The job's final state is in the history (its page stops refreshing)."""
    jm.wait_for_job(job_id, timeout=30)
    assert wait_until(lambda: (s := jm.store.status_of(job_id)) is not None and s.terminal, timeout=15)


def test_json_params_and_result_are_trees_that_fold_and_download_whole(client: FlaskClient, running: HeroAgent) -> None:
    jm = running.get_job_manager()
    value = {"message": "hi", "nested": {"list": [1, 2.5, True, None, "x"], "empty": {}}, "deep": {"a": {"b": {}}}}
    params = {"value": value}
    job = jm.create_job("trees", json.dumps(params), params_type="json", action="bigvalues.echo")
    finished(jm, job.job_id)
    page = client.get(f"/jobs/{job.job_id}").get_data(as_text=True)
    tree = page.split('id="params"')[1].split("</div>")[0]
    assert tree.count("<details") == 6 and tree.count('<details class="json-fold" open>') == 2  # 2 levels open
    assert '<span class="json-key">&#34;nested&#34;</span>' in tree and '<span class="json-lit">null</span>' in tree
    assert '<span class="json-punct">{}</span>' in tree and 'data-close="]"' in tree and "5 items" in tree
    download = client.get(f"/jobs/{job.job_id}/download/params")
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert download.headers["Content-Disposition"] == f'attachment; filename="job-{job.job_id}-params.json"'
    assert json.loads(download.get_data()) == params
    assert 'id="result-download"' in page and 'id="params-download"' in page
    result = page.split('<div class="json-tree" id="result">')[1].split("</div>")[0]
    assert result.count("<details") == 5 and "&#34;message&#34;" in result


def test_a_10_mb_result_shows_64_kib_as_text_and_downloads_whole(client: FlaskClient, running: HeroAgent) -> None:
    jm = running.get_job_manager()
    job = jm.create_job("big", f"!!bigvalues.text size:{BIG}", timeout=120)
    finished(jm, job.job_id)
    answer = client.get(f"/jobs/{job.job_id}")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and len(page) < PAGE_VALUE_LIMIT + 40_000  # the page holds 64 KiB of it
    assert 'id="result-cut"' in page and "more characters are in the download" in page
    assert "a line of output that goes on for a while, 0123456789\na line" in page  # its line breaks kept
    download = client.get(f"/jobs/{job.job_id}/download/result")
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith("attachment")
    body = download.get_data(as_text=True)
    assert len(json.loads(body)[0]) == BIG  # a heroscript job's result: what each action returned, whole


def test_a_long_error_keeps_its_line_breaks_and_downloads(client: FlaskClient, running: HeroAgent) -> None:
    jm = running.get_job_manager()
    job = jm.create_job("bad", "!!bigvalues.fail lines:20000", max_retries=0)
    finished(jm, job.job_id)
    page = client.get(f"/jobs/{job.job_id}").get_data(as_text=True)
    shown = page.split('<pre id="error" class="error-text">')[1].split("</pre>")[0]
    assert shown.startswith("problem 0\nproblem 1\n") and len(shown.encode()) <= PAGE_VALUE_LIMIT
    assert 'id="error-cut"' in page
    download = client.get(f"/jobs/{job.job_id}/download/error")
    assert download.mimetype == "text/plain" and download.get_data(as_text=True).count("\n") >= 19999


def test_downloads_of_what_is_not_there_are_404(client: FlaskClient, running: HeroAgent) -> None:
    jm = running.get_job_manager()
    job = jm.create_job("fine", "!!fake.return_success")
    finished(jm, job.job_id)
    assert client.get(f"/jobs/{job.job_id}/download/error").status_code == 404
    assert client.get(f"/jobs/{job.job_id}/download/log").status_code == 404  # created without a log
    assert client.get("/jobs/999999/download/params").status_code == 404
    assert client.get(f"/jobs/{job.job_id}/download/secrets").status_code == 404
    assert client.get(f"/jobs/{job.job_id}/download/params").status_code == 200


def stamped(i: int) -> str:
    return f"2030-01-01 00:00:00 line {i:06d} " + "y" * 40 + "\n"


def test_the_log_starts_at_a_line_and_is_followed_until_the_job_ends(client: FlaskClient, running: HeroAgent) -> None:
    jm = running.get_job_manager()
    jm.pause_topic("held", create=True)  # the job waits: its page follows its log
    job = jm.create_job("held", "!!fake.return_success", log=True)
    assert wait_until(lambda: jm.store.status_of(job.job_id) is not None, timeout=10)
    for i in range(2000):  # ~130 KB: more than a page shows
        jm.logs.append_raw(job.job_id, stamped(i))
    page = client.get(f"/jobs/{job.job_id}").get_data(as_text=True)
    log = page.split('<pre id="log">')[1].split("</pre>")[0]
    assert re.match(r"2030-01-01 00:00:00 line \d{6} y{40}\n", log)  # no part of a line first
    assert log.endswith(stamped(1999)) and len(log.encode()) <= PAGE_VALUE_LIMIT
    assert '<p class="muted" id="log-cut" >' in page
    follower = re.search(r'id="log-follow" class="muted" hx-get="([^"]+)" hx-trigger="every 1s"', page)
    assert follower
    jm.logs.append_raw(job.job_id, stamped(2000) + stamped(2001))
    jm.logs.append_raw(job.job_id, "2030-01-01 00:00:00 half a li")  # a line still being written
    answer = client.get(follower.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert '<div hx-swap-oob="beforeend:#log">' + stamped(2000) + stamped(2001) + "</div>" in answer
    nxt = re.search(r'hx-get="([^"]+)" hx-trigger="every 1s"', answer)
    assert nxt and "half a li" not in answer
    jm.logs.append_raw(job.job_id, "ne\n")
    answer = client.get(nxt.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "2030-01-01 00:00:00 half a line\n</div>" in answer
    nxt = re.search(r'hx-get="([^"]+)" hx-trigger="every 1s"', answer)
    assert nxt
    for i in range(3000):  # more than a page at once: the log is shown again from its end
        jm.logs.append_raw(job.job_id, stamped(10_000 + i))
    answer = client.get(nxt.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert '<div hx-swap-oob="innerHTML:#log">' in answer and 'id="log-cut" hx-swap-oob="true"' in answer
    assert stamped(12_999) in answer and stamped(2000) not in answer
    nxt = re.search(r'hx-get="([^"]+)" hx-trigger="every 1s"', answer)
    assert nxt
    jm.cancel_job(job.job_id)
    assert wait_until(lambda: jm.store.status_of(job.job_id) is JobStatus.CANCELED, timeout=10)
    answer = client.get(nxt.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "hx-trigger" not in answer and "The job has ended" in answer  # following stops
    assert "canceled" in answer  # the last lines, the cancel's own
    page = client.get(f"/jobs/{job.job_id}").get_data(as_text=True)
    assert "hx-trigger" not in page.split('id="job-log"')[1]
    download = client.get(f"/jobs/{job.job_id}/download/log")
    assert download.status_code == 200 and download.get_data(as_text=True).count("\n") > 5000


@pytest.mark.parametrize("given", ["", "-1", "abc", "1" * 40, "١٢"])
def test_a_bad_follow_offset_is_a_400(client: FlaskClient, running: HeroAgent, given: str) -> None:
    job = running.get_job_manager().create_job("x", "!!fake.return_success", log=True)
    answer = client.get(f"/partials/jobs/{job.job_id}/log", query_string={"from": given})
    assert answer.status_code == 400 and "from:" in text(answer.get_data())


def test_head_cuts_at_64_kib_on_a_character() -> None:
    assert head("abc") == ("abc", 0)
    shown, left = head("é" * 100_000)  # two bytes each
    assert len(shown.encode()) == PAGE_VALUE_LIMIT and left == 100_000 - PAGE_VALUE_LIMIT // 2
    shown, left = head("a" + "€" * 30_000)  # three bytes each, after one: the cut falls inside a character
    assert len(shown.encode()) <= PAGE_VALUE_LIMIT and shown.endswith("€") and left == 30_001 - len(shown)


def test_the_tree_escapes_and_bounds_what_it_shows() -> None:
    tree = json_tree('{"<script>": "</span><b>", "text": "line 1\\nline 2"}')
    assert tree is not None and "<script>" not in tree and "<b>" not in tree and "&lt;script&gt;" in tree
    assert '<span class="json-str json-lines">line 1\nline 2</span>' in tree
    assert json_tree("[" * 100_000 + "]" * 100_000) is None  # past the parser's depth: shown as text
    deep = json_tree("[" * 200 + "]" * 200)
    assert deep is not None and '<span class="json-deep">' in deep
    wide = json_tree(json.dumps(list(range(20_000))))
    assert wide is not None and wide.count("<li>") == MAX_NODES - 1 and "more (the download has them)" in wide
    assert json_tree("not json {") is None and json_tree('"a string"') is None and json_tree("{bad") is None


def test_a_retry_from_the_page_follows_the_log_again(client: FlaskClient, running: HeroAgent) -> None:
    jm = running.get_job_manager()
    job = jm.create_job("again", "!!fake.return_success", log=True)
    finished(jm, job.job_id)
    page = client.get(f"/jobs/{job.job_id}").get_data(as_text=True)
    assert "The job has ended" in page and "hx-trigger" not in page.split('id="job-log"')[1]
    size = jm.logs.path(job.job_id).stat().st_size
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    answer = client.post(
        f"/jobs/{job.job_id}/retry", headers={"HX-Request": "true", "X-CSRF-Token": token.group(1)}
    ).get_data(as_text=True)
    follower = re.search(r'<p id="log-follow" class="muted" hx-swap-oob="true" hx-get="([^"]+)"', answer)
    assert follower and f"from={size}" in follower.group(1)
    url = follower.group(1).replace("&amp;", "&")
    lines = ""
    for _ in range(300):  # the follower's asks, until the retried job has ended and its lines are all there
        answer = client.get(url).get_data(as_text=True)
        lines += "".join(re.findall(r'<div hx-swap-oob="beforeend:#log">(.*?)</div>', answer, re.S))
        nxt = re.search(r'hx-get="([^"]+)" hx-trigger="every 1s"', answer)
        if nxt is None:
            break
        url = nxt.group(1).replace("&amp;", "&")
        time.sleep(0.05)  # a browser asks every second
    assert "The job has ended" in answer and "(attempt 2)" in lines and "recorded: done" in lines
