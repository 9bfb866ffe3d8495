"""The recorder: the only writer of the job history, fed by the `hero:events` stream.

Every change made in Redis (by a local worker, a remote `heroagent worker`, a cancel) is a Lua script
that also appends the job's state to the stream. The recorder reads those events in batches, writes
them to OurDB with one fsync per batch, then, in one script, deletes the hashes of jobs whose final
state is now recorded and acks the events. A recorder killed in between gets the pending events
again at the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis

from heroagent.jobs import keys
from heroagent.jobs.joblog import JobLogs
from heroagent.jobs.queue import JobQueue
from heroagent.jobs.stats import JobStats
from heroagent.jobs.store import JobStore, RecordedEvent

log = logging.getLogger(__name__)

CONSUMER = "server"
RECORD_BATCH = 1000
BLOCK_MS = 200


def ensure_events_group(client: redis.Redis) -> None:
    """The stream and its consumer group (made at start, and again when Redis lost its data)."""
    try:
        client.xgroup_create(keys.EVENTS, keys.EVENTS_GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class Recorder:
    def __init__(
        self,
        client: redis.Redis,
        store: JobStore,
        queue: JobQueue,
        logs: JobLogs,
        stats: JobStats,
        *,
        on_recorded: Callable[[], None],
        on_stream_lost: Callable[[], None],
    ) -> None:
        self.client = client
        self.store = store
        self.queue = queue
        self.logs = logs
        self.stats = stats
        self.on_recorded = on_recorded  # wakes whoever waits for a job's final state
        self.on_stream_lost = on_stream_lost  # Redis lost its data: reconcile
        self.recorded_events = 0

    def step(self) -> None:
        """One batch (waiting up to 0.2 s for events): the body of the recorder loop."""
        try:
            self.record_batch(block_ms=BLOCK_MS)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("jobs: the events stream is gone (Redis lost its data); reconciling")
            self.on_stream_lost()

    def drain(self) -> None:
        """Record everything in the stream now: pending entries of this consumer first, then new ones."""
        while self.record_batch(block_ms=None, pending=True):
            pass
        while self.record_batch(block_ms=None):
            pass

    def record_batch(self, block_ms: int | None, pending: bool = False) -> int:
        response: Any = self.client.xreadgroup(
            keys.EVENTS_GROUP,
            CONSUMER,
            {keys.EVENTS: "0" if pending else ">"},
            count=RECORD_BATCH,
            block=block_ms,
        )
        entries = response[0][1] if response else []
        events = [RecordedEvent.from_stream(fields) for _, fields in entries if fields]
        ids = [entry_id for entry_id, _ in entries]
        if not ids:
            return 0
        written = self.store.record_events(events)
        finished = [(e.topic, e.job_id, e.status.value) for e in events if e.status.terminal]
        self.queue.recorded(finished, ids)
        self.recorded_events += len(written)
        for event in written:
            if event.status.terminal:
                self.stats.observe(event.topic, event.status, event.time_start, event.time_end)
                if event.log:
                    self.logs.append(event.job_id, f"recorded: {event.status.value}")
        self.on_recorded()
        return len(entries)
