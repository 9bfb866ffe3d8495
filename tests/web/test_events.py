"""`GET /api/events` over real HTTP (cheroot on 127.0.0.1) against a real server: the live job events as
Server-Sent Events, their filters, resuming with Last-Event-ID after a dropped connection, the reset after a
restart, the cap on open streams, the Host/Origin and auth rules, and a stop with streams open.

Streams are read with http.client and with `requests` (stream=True). No figure of time is asserted: waits
are bounds on liveness only."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from heroagent.web import events as web_events
from heroagent.web.server import STREAMS
from tests.conftest import ui_url, wait_until
from tests.web.test_auth import login

StartAgent = Callable[..., HeroAgent]
TOKEN = "events-token-" + "e" * 20
PASSWORD = "events-password"
LIVENESS = 30.0  # seconds a read may wait for what must come


@dataclass
class Frame:
    """One text/event-stream frame: its fields (the last of each), data as JSON, and comments."""

    id: str | None = None
    event: str = ""
    data: Any = None
    comments: list[str] = field(default_factory=list)


class FrameReader:
    """Frames from a stream's body, read as its chunks come (any iterator of bytes)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.buffer = b""
        self.frames: list[Frame] = []
        self.ended = False

    def next_frame(self) -> Frame | None:
        """The next frame (None: the server ended the stream)."""
        while b"\n\n" not in self.buffer:
            chunk = next(self.chunks, b"")
            if not chunk:
                self.ended = True
                return None
            self.buffer += chunk
        block, self.buffer = self.buffer.split(b"\n\n", 1)
        frame = Frame()
        for line in block.decode().split("\n"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                frame.comments.append(value)
            elif name == "id":
                frame.id = value
            elif name == "event":
                frame.event = value
            elif name == "data":
                frame.data = json.loads(value)
        self.frames.append(frame)
        return frame

    def until(self, done: Callable[[list[Frame]], bool]) -> list[Frame]:
        """Read frames until `done(frames read so far)`; fail when the stream ends or stays silent too long."""
        deadline = time.monotonic() + LIVENESS
        while not done(self.frames):
            assert time.monotonic() < deadline, f"still waiting; frames so far: {self.frames}"
            assert self.next_frame() is not None, f"the stream ended; frames: {self.frames}"
        return self.frames

    def jobs(self) -> list[dict[str, Any]]:
        return [f.data for f in self.frames if f.event == "job"]

    def last_id(self) -> str | None:
        return next((f.id for f in reversed(self.frames) if f.id is not None), None)


class Stream(FrameReader):
    """GET /api/events over http.client (a raw HTTP/1.1 connection of its own)."""

    def __init__(self, agent: HeroAgent, query: str = "", headers: dict[str, str] | None = None) -> None:
        base = urlsplit(ui_url(agent, ""))
        self.conn = http.client.HTTPConnection(base.hostname or "", base.port, timeout=LIVENESS)
        self.conn.request("GET", f"/api/events{query}", headers=headers or {})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        super().__init__(iter(lambda: self.response.read1(65536), b""))

    def error(self) -> str:
        return str(json.loads(self.response.read())["error"])

    def close(self) -> None:
        self.conn.close()  # the connection drops: the server finds out at its next write


def statuses_by_job(events: list[dict[str, Any]]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for event in events:
        found.setdefault(event["job_id"], []).append(event["status"])
    return found


def seqs(frames: list[Frame]) -> list[int]:
    return [int(f.id.rpartition("-")[2]) for f in frames if f.event == "job" and f.id]


def ended(job_id: int, status: str = "done") -> Callable[[list[Frame]], bool]:
    """Whether the frames read hold this job's event of `status`."""
    return lambda frames: any(
        f.event == "job" and (f.data["job_id"], f.data["status"]) == (job_id, status) for f in frames
    )


@pytest.fixture
def agent(web_agent: StartAgent) -> HeroAgent:
    return web_agent()


def test_events_come_for_created_started_and_finished_jobs_and_filters_keep_theirs(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    streams = {
        "all": Stream(agent),
        "topic": Stream(agent, "?topic=alpha"),
        "group": Stream(agent, "?group=g1"),
        "status": Stream(agent, "?status=done,error"),
        "all of them": Stream(agent, "?topic=alpha&group=g1&status=done"),
    }
    assert {s.status for s in streams.values()} == {200}
    assert streams["all"].response.getheader("Content-Type", "").startswith("text/event-stream")
    a = jm.create_job("alpha", "!!fake.return_success", group="g1")
    b = jm.create_job("beta", "!!fake.return_error message:'disk full'", group="g1")
    c = jm.create_job("alpha", "!!fake.return_success")
    for job in (a, b, c):
        jm.wait_for_job(job.job_id, timeout=LIVENESS)
    last = jm.create_job("alpha", "!!fake.return_success", group="g1")  # matches every filter: read up to it
    for stream in streams.values():
        stream.until(ended(last.job_id))

    everything = streams["all"].jobs()
    assert statuses_by_job(everything) == {
        a.job_id: ["new", "active", "done"],
        b.job_id: ["new", "active", "error"],
        c.job_id: ["new", "active", "done"],
        last.job_id: ["new", "active", "done"],
    }
    numbers = seqs(streams["all"].frames)
    assert numbers == sorted(set(numbers))  # in order, none twice
    failed = next(e for e in everything if e["status"] == "error")
    assert "disk full" in failed["error"] and failed["topic"] == "beta" and failed["group"] == "g1"
    assert set(failed) == {"job_id", "version", "topic", "status", "group", "attempts", "updated_at", "error"}
    assert {e["version"] for e in everything if e["job_id"] == a.job_id} == {1, 2, 3}

    def kept(name: str) -> dict[int, list[str]]:
        return statuses_by_job(streams[name].jobs())

    assert set(kept("topic")) == {a.job_id, c.job_id, last.job_id}
    assert set(kept("group")) == {a.job_id, b.job_id, last.job_id}
    assert kept("status") == {a.job_id: ["done"], b.job_id: ["error"], c.job_id: ["done"], last.job_id: ["done"]}
    assert kept("all of them") == {a.job_id: ["done"], last.job_id: ["done"]}
    for stream in streams.values():
        stream.close()


def test_one_jobs_events_from_the_moment_the_stream_opens(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    jm.control_topic("held", "pause", create=True)
    job = jm.create_job("held", "!!fake.return_success")
    assert wait_until(lambda: jm.events.last >= 1)  # its "new" is recorded before the stream opens
    stream = Stream(agent, f"?job={job.job_id}")
    other = jm.create_job("held", "!!fake.return_success")
    jm.control_topic("held", "resume")
    stream.until(ended(job.job_id))
    assert jm.wait_for_job(other.job_id, timeout=LIVENESS).status is JobStatus.DONE
    assert statuses_by_job(stream.jobs()) == {job.job_id: ["active", "done"]}
    stream.close()


def test_sse_resumes_with_last_event_id_after_a_dropped_connection(agent: HeroAgent) -> None:
    """The issue's test: drop the connection, make more jobs, connect again with Last-Event-ID: exactly the
    events missed arrive, none twice, and the stream goes on live."""
    jm = agent.get_job_manager()
    first = Stream(agent)
    before = [jm.create_job("resume", "!!fake.return_success") for _ in range(2)]
    first.until(ended(before[-1].job_id))
    first.until(lambda frames: len(first.jobs()) == 6)
    seen_up_to = first.last_id()
    first.close()  # dropped

    missed = [jm.create_job("resume", "!!fake.return_success") for _ in range(3)]
    for job in missed:
        jm.wait_for_job(job.job_id, timeout=LIVENESS)
    assert wait_until(lambda: jm.events.last >= 15)  # all 15 states recorded while nobody listened

    again = requests.get(
        ui_url(agent, "/api/events"), headers={"Last-Event-ID": str(seen_up_to)}, stream=True, timeout=LIVENESS
    )
    assert again.status_code == 200
    second = FrameReader(again.iter_content(chunk_size=None))
    assert second.next_frame() == Frame(id=seen_up_to)  # the opening frame names the place it resumes from
    live = jm.create_job("resume", "!!fake.return_success")
    second.until(ended(live.job_id))
    assert [f for f in second.frames if f.event == "reset"] == []
    assert statuses_by_job(second.jobs()) == {
        **{job.job_id: ["new", "active", "done"] for job in missed},
        live.job_id: ["new", "active", "done"],
    }
    resumed = seqs(second.frames)
    assert resumed == list(range(int(str(seen_up_to).rpartition("-")[2]) + 1, resumed[-1] + 1))  # no gap, none twice
    assert not set(seqs(first.frames)) & set(resumed)
    again.close()


def test_an_id_from_before_a_restart_gets_a_reset_then_every_event_held(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    stream = Stream(agent)
    job = jm.create_job("restart", "!!fake.return_success")
    stream.until(ended(job.job_id))
    old_id = stream.last_id()
    stream.close()
    agent.stop()

    restarted = web_agent()  # the same data dir: the same history, a new feed
    jm = restarted.get_job_manager()
    after = jm.create_job("restart", "!!fake.return_success")
    assert wait_until(lambda: jm.events.last >= 3)
    resumed = Stream(restarted, headers={"Last-Event-ID": str(old_id)})
    resumed.until(ended(after.job_id))
    opening, reset = resumed.frames[:2]
    assert opening.id == f"{jm.events.token}-0" and str(old_id).split("-")[0] != jm.events.token
    assert reset.event == "reset" and reset.data["missed"] is None
    assert "earlier run of the server" in reset.data["reason"]
    assert statuses_by_job(resumed.jobs()) == {after.job_id: ["new", "active", "done"]}
    resumed.close()
    stranger = Stream(restarted, headers={"Last-Event-ID": "not-one-of-ours"})
    stranger.until(lambda frames: len(frames) >= 2)
    assert "no event id of this server" in stranger.frames[1].data["reason"]
    stranger.close()


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("?job=abc", "job"),
        ("?job=0", "job"),
        ("?job=99999999999999999999", "job"),
        ("?status=nope", "status"),
        ("?topic=" + "t" * 129, "topic"),
        ("?group=" + "g" * 257, "group"),
        ("?nope=1", "nope: not a filter of the event stream"),
        ("?topic=a&topic=b", "topic: given 2 times"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(agent: HeroAgent, query: str, named: str) -> None:
    answer = requests.get(ui_url(agent, f"/api/events{query}"), timeout=LIVENESS)
    assert answer.status_code == 400 and answer.json()["error"].startswith(named), answer.text


def metric(agent: HeroAgent, name: str) -> int:
    found = re.search(rf"^{name} (\d+)$", requests.get(ui_url(agent, "/metrics"), timeout=LIVENESS).text, re.M)
    assert found, name
    return int(found.group(1))


def test_too_many_streams_is_a_503_and_a_dropped_one_frees_its_slot(agent: HeroAgent) -> None:
    """A client that closed its connection frees its slot though nothing is written to it (the next heartbeat
    is 15 s away): the stream sees the socket's end of file (http_server.client_gone)."""
    assert metric(agent, "heroagent_event_streams_limit") == STREAMS
    open_ = [Stream(agent) for _ in range(STREAMS)]
    assert {s.status for s in open_} == {200}
    assert metric(agent, "heroagent_event_streams") == STREAMS
    refused = Stream(agent)
    assert refused.status == 503 and refused.response.getheader("Retry-After") == str(web_events.BUSY_RETRY_AFTER)
    assert "too many event streams are open" in refused.error()
    assert requests.get(ui_url(agent, "/api/health"), timeout=LIVENESS).status_code == 200  # the API still answers
    open_.pop().close()
    assert wait_until(lambda: metric(agent, "heroagent_event_streams") == STREAMS - 1, timeout=LIVENESS)
    another = Stream(agent)
    assert another.status == 200
    for stream in [*open_, another]:
        stream.close()
    assert wait_until(lambda: metric(agent, "heroagent_event_streams") == 0, timeout=LIVENESS)


def test_a_quiet_stream_beats_and_ends_with_its_place_and_the_next_one_goes_on(
    agent: HeroAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_events, "HEARTBEAT_SECONDS", 0.05)
    monkeypatch.setattr(web_events, "STREAM_SECONDS", 0.5)
    jm = agent.get_job_manager()
    job = jm.create_job("quiet", "!!fake.return_success")
    assert jm.wait_for_job(job.job_id, timeout=LIVENESS).status is JobStatus.DONE
    assert wait_until(lambda: jm.events.last >= 3)
    stream = Stream(agent, "?topic=elsewhere")
    while stream.next_frame() is not None:
        pass
    assert stream.ended and any("keep-alive" in f.comments for f in stream.frames)
    assert stream.frames[-1] == Frame(id=f"{jm.events.token}-3")  # the place, though it showed no event
    stream.close()


def test_host_and_origin_of_another_site_are_refused(agent: HeroAgent) -> None:
    port = agent.config.ui.port
    assert Stream(agent, headers={"Host": "evil.example"}).status == 421
    foreign = Stream(agent, headers={"Origin": "http://evil.example"})
    assert foreign.status == 403 and "another site" in foreign.error()
    assert Stream(agent, headers={"Sec-Fetch-Site": "cross-site"}).status == 403
    assert Stream(agent, headers={"Origin": f"http://127.0.0.1:{port + 1}"}).status == 403  # another port: another site
    ours = Stream(agent, headers={"Origin": f"http://127.0.0.1:{port}"})
    assert ours.status == 200
    ours.close()


def test_the_api_auth_rules_hold(web_agent: StartAgent) -> None:
    agent = web_agent(ui={"api_token": TOKEN, "password": PASSWORD})
    anonymous = Stream(agent)
    assert anonymous.status == 401 and "authentication required" in anonymous.error()
    assert Stream(agent, headers={"Authorization": "Bearer " + "w" * 32}).status == 401
    with_token = Stream(agent, headers={"Authorization": f"Bearer {TOKEN}"})
    assert with_token.status == 200
    with_token.close()
    browser, answer = login(agent, PASSWORD)
    assert answer.status_code == 302
    logged_in = browser.get(ui_url(agent, "/api/events"), stream=True, timeout=LIVENESS)
    assert logged_in.status_code == 200  # the dashboard's own session, as its EventSource sends it
    logged_in.close()
    page = browser.get(ui_url(agent, "/jobs"), timeout=LIVENESS).text
    place = re.search(r'data-events="/api/events\?last_event_id=([0-9a-f]{8}-[0-9]+)"', page)
    assert place and place.group(1) == f"{agent.get_job_manager().events.token}-0"  # where its stream starts
    assert 'data-events=""' in requests.get(ui_url(agent, "/login"), timeout=LIVENESS).text


def test_a_stop_with_streams_open_ends_them(web_agent: StartAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    """Streams that would run an hour without a write end when the server stops: cheroot's stop would wait
    for their threads, then cut them (a stream cut, or silent past LIVENESS, fails here)."""
    monkeypatch.setattr(web_events, "STREAM_SECONDS", 3600.0)
    monkeypatch.setattr(web_events, "HEARTBEAT_SECONDS", 3600.0)
    agent = web_agent()
    streams = [Stream(agent) for _ in range(3)]
    for stream in streams:
        assert stream.next_frame() is not None  # open and served
    stopping = threading.Thread(target=agent.stop)
    stopping.start()
    for stream in streams:
        while stream.next_frame() is not None:
            pass
        assert stream.ended and stream.frames[-1].id is not None  # a clean end with its place, not a cut
        stream.close()
    stopping.join(timeout=LIVENESS)
    assert not stopping.is_alive() and not agent.running


def test_the_openapi_document_describes_the_stream() -> None:
    from heroagent.schema.filters import EVENT_FILTERS
    from heroagent.web.openapi import openapi_document

    operation = openapi_document()["paths"]["/api/events"]["get"]
    assert [p["name"] for p in operation["parameters"]] == [*EVENT_FILTERS.names(), "last_event_id", "Last-Event-ID"]
    assert operation["parameters"][-1]["in"] == "header"
    assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"]
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    assert {"400", "401", "403"} <= set(operation["responses"])


def test_a_page_starts_its_stream_where_it_read_and_a_reconnects_header_wins(agent: HeroAgent) -> None:
    """A page gives its EventSource the place it read the jobs at (`last_event_id`, as it cannot send the
    header the first time): an event recorded while the page loads and its stream connects still comes."""
    jm = agent.get_job_manager()
    page = requests.get(ui_url(agent, "/jobs"), timeout=LIVENESS).text
    found = re.search(r'data-events="(/api/events\?last_event_id=[^"]+)"', page)
    assert found
    early = jm.create_job("page", "!!fake.return_success")
    jm.wait_for_job(early.job_id, timeout=LIVENESS)
    assert wait_until(lambda: jm.events.last >= 3)  # all recorded before the stream opens
    stream = Stream(agent, found.group(1).removeprefix("/api/events"))
    stream.until(ended(early.job_id))
    assert statuses_by_job(stream.jobs()) == {early.job_id: ["new", "active", "done"]}
    stream.close()
    newer = Stream(agent, found.group(1).removeprefix("/api/events"), headers={"Last-Event-ID": f"{jm.events.token}-3"})
    later = jm.create_job("page", "!!fake.return_success")
    newer.until(ended(later.job_id))
    assert statuses_by_job(newer.jobs()) == {later.job_id: ["new", "active", "done"]}  # after the header's place
    newer.close()
