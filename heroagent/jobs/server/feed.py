"""The live event feed: the last job state changes the history recorded, held in memory for `GET /api/events`.

Why in memory, fed by the recorder: every state change passes the recorder exactly once (the history records
each (job, version) once), so the feed has no duplicates and keeps the history's order, and it costs Redis
nothing. A second stream in Redis (written by every script, or by the recorder) would add a write per state
change to Redis, whose CPU per job is what bounds the job system. The price: the feed holds what this server
recorded since it started, and no more than `CAPACITY` events of it.

A reader names its place by an event's id, `<token>-<seq>`. `seq` counts this feed's events from 1; `token`
is made when the feed is (at each start of the jobs service), so an id from before a restart is recognised
as another feed's and answered with a reset (what happened in between is not known here), never taken for
a place in this one. A reader that fell more than `CAPACITY` events behind is told how many it missed.

An event keeps the facts a watcher needs (job id, version, topic, status, group, attempts, time, the start
of the error), never params or results: 10,000 of them take a few MB whatever the jobs carry.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from heroagent.jobs.history.store import RecordedEvent
from heroagent.jobs.model import JobStatus

CAPACITY = 10_000
ERROR_SHOWN = 200  # characters of a failed job's error an event carries (the job's API has all of it)
# The statuses whose event carries the job's error: a job that failed, timed out or was canceled (why).
_WITH_ERROR = frozenset({JobStatus.ERROR, JobStatus.TIMEOUT, JobStatus.CANCELED})

# A field of the event's JSON (written by the Lua scripts' cjson) is found by its key (bytes.find: a job's params
# and result may be megabytes, and a state change is not parsed whole for three fields: measured on jobs with
# 10 KB of params and result, a regex search took 29 us per event, the key's find and an anchored match 3 us),
# then its value is read where the key ends. Inside a string value every quote is escaped (\"group\":), so
# a key found is the job's own field.
_GROUP = (b'"group":"', re.compile(rb'((?:[^"\\]|\\.){0,2048})"'))
_ERROR = (b'"error":"', re.compile(rb'((?:[^"\\]|\\.){0,%d})' % (ERROR_SHOWN * 2)))
_UPDATED = (b'"updated_at":', re.compile(rb'"?([0-9.eE+-]{1,32})'))


class FeedEvent(NamedTuple):
    """One recorded state change, as the event stream shows it (a tuple: the recorder makes one per state)."""

    seq: int  # this feed's count, from 1
    job_id: int
    version: int
    topic: str
    status: JobStatus
    group: str
    attempts: int
    updated_at: float  # when the job took this state (unix seconds)
    error: str  # the start of a failed or canceled job's error ('' otherwise)

    def to_api(self) -> dict[str, Any]:
        """The event's JSON, each field named as the job's JSON names it (`GET /api/jobs/<id>`)."""
        return {
            "job_id": self.job_id,
            "version": self.version,
            "topic": self.topic,
            "status": self.status.value,
            "group": self.group,
            "attempts": self.attempts,
            "updated_at": self.updated_at,
            "error": self.error,
        }


@dataclass(frozen=True)
class FeedRead:
    """What `EventFeed.read` found after a place: the events (oldest first, at most the limit asked), and
    how many events right after that place the feed no longer holds (it keeps the newest CAPACITY)."""

    events: list[FeedEvent]
    missed: int


@dataclass(frozen=True)
class Resume:
    """Where a reader starts: after `after` (a seq of this feed), and, when its Last-Event-ID named no place
    in this feed, why (the reader must take it that it missed events: a restart, a feed of another server)."""

    after: int
    reset: str = ""


class EventFeed:
    """The newest `capacity` recorded events in a ring, and a condition readers wait on for more.

    One writer (the recorder's thread, through `add`), any number of readers (the HTTP server's threads)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("an event feed holds at least one event")
        self.capacity = capacity
        self.token = secrets.token_hex(4)  # this feed's, made at each start: ids of another run are known as such
        self._ring: list[FeedEvent | None] = [None] * capacity  # seq s at s % capacity
        self._last = 0  # seq of the newest event (0: none yet)
        self._changed = threading.Condition()

    @property
    def last(self) -> int:
        """The newest event's seq (0 while there is none)."""
        with self._changed:
            return self._last

    def event_id(self, seq: int) -> str:
        """The id a stream gives the event (or place) `seq` of this feed."""
        return f"{self.token}-{seq}"

    def add(self, written: Sequence[RecordedEvent]) -> None:
        """Take the events the recorder just wrote (its `on_written`), in their order; wake the readers."""
        if not written:
            return
        facts = [_facts(event) for event in written]  # the patterns run before the lock is taken
        with self._changed:
            seq = self._last
            for event, (group, updated_at, error) in zip(written, facts, strict=True):
                seq += 1
                self._ring[seq % self.capacity] = FeedEvent(
                    seq,
                    event.job_id,
                    event.version,
                    sys.intern(event.topic),
                    event.status,
                    group,
                    event.attempts,
                    updated_at,
                    error,
                )
            self._last = seq
            self._changed.notify_all()

    def read(self, after: int, limit: int) -> FeedRead:
        """Up to `limit` events after seq `after`, oldest first, and how many after it are gone from the ring."""
        with self._changed:
            oldest = max(1, self._last - self.capacity + 1)
            start = max(after + 1, oldest)
            end = min(self._last, start + limit - 1)
            events = [self._ring[seq % self.capacity] for seq in range(start, end + 1)]
        return FeedRead([e for e in events if e is not None], max(0, start - after - 1))

    def wait(self, after: int, timeout: float) -> bool:
        """Block until an event after seq `after` is held, `wake()` is called or `timeout` seconds pass;
        whether there is such an event now."""
        with self._changed:
            if self._last <= after and timeout > 0:
                self._changed.wait(timeout)
            return self._last > after

    def wake(self) -> None:
        """Wake every waiting reader (a stream being stopped then looks at its stop flag)."""
        with self._changed:
            self._changed.notify_all()

    def resume(self, last_event_id: str | None) -> Resume:
        """Where a reader whose EventSource sent `last_event_id` (None: a new reader) starts.

        A new reader starts with what comes next. An id of this feed resumes right after it. Any other id
        (from before a restart, another server's, or no id of ours at all) cannot be placed: the reader
        gets every event this feed still holds, with a reset saying why."""
        last = self.last
        if last_event_id is None or not last_event_id.strip():
            return Resume(last)
        token, _, seq_text = last_event_id.strip().rpartition("-")
        if token == self.token and seq_text.isascii() and seq_text.isdigit() and int(seq_text) <= last:
            return Resume(int(seq_text))
        shown = json.dumps(last_event_id[:80])
        if token == self.token:
            why = f"the Last-Event-ID {shown} is past this feed's newest event ({self.event_id(last)})"
        elif re.fullmatch(r"[0-9a-f]{8}", token):
            why = f"the Last-Event-ID {shown} is of an earlier run of the server (it restarted since)"
        else:
            why = f"the Last-Event-ID {shown} is no event id of this server"
        return Resume(0, f"{why}: events since it may be missing; what follows is every event still held")


