"""The live event feed (jobs/server/feed.py) on its own: what an event keeps, the ring, the places readers name,
and the stream frames made from it (web/events.py) when a reader fell further behind than the ring holds."""

from __future__ import annotations

import json
import threading

import pytest

from heroagent.jobs.history.store import RecordedEvent
from heroagent.jobs.model import Job, JobStatus
from heroagent.jobs.server.feed import ERROR_SHOWN, EventFeed
from heroagent.web import events as web_events


def recorded(job_id: int, status: JobStatus = JobStatus.NEW, **fields: object) -> RecordedEvent:
    """The event the recorder would hand over for this state of a job (its JSON as the history stores it)."""
    job = Job(topic=str(fields.pop("topic", "demo")), params="!!fake.sleep", job_id=job_id, status=status)
    for name, value in fields.items():
        setattr(job, name, value)
    return RecordedEvent.from_job(job)


def test_an_event_keeps_the_facts_and_never_params_or_results() -> None:
    feed = EventFeed()
    error = 'disk "full"\n' + "x" * 5000
    feed.add(
        [
            recorded(7, JobStatus.ERROR, group="batch-1", attempts=2, version=4, updated_at=1700000000.25, error=error),
            recorded(8, JobStatus.DONE, result_text='["secret result"]', updated_at=1700000001.5),
        ]
    )
    first, second = feed.read(0, 10).events
    assert first.to_api() == {
        "job_id": 7,
        "version": 4,
        "topic": "demo",
        "status": "error",
        "group": "batch-1",
        "attempts": 2,
        "updated_at": 1700000000.25,
        "error": error[:ERROR_SHOWN],
    }
    assert (second.seq, second.status, second.error, second.group) == (2, JobStatus.DONE, "", "")
    assert "secret" not in json.dumps(second.to_api()) and "params" not in second.to_api()


def test_the_ring_keeps_the_newest_and_says_how_many_a_reader_missed() -> None:
    feed = EventFeed(capacity=4)
    feed.add([recorded(n) for n in range(1, 11)])  # seqs 1..10; 7..10 held
    assert feed.last == 10
    read = feed.read(2, 100)
    assert [e.seq for e in read.events] == [7, 8, 9, 10] and read.missed == 4
    read = feed.read(8, 1)
    assert [e.seq for e in read.events] == [9] and read.missed == 0
    assert feed.read(10, 100).events == []


@pytest.mark.parametrize(
    ("given", "after", "why"),
    [
        (None, 3, ""),
        ("", 3, ""),
        ("{token}-2", 2, ""),
        ("{token}-0", 0, ""),
        ("{token}-9", 0, "past this feed's newest event"),
        ("0123abcd-2", 0, "earlier run of the server"),
        ("nonsense", 0, "no event id of this server"),
        ("{token}--1", 0, "no event id"),
    ],
)
def test_a_reader_resumes_after_an_id_of_this_feed_and_is_reset_otherwise(
    given: str | None, after: int, why: str
) -> None:
    feed = EventFeed()
    feed.add([recorded(n) for n in (1, 2, 3)])
    start = feed.resume(given.format(token=feed.token) if given is not None else None)
    assert start.after == after
    assert (why in start.reset) and (bool(start.reset) == bool(why))


def test_a_waiting_reader_wakes_for_an_event() -> None:
    feed = EventFeed()
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(feed.wait(0, timeout=30)))
    waiter.start()
    feed.add([recorded(1)])
    waiter.join(timeout=30)
    assert woke == [True]
    assert not feed.wait(1, timeout=0)


def frames(monkeypatch: pytest.MonkeyPatch, feed: EventFeed, after: int, reset: str = "") -> list[dict[str, str]]:
    """The stream's frames (field -> value): a stream whose time is up at once sends what the feed holds
    after `after` (one read) and ends."""
    monkeypatch.setattr(web_events, "STREAM_SECONDS", 0.0)
    streams = web_events.EventStreams(limit=1)
    text = b"".join(web_events._frames(feed, streams, web_events.EventFilter(), after, reset)).decode()
    out = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            fields[name] = value
        if fields:
            out.append(fields)
    return out


def test_a_stream_tells_a_reader_that_fell_behind_how_many_events_it_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    feed = EventFeed(capacity=3)
    feed.add([recorded(n) for n in range(1, 8)])  # 5, 6, 7 held
    opening, reset, *events, closing = frames(monkeypatch, feed, after=1)
    assert opening == {"retry": str(web_events.RETRY_MS), "id": f"{feed.token}-1"}
    assert reset["event"] == "reset" and reset["id"] == f"{feed.token}-4"
    assert json.loads(reset["data"])["missed"] == 3
    assert [e["id"] for e in events] == [f"{feed.token}-{n}" for n in (5, 6, 7)]
    assert [json.loads(e["data"])["job_id"] for e in events] == [5, 6, 7]
    assert closing == {"id": f"{feed.token}-7"}


def test_a_reset_from_another_run_comes_first_then_every_held_event(monkeypatch: pytest.MonkeyPatch) -> None:
    feed = EventFeed()
    feed.add([recorded(n) for n in (1, 2)])
    start = feed.resume("0123abcd-40")
    opening, reset, *events, _ = frames(monkeypatch, feed, start.after, start.reset)
    assert opening["id"] == f"{feed.token}-0"
    assert reset["event"] == "reset" and json.loads(reset["data"]) == {"reason": start.reset, "missed": None}
    assert [json.loads(e["data"])["job_id"] for e in events] == [1, 2]
