"""`GET /api/events`: the job system's live event feed (jobs/server/feed.py) as Server-Sent Events.

A stream holds one of the HTTP server's threads (cheroot serves WSGI from a thread pool) for as long as it is
open, so the streams are kept in bounds:
- at most `EventStreams.limit` at once (the UI server gives half its threads); one more is a 503 with
  Retry-After, so the other half always serves pages and the API;
- each ends after `STREAM_SECONDS`. The browser's EventSource then connects again by itself after the
  `retry:` the stream gave, sending the last id it saw (`Last-Event-ID`), and misses nothing the feed holds;
- a comment every `HEARTBEAT_SECONDS` keeps proxies from closing a quiet stream; a client that went away is
  found within `CLIENT_CHECK_SECONDS` (the server's socket shows its end of file: http_server.client_gone),
  or by a write failing, and its thread is free again. A page left for another leaves its stream so, and a
  dashboard clicked through quickly would otherwise fill the slots with streams nobody reads: a stream that
  finds every slot taken also waits that long for one to free before it is refused;
- the server's stop ends every stream at once (`EventStreams.close`, called before cheroot's stop, which
  would otherwise wait for the threads).

Each frame carries an id (`<feed token>-<seq>`); heartbeats and the opening frame carry the reader's place
too (an id with no data dispatches nothing, but moves the EventSource's last id), so a filtered stream that
saw nothing it wanted still resumes where it was. Events are `event: job` with the job's compact state as
JSON, and `event: reset` when the reader may have missed events (its Last-Event-ID is from before a restart,
or it fell further behind than the feed holds): it should reload what it shows.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from flask import Response, current_app, g, request, url_for

from heroagent.errors import InvalidInputError, ServiceError
from heroagent.http_server import CLIENT_GONE
from heroagent.jobs.errors import InvalidJobError
from heroagent.jobs.model import JobStatus, parse_statuses
from heroagent.jobs.server.feed import EventFeed, FeedEvent
from heroagent.schema.filters import EVENT_FILTERS
from heroagent.web.auth import cross_site, logged_in, ui_config
from heroagent.web.context import current_manager
from heroagent.web.errors import api_error

STREAMS = "heroagent.event_streams"  # the app's extension holding its EventStreams
STREAM_SECONDS = 120.0  # a stream ends after this; the client connects again at once (see the module's text)
HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000  # what the browser waits before it connects again after a stream ended or dropped
READ_BATCH = 500  # events taken from the feed at a time
BUSY_RETRY_AFTER = 10  # seconds: a 503's Retry-After when every stream slot is taken
CLIENT_CHECK_SECONDS = 1.0  # how often a quiet stream looks whether its client is still there (a poll: ~10 us)
# Where to start, in the query: what a page gives its EventSource, which cannot send Last-Event-ID itself the
# first time (the header, sent by every reconnect, wins over it).
START = "last_event_id"
PARAMETERS = frozenset([*EVENT_FILTERS.names(), START])
PLACE = "heroagent_events_place"  # flask.g: the feed's place when a page request began (see `remember_place`)


class EventStreams:
    """The app's open event streams: how many may be open at once, and the stop that ends them all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[EventFeed, int] = {}  # the feeds open streams wait on, with how many wait on each
        self._lock = threading.Condition()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def count(self) -> int:
        with self._lock:
            return sum(self._open.values())

    def enter(self, feed: EventFeed, wait: float = 0.0) -> bool:
        """Take a slot for a stream on `feed`, waiting up to `wait` seconds for one to free; False when all
        stay taken (or the server stops)."""
        with self._lock:
            self._lock.wait_for(lambda: self._closed or sum(self._open.values()) < self.limit, timeout=wait)
            if self._closed or sum(self._open.values()) >= self.limit:
                return False
            self._open[feed] = self._open.get(feed, 0) + 1
            return True

    def leave(self, feed: EventFeed) -> None:
        with self._lock:
            left = self._open.get(feed, 0) - 1
            if left > 0:
                self._open[feed] = left
            else:
                self._open.pop(feed, None)
            self._lock.notify()

    def close(self) -> None:
        """End every stream now and open no more: the server stops (its threads must not wait for them)."""
        with self._lock:
            self._closed = True
            feeds = list(self._open)
            self._lock.notify_all()
        for feed in feeds:
            feed.wake()


@dataclass(frozen=True)
class EventFilter:
    """Which events a stream sends (schema/filters.py EVENT_FILTERS): each filter given must match."""

    topic: str = ""
    job: int = 0
    group: str = ""
    statuses: frozenset[JobStatus] = frozenset()

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> EventFilter:
        """Raise InvalidJobError (a 400) naming the parameter when one is bad or is not a filter."""
        unknown = sorted(set(args) - PARAMETERS)
        if unknown:
            raise InvalidJobError(
                f"{unknown[0][:80]}: not a filter of the event stream; use {', '.join(sorted(PARAMETERS))}"
            )
        given: dict[str, str | int] = {}
        for name in EVENT_FILTERS.names():
            raw = args.get(name, "").strip()
            if raw:
                given[name] = _whole_number(name, raw) if name == "job" else raw
        try:
            EVENT_FILTERS.check(given)
        except InvalidInputError as exc:
            raise InvalidJobError(str(exc)) from None
        status = str(given.get("status", ""))
        return cls(
            topic=str(given.get("topic", "")),
            job=int(given.get("job", 0)),
            group=str(given.get("group", "")),
            statuses=frozenset(parse_statuses(status)) if status else frozenset(),
        )

    def matches(self, event: FeedEvent) -> bool:
        return (
            (not self.topic or event.topic == self.topic)
            and (not self.job or event.job_id == self.job)
            and (not self.group or event.group == self.group)
            and (not self.statuses or event.status in self.statuses)
        )