def _facts(event: RecordedEvent) -> tuple[str, float, str]:
    """(group, time of the state, start of the error) of a recorded event, read from its JSON."""
    raw = event.json
    found = _field(raw, _GROUP)
    group = sys.intern(_text(found)) if found else ""
    found = _field(raw, _UPDATED)
    try:
        updated_at = float(found) if found else event.time_end or time.time()
    except ValueError:
        updated_at = time.time()
    found = _field(raw, _ERROR) if event.status in _WITH_ERROR else None
    return group, updated_at, _text(found)[:ERROR_SHOWN] if found else ""


def _field(raw: bytes, field: tuple[bytes, re.Pattern[bytes]]) -> bytes | None:
    """The value (as the JSON writes it) of the field whose key and value pattern `field` gives, or None."""
    key, value = field
    at = raw.find(key)
    if at < 0:
        return None
    found = value.match(raw, at + len(key))
    return found.group(1) if found else None


def _text(escaped: bytes) -> str:
    """A JSON string's inside as text (a cut escape at its end is dropped, not an error)."""
    if b"\\" not in escaped:
        return escaped.decode(errors="replace")
    while escaped:
        try:
            return str(json.loads(b'"' + escaped + b'"'))
        except ValueError:
            escaped = escaped[:-1]  # the cut fell inside an escape (\u00e or a lone backslash)
    return ""
