"""The recorder: the only writer of the job history, fed by the `hero:events` stream.

Every change made in Redis (by a local worker, a remote `heroagent worker`, a cancel) is a Lua script
that also appends the job's state to the stream. The recorder reads those events in batches, writes
them to OurDB with one fsync per batch, then, in one script, deletes the hashes of jobs whose final
state is now recorded and acks the events. A recorder killed in between gets the pending events
again at the next start.

No event can stop the history: one that cannot be read or stored (a corrupt entry, a record OurDB
refuses) is set aside in `hero:events:set-aside` with the reason, logged and counted, and the events
after it are recorded as usual. An error that is not about the event (a full disk, Redis gone) is
raised instead: the loop backs off, health says it is degraded, and the same events are read again
(from the pending list) once it recovers, so nothing is skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from heroagent.jobs import keys
from heroagent.jobs.history.stats import JobStats
from heroagent.jobs.history.store import JobStore, RecordedEvent
from heroagent.jobs.live.joblog import JobLogs
from heroagent.jobs.live.queue import JobQueue
from heroagent.ourdb import DatabaseFullError, OurDBError, StorageError

log = logging.getLogger(__name__)

CONSUMER = "server"
# Events per batch when a backlog waits (live, a batch is what came in since the last one). A job's three
# states then mostly share a batch: one index row and one search-text write per job instead of two, and
# the per-batch costs (a commit, a read, an ack) spread wider: the store's CPU per job fell ~15% from 1,000.
# `recorded.lua` acks the batch's ids with one unpack(), which Redis's Lua limits to 7,999 values.
RECORD_BATCH = 4000
BLOCK_MS = 200
# A batch that came in small waits this long for the events that follow it (a job's claim and end come
# within a millisecond or two of its creation): one batch (one fsync, one index transaction, one ack)
# instead of three, and the recorder stays out of the way of the worker claiming the job just created.
# The per-batch costs (two fsyncs, the index's commit, a read and an ack) are most of what a small batch
# costs, so the wait is long enough for tens of jobs at the rates of one producer: 20 ms took the
# recorder's CPU per job (one by one, ~2,400 jobs/s) from 176 to 151 us against 2 ms. Nobody waits on
# it: a waiter hears of a job's end from Redis, and a job in flight is read from Redis until recorded.
LINGER = 0.02
SMALL_BATCH = 256
# Every this many seconds the recorder reads its consumer's pending entries too. Between two steps it
# holds none (each batch is acked before the next read), so any there were delivered by a read whose
# reply it never got: a connection that broke mid-reply (redis-py then reads again, for new entries
# only), or a Redis killed after persisting the delivery. They would wait there until the next start.
PENDING_LOOK = 1.0
# Errors that say nothing about the event being written: never a reason to set an event aside.
NOT_ABOUT_THE_EVENT = (StorageError, DatabaseFullError)


def ensure_events_group(client: redis.Redis, layout: keys.KeyLayout) -> None:
    """The stream and its consumer group (made at start, and again when Redis lost its data)."""
    try:
        client.xgroup_create(layout.EVENTS, keys.EVENTS_GROUP, id="0", mkstream=True)
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
        on_written: Sequence[Callable[[list[RecordedEvent]], None]] = (),
    ) -> None:
        self.client = client
        self.store = store
        self.queue = queue
        self.logs = logs
        self.stats = stats
        self.on_recorded = on_recorded  # wakes whoever waits for a job's final state
        self.on_stream_lost = on_stream_lost  # Redis lost its data: reconcile
        # Each sees every batch's written events, in order (the hero queue's answers, the live event feed)
        self.on_written = tuple(on_written)
        self.set_aside = 0  # events that could not be recorded since start
        self.fence = ""  # the history lease's value, carried by every `recorded` call (lease.py)
        self.before_write: Callable[[], None] | None = None  # the lease's check before a batch is written
        self._reread_pending = False  # a step failed: read this consumer's pending entries first
        self._pending_look_at = 0.0  # time.monotonic() of the next look at them anyway (PENDING_LOOK)

    def step(self) -> None:
        """One batch (waiting up to 0.2 s for events): the body of the recorder loop."""
        try:
            if self._reread_pending or time.monotonic() >= self._pending_look_at:
                self._pending_look_at = time.monotonic() + PENDING_LOOK
                self._reread_pending = bool(self.record_batch(block_ms=None, pending=True))
            else:
                self.record_batch(block_ms=BLOCK_MS)
        except BaseException as exc:
            if isinstance(exc, redis.ResponseError) and "NOGROUP" in str(exc):
                log.warning("jobs: the events stream is gone (Redis lost its data); reconciling")
                self.on_stream_lost()
                return
            self._reread_pending = True  # a read may have been delivered without its reply reaching us
            raise

    def drain(self) -> None:
        """Record everything in the stream now: pending entries of this consumer first, then new ones."""
        while self.record_batch(block_ms=None, pending=True):
            pass
        while self.record_batch(block_ms=None):
            pass

    def record_batch(self, block_ms: int | None, pending: bool = False) -> int:
        entries = self._read(RECORD_BATCH, block_ms, pending)
        if not entries:
            return 0
        if block_ms is not None and not pending and len(entries) < SMALL_BATCH:
            time.sleep(LINGER)  # what follows comes with it (see LINGER)
            try:
                entries += self._read(RECORD_BATCH - len(entries), None, False)
            except redis.RedisError as exc:
                # Redis went away or lost its data while this batch lingered: what was read is recorded
                # now (the reconcile queues it again from the history). What the failed read may have
                # delivered is read again from the pending list; a lost stream is noticed next step.
                log.warning("jobs: reading more events failed (%s); recording the %d read", exc, len(entries))
                self._reread_pending = True
        self._wait_for_replicas(len(entries))
        if self.before_write is not None:
            self.before_write()  # the history lease still ours (lease.py), or nothing is written
        try:
            written, events, ids = self._store_events(entries)
            finished = [(e.topic, e.job_id, e.status.value) for e in events if e.status.terminal]
            self.queue.recorded(finished, ids, self.fence)
        except BaseException:
            self._reread_pending = True  # what this batch read is still pending: read it again, skip nothing
            raise
        for event in written:
            if event.first and event.log:
                self.logs.append_first(event.job_id, f"created: topic {event.topic}", event.time_created)
            if event.status.terminal:
                self.stats.observe(event.topic, event.status, event.time_start, event.time_end)
                if event.log:
                    self.logs.append(event.job_id, f"recorded: {event.status.value}")
        for listener in self.on_written if written else ():
            try:
                listener(written)
            except Exception:  # the history has them; a failed follow-up must not re-record them (nor stop the next)
                log.exception("jobs: a follow-up (%s) of %d recorded event(s) failed", _name(listener), len(written))
        self.on_recorded()
        return len(entries)

    def _wait_for_replicas(self, count: int) -> None:
        """With [redis] min_replicas: nothing is recorded before that many replicas have it. A write made
        now (REPLICATED_MARK) comes after the events' own writes: once WAIT says the replicas reached it,
        they hold the events too. A state the primary takes with it when it fails
        is then never in the history (the job it belonged to is run or ended again on the new primary,
        and recorded once). ReplicasBehindError: the loop tries again (the entries stay pending)."""
        durability = self.queue.direct.durability
        if durability.min_replicas:
            self.queue.direct.command("INCR", self.queue.layout.REPLICATED_MARK)
            acked = self.queue.direct.command(*durability.wait_args)
            durability.check(acked, f"a batch of {count} event(s) to record")

    def _read(self, count: int, block_ms: int | None, pending: bool) -> list[tuple[Any, dict[bytes, bytes]]]:
        """Up to `count` entries: this consumer's pending ones (read before, not acked), or new ones.

        Read without redis-py's retry: a read whose reply was lost has delivered its entries to this
        consumer all the same, and a second read of new entries would step over them. The error is
        raised instead, and the step after it reads the pending entries first (see `step`)."""
        block: list[str | int] = ["BLOCK", block_ms] if block_ms is not None else []
        reply: Any = self.queue.direct.command(
            "XREADGROUP",
            "GROUP",
            keys.EVENTS_GROUP,
            CONSUMER,
            "COUNT",
            count,
            *block,
            "STREAMS",
            self.queue.layout.EVENTS,
            "0" if pending else ">",
        )
        if not reply:
            return []
        entries = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]  # RESP3: a map
        return [(entry_id, _pairs(fields)) for entry_id, fields in entries]

    def _store_events(self, entries: list[Any]) -> tuple[list[RecordedEvent], list[RecordedEvent], list[Any]]:
        """Write the entries' events to the history: (written, every event kept, every entry id to ack)."""
        ids = [entry_id for entry_id, _ in entries]
        readable: list[tuple[Any, dict[bytes, bytes], RecordedEvent]] = []
        for entry_id, fields in entries:
            if not fields:
                continue  # deleted from the stream meanwhile
            try:
                readable.append((entry_id, fields, RecordedEvent.from_stream(fields)))
            except (KeyError, ValueError, UnicodeDecodeError) as exc:
                self._set_aside(entry_id, fields, f"unreadable event: {type(exc).__name__}: {exc}")
        events = [event for _, _, event in readable]
        try:
            return self.store.record_events(events), events, ids
        except NOT_ABOUT_THE_EVENT:
            raise  # the disk or the database, not the event: the loop retries, health shows it
        except OurDBError as exc:
            log.warning("jobs: %d events could not be recorded together (%s); trying one by one", len(events), exc)
        written: list[RecordedEvent] = []
        kept: list[RecordedEvent] = []
        for entry_id, fields, event in readable:
            try:
                written += self.store.record_events([event])
                kept.append(event)
            except NOT_ABOUT_THE_EVENT:
                raise
            except OurDBError as exc:
                self._set_aside(entry_id, fields, f"{type(exc).__name__}: {exc}")
        return written, kept, ids

    def _set_aside(self, entry_id: Any, fields: dict[bytes, bytes], why: str) -> None:
        """Keep an event the history cannot take, with the reason; the caller acks it from the stream."""
        self.set_aside += 1
        job = fields.get(b"jobid", b"?").decode(errors="replace")
        log.error(
            "jobs: event %s of job %s cannot be recorded and is set aside in %s: %s",
            entry_id,
            job,
            self.queue.layout.EVENTS_SET_ASIDE,
            why,
        )
        kept = {**fields, b"why": why.encode(errors="replace"), b"event": str(entry_id).encode()}
        self.client.xadd(self.queue.layout.EVENTS_SET_ASIDE, kept, maxlen=10_000, approximate=True)  # type: ignore[arg-type]


def _name(listener: Callable[..., object]) -> str:
    """A listener as a log line names it (a bound method: Class.method)."""
    return str(getattr(listener, "__qualname__", None) or repr(listener))


def _pairs(flat: list[bytes] | None) -> dict[bytes, bytes]:
    """An entry's [field, value, ...] as a dict (None: the entry was deleted since it was delivered)."""
    return dict(zip(flat[::2], flat[1::2], strict=True)) if flat else {}