def _whole_number(name: str, raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise InvalidJobError(f"{name}: {raw[:40]!r} must be a job id (a whole number from 1)")
    return int(raw)


def event_stream_response() -> Response | tuple[Response, int]:
    """The view of `GET /api/events` (api.py declares it): a stream, or why not (400, 403, 503)."""
    if cross_site():
        return api_error(
            403,
            "the event stream is refused to a page of another site (its Origin is not this server's); open it "
            "from this dashboard, or from a program that sends no Origin",
        )
    wanted = EventFilter.from_args(request.args)
    feed = current_manager().events  # a 503 when the job system is not running
    streams: EventStreams = current_app.extensions[STREAMS]
    if not streams.enter(feed, wait=CLIENT_CHECK_SECONDS * 1.5):  # a stream whose client left frees its slot
        busy = (
            "the server is stopping; connect again once it is back"
            if streams.closed
            else f"too many event streams are open ({streams.limit}, the most this server holds: each holds one of "
            f"its threads); close one (a dashboard tab, a `heroagent job watch`) or try again in {BUSY_RETRY_AFTER} s"
        )
        response, status = api_error(503, busy)
        response.headers["Retry-After"] = str(RETRY_MS // 1000 if streams.closed else BUSY_RETRY_AFTER)
        return response, status
    try:
        start = feed.resume(request.headers.get("Last-Event-ID") or request.args.get(START))
        gone: Callable[[], bool] = request.environ.get(CLIENT_GONE) or (lambda: False)
        frames = _frames(feed, streams, wanted, start.after, start.reset, gone)
        response = Response(frames, mimetype="text/event-stream")
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Accel-Buffering"] = "no"  # a proxy (nginx) must pass each frame on as it comes
        response.call_on_close(lambda: streams.leave(feed))  # however it ends: done, dropped, never started
    except BaseException:
        streams.leave(feed)
        raise
    return response


def remember_place() -> None:
    """Before a page's request: the feed's place now, before the page reads the jobs it shows. The page opens
    its stream from there (`page_events_url`), so an event recorded while the page loads still refreshes it
    (a stream opened without a place starts with what comes after it connects, seconds later)."""
    if request.method != "GET" or request.path.startswith(("/api/", "/static/")) or request.path == "/metrics":
        return
    try:
        feed = current_manager().events
    except ServiceError:
        return  # no job system: the page has no stream to open
    setattr(g, PLACE, feed.event_id(feed.last))


def page_events_url() -> str:
    """Where the page being rendered opens its event stream, from the place `remember_place` took; '' when
    this browser may not (the API wants a token or a login this session lacks: [ui] api_token without a
    password). The page then polls instead (static/live.js)."""
    ui = ui_config()
    place = getattr(g, PLACE, None)
    if place is None or ((ui.password or ui.api_token) and not logged_in()):
        return ""
    return url_for("api.events", **{START: place})


def _frames(
    feed: EventFeed,
    streams: EventStreams,
    wanted: EventFilter,
    after: int,
    reset: str,
    client_gone: Callable[[], bool] = lambda: False,
) -> Iterator[bytes]:
    """The stream's bytes: the opening frame, a reset if the reader may have missed events, then each event
    after `after` that `wanted` matches, as the feed gets them, with heartbeats, until the stream's time is up,
    the client is gone or the server stops. Runs in the server's thread after the view returned (no request
    context)."""
    yield f"retry: {RETRY_MS}\nid: {feed.event_id(after)}\n\n".encode()
    if reset:
        yield _reset_frame(feed, after, reset, None)
    now = time.monotonic()
    deadline, beat, check = now + STREAM_SECONDS, now + HEARTBEAT_SECONDS, now + CLIENT_CHECK_SECONDS
    while not streams.closed:
        read = feed.read(after, READ_BATCH)
        if read.missed:
            why = (
                f"{read.missed} event(s) after {feed.event_id(after)} are no longer held "
                f"(the feed keeps the newest {feed.capacity}); this reader fell behind"
            )
            yield _reset_frame(feed, after + read.missed, why, read.missed)
        if read.events:
            after = read.events[-1].seq
            frames = "".join(_event_frame(feed, event) for event in read.events if wanted.matches(event))
            if frames:
                yield frames.encode()
                beat = time.monotonic() + HEARTBEAT_SECONDS
        now = time.monotonic()
        if now >= deadline:
            break
        if read.events and len(read.events) == READ_BATCH:
            continue  # more are waiting
        if now >= beat:
            yield f": keep-alive\nid: {feed.event_id(after)}\n\n".encode()
            beat = now + HEARTBEAT_SECONDS
        if now >= check:
            if client_gone():
                return  # nobody reads it: the thread is free again
            check = now + CLIENT_CHECK_SECONDS
        if not read.events:
            feed.wait(after, min(deadline, beat, check) - now)
    yield f"id: {feed.event_id(after)}\n\n".encode()  # where to resume, however far a filtered stream read


def _event_frame(feed: EventFeed, event: FeedEvent) -> str:
    data = json.dumps(event.to_api(), separators=(",", ":"), ensure_ascii=False)
    return f"id: {feed.event_id(event.seq)}\nevent: job\ndata: {data}\n\n"


def _reset_frame(feed: EventFeed, at: int, reason: str, missed: int | None) -> bytes:
    """A reset at place `at`: the reader may have missed events (`missed`: how many, None: not known)."""
    data = json.dumps({"reason": reason, "missed": missed}, separators=(",", ":"), ensure_ascii=False)
    return f"id: {feed.event_id(at)}\nevent: reset\ndata: {data}\n\n".encode()
