"""The job history in OurDB: one OurDB id per job, one OurDB version per state change.

Lists, counts, searches and retention go through the history's index (history_index.py, SQLite), kept
level with OurDB by this store; a start reads no job and memory does not grow with the history.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from heroagent.heroscript import name_fix
from heroagent.jobs import fastjson
from heroagent.jobs.errors import HistoryDamagedError, JobNotFoundError
from heroagent.jobs.history.history_index import (
    TEXT_LIMIT,
    Filters,
    HistoryIndex,
    IndexError_,
    IndexRow,
    Position,
    SqliteHistoryIndex,
)
from heroagent.jobs.history.index_guard import GuardedIndex
from heroagent.jobs.history.spill import ValueStore
from heroagent.jobs.model import TERMINAL, Job, JobStatus
from heroagent.ourdb import (
    CompactReport,
    CorruptRecordError,
    OurDB,
    OurDBError,
    RecordNotFoundError,
    StorageError,
    Write,
)
from heroagent.ourdb.damage import describe

log = logging.getLogger(__name__)


_KIND_RE = re.compile(rb'"params":"(?:\\n|\s)*!{1,4}([A-Za-z0-9_-]{1,64})\.')
_PARAMS_KIND_RE = re.compile(rb"^\s*!{1,4}([A-Za-z0-9_-]{1,64})\.")


def kind_of(raw: bytes) -> str:
    """The actor a job's HeroScript starts with (from its JSON, or from the params themselves)."""
    match = _KIND_RE.search(raw) or _PARAMS_KIND_RE.search(raw)
    return _actor_name(match.group(1)) if match else ""


@functools.lru_cache(maxsize=4096)
def _actor_name(found: bytes) -> str:
    """An actor's name as HeroScript reads it: the recorder asks for each version of every job, and a history
    has few actors (9 us a call before this cache, on the recorder's hot path)."""
    return name_fix(found.decode())


_STATUS_OF = {status.value.encode(): status for status in JobStatus}  # a stream's status field -> its status


@dataclass(slots=True)
class RecordedEvent:
    """One transition from the `hero:events` stream: the job's JSON (encoded by Redis) and its key facts."""

    job_id: int
    topic: str
    status: JobStatus
    attempts: int
    time_end: float
    log: bool
    json: bytes
    time_start: float = 0.0
    version: int = 0  # the job's state counter (0: an event from before versions were counted)
    first: bool = False  # set by the store: this event was the job's first version in the history

    @property
    def time_created(self) -> float:
        """When the job was created (read from its JSON; 0 if it does not say)."""
        found = _TIME_CREATED_RE.search(self.json)
        return float(found.group(1)) if found else 0.0

    @classmethod
    def from_stream(cls, fields: dict[bytes, bytes]) -> RecordedEvent:
        return cls(
            job_id=int(fields[b"jobid"]),
            topic=fields[b"topic"].decode(),
            status=_STATUS_OF.get(fields[b"status"]) or JobStatus(fields[b"status"].decode()),
            attempts=int(fields[b"attempts"]),
            time_end=float(fields[b"time_end"]),
            log=fields[b"log"] == b"1",
            json=fields[b"json"],
            time_start=float(fields.get(b"time_start", b"0")),  # absent in events of versions before 0.2
            version=int(fields.get(b"version", b"0")),
        )

    @classmethod
    def from_job(cls, job: Job) -> RecordedEvent:
        return cls(
            job.job_id,
            job.topic,
            job.status,
            job.attempts,
            job.time_end,
            job.log,
            job.to_json(),
            job.time_start,
            job.version,
        )


def job_id_of(data: bytes) -> int | None:
    """The id a stored job version says it has (for rebuilding the lookup table from the data files)."""
    match = _JOBID_RE.search(data)
    return int(match.group(1)) if match else None


_JOBID_RE = re.compile(rb'"jobid":(\d+)')


_TIME_CREATED_RE = re.compile(rb'"time_created":([0-9.eE+-]+)[,}]')
# The statuses of the versions whose text is indexed (first, retried, final), and the same as stored.
_TEXT_STATUSES = frozenset({JobStatus.NEW, *TERMINAL})
_TERMINAL_VALUES = frozenset(status.value for status in TERMINAL)
_TEXT_VALUES = frozenset(status.value for status in _TEXT_STATUSES)
REBUILD_BATCH = 5000  # jobs per index transaction while building the index from the history


def row_of(job_id: int, raw: bytes, *, with_text: bool | None = None) -> IndexRow:
    """The index row of a stored version (its JSON). The searchable text (id, topic, params, result,
    error) is taken for a job's first, retried and final versions (`with_text` None), always, or never.

    The JSON is parsed (orjson, ~1 us for a job's version): quicker than the dozen patterns over it that
    rows without text were read with, and every row, the recorder's or a rebuild's, is read one way."""
    doc = fastjson.loads(raw)
    status = _status_value(doc["status"])
    topic = str(doc["topic"])
    row = IndexRow(
        job_id,
        status,
        topic,
        int(doc.get("attempts", 0)),
        float(doc.get("time_created", 0)),
        float(doc.get("time_end", 0)),
        int(doc.get("version", 0)),
        str(doc.get("circleid", "")),
        str(doc.get("tenantid", "")),
        str(doc.get("userid", "")),
        str(doc.get("group", "")),
        kind_of(str(doc.get("params", "")).encode()),
        str(doc.get("idempotencykey", "")),
        parents=_parents(doc.get("depends_on")),
    )
    if status in _TEXT_VALUES if with_text is None else with_text:
        row.text = _text_of(job_id, topic, doc)
    return row


_STATUS_VALUES = {status.value: status.value for status in JobStatus}


def _status_value(status: Any) -> str:
    """A status as the index stores it (its value); ValueError for one that is not a JobStatus."""
    found = _STATUS_VALUES.get(status) if type(status) is str else None
    return found if found is not None else JobStatus(status).value


def _text_of(job_id: int, topic: str, doc: dict[str, Any]) -> str:
    """What text search finds a job by: its id, topic, and params, result and error (each cut to TEXT_LIMIT)."""
    values = (str(doc.get(name) or "")[:TEXT_LIMIT] for name in ("params", "result", "error"))
    # A value without a word (a result of [""]) adds nothing to search: left out, a job whose final
    # text has no new word keeps the text it had (no search-index update for it).
    return " ".join([str(job_id), topic, *(v for v in values if _WORD_CHAR.search(v))])


_WORD_CHAR = re.compile(r"\w")


def _parents(value: Any) -> tuple[int, ...]:
    """depends_on as a version's JSON holds it ("1,2", or a list)."""
    if isinstance(value, list):
        return tuple(int(v) for v in value if isinstance(v, int | str) and str(v).isdigit())
    if isinstance(value, str):
        return tuple(int(p) for p in value.split(",") if p.isdigit())
    return ()


def holds(held: IndexRow | RecordedEvent, event: RecordedEvent) -> bool:
    """Whether the history already holds this event's state (it was read again after a crash): `held` is
    the job's row in the index, or its version written earlier in the same batch."""
    status = held.status.value if isinstance(held, RecordedEvent) else held.status
    if held.version and event.version:
        # A final state is never taken as read again while the history says the job has not ended: after
        # kill -9 of redis-server (appendfsync everysec) Redis can hand out a version it had handed out
        # before the lost writes, and skipping that end would leave the job unfinished in the history.
        if event.status.terminal and status not in _TERMINAL_VALUES:
            return False
        return event.version <= held.version
    return (status, held.topic, held.attempts, held.time_end) == (
        event.status.value,
        event.topic,
        event.attempts,
        event.time_end,
    )


@dataclass
class _Batch:
    """What one `record_events` call writes: OurDB's writes in order, the events they are, and each job's
    newest version here (its event, its stored bytes, whether a version of it here needs its text indexed:
    a job's later event is checked against it, and the index gets one row per job from it)."""

    next_id: int  # OurDB's next id, as this batch's inserts move it
    writes: list[Write] = field(default_factory=list)
    written: list[RecordedEvent] = field(default_factory=list)
    newest: dict[int, tuple[RecordedEvent, bytes, bool]] = field(default_factory=dict)
    firsts: list[RecordedEvent] = field(default_factory=list)  # the first versions of jobs
    late: list[int] = field(default_factory=list)  # jobs whose first version came after a later job's

    def add(
        self, event: RecordedEvent, raw: bytes, *, text: bool = False, new: bool = False, below: bool = False
    ) -> None:
        """The event's version, stored as `raw`: a new version, or (`new`) the job's first (`below`: in
        its empty place under the next id)."""
        self.writes.append(Write(event.job_id, raw, new=new, fill_gap=below))
        self.written.append(event)
        self.newest[event.job_id] = (event, raw, new or text or event.status in _TEXT_STATUSES)
        if new:
            self.firsts.append(event)
            self.next_id = max(self.next_id, event.job_id + 1)
            if below:
                self.late.append(event.job_id)


class JobStore:
    """The only writer of the jobs OurDB (the server process), and of its index (history_index.py).

    Every write goes to OurDB first, then to the index with OurDB's new end in the same index commit;
    at open (and after an index write failed) the index catches up from that position, reading only
    what was written after it. An index that is missing, unreadable or of another OurDB (compacted
    while this process was away) is rebuilt from the history, once."""

    def __init__(self, path: Path, *, fsync: str = "batch", index_path: Path | None = None) -> None:
        self.db = OurDB(path, fsync=fsync, id_of=job_id_of)  # type: ignore[arg-type]
        self.values = ValueStore(path.with_name(path.name + ".values"))  # large fields (see spill.py)
        self._lock = threading.RLock()
        # With [redis] partitions each partition hands out its own ids and has its own recorder: a job's first
        # state after a higher id's is then the rule, not worth a warning (the job service sets it).
        self.ids_interleave = False
        self.index_path = index_path or self.index_path_of(path)
        self.index_notice = ""  # the index was found damaged and rebuilt: health says so until a restart
        self._reported: set[int] = set()  # unreadable records already in the damage ledger
        try:
            self._raw_index: HistoryIndex = self._open_index()
            # Every use of the index goes through the guard: damage found by a read rebuilds it (index_guard.py).
            self.index: HistoryIndex = cast(HistoryIndex, GuardedIndex(lambda: self._raw_index, self._repair_index))
            self._behind = True
            self._index_error = ""
            self.catch_up()
        except BaseException:
            self.db.close()
            raise

    @staticmethod
    def index_path_of(path: Path) -> Path:
        """Where the index of the history at `path` lives (beside it)."""
        return path.with_name(path.name + ".index.sqlite")

    def _open_index(self) -> HistoryIndex:
        try:
            return SqliteHistoryIndex(self.index_path)
        except IndexError_ as exc:
            self._move_index_aside(exc)
            return SqliteHistoryIndex(self.index_path)

    def _move_index_aside(self, exc: BaseException) -> None:
        broken = self.index_path.with_name(f"{self.index_path.name}.broken-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                Path(str(self.index_path) + suffix).rename(Path(str(broken) + suffix))
        log.error(
            "jobs: the history's index %s is unusable (%s); moved to %s and built again from the history",
            self.index_path,
            exc,
            broken,
        )
        self.index_notice = (
            f"the history's index was damaged ({str(exc)[:200]}) and rebuilt from the history; the damaged "
            f"copy is {broken.name} (delete it when you like)"
        )

    def _repair_index(self, exc: BaseException) -> None:
        """A use of the index found it damaged: move it aside and build it again (under the store's lock)."""
        with self._lock:
            with contextlib.suppress(Exception):
                self._raw_index.close()
            self._move_index_aside(exc)
            self._raw_index = SqliteHistoryIndex(self.index_path)
            self.rebuild_index("it was damaged; rebuilding it from")

    def close(self) -> None:
        with self._lock:
            try:
                self.index.close()
            finally:
                self.db.close()

    @property
    def index_problem(self) -> str:
        """Why the index is behind the history now ('' = it is level); health reports it."""
        return self._index_error if self._behind else ""

    # ------------------------------------------------------------ keeping the index level with OurDB

    def _position(self) -> Position:
        file_nr, end, inode = self.db.end_position()
        return Position(file_nr, end, inode)

    def catch_up(self) -> str:
        """Bring the index level with OurDB: nothing when it is; the records written after its position
        when it is behind (a crash between the two writes); a full rebuild when it has no position or
        its position is in files that are gone (a compaction). Returns what it did."""
        with self._lock:
            now = self._position()
            known = self.index.position()
            if known == now:
                self._behind = False
                return "level"
            if (
                known is None
                or self.db.data_file_inode(known.file_nr) != known.inode
                or ((known.file_nr, known.offset) > (now.file_nr, now.offset))
            ):
                return self.rebuild_index("it has no record of" if known is None else "it does not match")
            touched: set[int] = set()
            for data in self.db.records_after(known.file_nr, known.offset):
                job_id = job_id_of(data)
                if job_id is not None:
                    touched.add(job_id)
            rows, gone = [], []
            for job_id in sorted(touched):
                try:
                    rows.append(row_of(job_id, self.db.get_intact(job_id), with_text=True))
                except RecordNotFoundError:
                    gone.append(job_id)
                except Exception as exc:  # a corrupt record must not stop the server
                    log.error("jobs: history record %d is unreadable and is left out of the index: %s", job_id, exc)
            if gone:
                self.index.remove(gone)
            self.index.put(rows, now)
            self._behind = False
            if rows or gone:
                log.warning("jobs: the history's index was behind; caught up with %d job(s)", len(rows) + len(gone))
            return f"caught up with {len(rows) + len(gone)} job(s)"

    def rebuild_index(self, why: str = "asked to") -> str:
        """Build the index from the history, every job's newest version (`heroagent ourdb reindex`)."""
        with self._lock:
            ids = self.db.ids()
            if ids:
                log.warning("jobs: building the history's index from %d job(s) (%s the history); once", len(ids), why)
            self.index.clear()
            started = time.monotonic()
            for start in range(0, len(ids), REBUILD_BATCH):
                rows = []
                for job_id in ids[start : start + REBUILD_BATCH]:
                    try:
                        rows.append(row_of(job_id, self.db.get_intact(job_id), with_text=True))
                    except Exception as exc:  # a corrupt record must not stop the server
                        log.error("jobs: history record %d is unreadable and is skipped: %s", job_id, exc)
                self.index.put(rows, None)
                done = start + len(rows)
                if done % 500_000 < REBUILD_BATCH and done < len(ids):
                    log.warning("jobs: history index: %d of %d job(s) indexed", done, len(ids))
            self.index.put([], self._position())
            self._behind = False
            took = time.monotonic() - started
            if ids:
                log.warning("jobs: the history's index holds %d job(s) (built in %.1f s)", len(self.index), took)
            return f"indexed {len(ids)} job(s) in {took:.1f} s"

    def _put(self, rows: list[IndexRow]) -> None:
        """Index rows just written to OurDB, with OurDB's new end; a failure leaves the index behind, to
        catch up at the next write (OurDB has the data)."""
        try:
            if self._behind:
                self.catch_up()
            else:
                self.index.put(rows, self._position())
        except (sqlite3.Error, OSError, IndexError_) as exc:
            self._behind = True
            self._index_error = f"the history's index is behind the history ({exc}); it catches up by itself"
            log.error(
                "jobs: the history's index could not take %d job(s) (%s); it catches up at the next write",
                len(rows),
                exc,
            )

    # ------------------------------------------------------------ writing

    def insert(self, jobs: list[Job]) -> None:
        """Give each job its id (OurDB's next) and store its first version; one fsync for all.

        For filling a history offline (benches, imports): with a server running, jobs get their ids
        from Redis and reach the history through the recorder (`record_events`).

        All or nothing: if the disk refuses a write (StorageError), the jobs already written by this call
        are deleted again and none is in the index, so a caller that reports the error has stored nothing."""
        written: list[int] = []
        rows: list[IndexRow] = []
        with self._lock:
            try:
                with self.db.batch():
                    for job in jobs:
                        job.job_id = self.db.next_id
                        raw = self.values.spill(job.job_id, job.to_json())
                        assigned = self.db.set(raw)
                        assert assigned == job.job_id, "jobs OurDB has another writer"
                        written.append(assigned)
                        rows.append(row_of(assigned, raw, with_text=True))
            except StorageError:
                for job_id in written:  # zeroing in place needs no new space
                    with contextlib.suppress(OurDBError):
                        self.db.delete(job_id)
                    self.values.remove(job_id)
                with contextlib.suppress(OurDBError):
                    self.db.sync()
                raise
            self._put(rows)

    def record(self, jobs: list[Job]) -> list[RecordedEvent]:
        """Store new versions (state changes) of these jobs."""
        return self.record_events([RecordedEvent.from_job(job) for job in jobs])

    def record_events(self, events: list[RecordedEvent]) -> list[RecordedEvent]:
        """Store each event as a new version, one fsync for all; returns those not already the newest.

        The first event of a job the history has never seen (its id at or above OurDB's next id: Redis
        handed it out) is inserted under that id, and so is a first event (version 1) read after a later
        job's, in its empty place below it. A later event of a job below it that the history lacks is of
        a deleted job, and is ignored.

        The batch's versions go to OurDB together (`write_many`: one pwrite, all or none of them), and the
        index gets one row per job, built from its newest version here."""
        with self._lock:
            if self._behind:
                with contextlib.suppress(sqlite3.Error, OSError, IndexError_):
                    self.catch_up()  # what it knows decides what is new: it must be level first
            known = self.index.rows({event.job_id for event in events})  # one read for the batch
            batch = _Batch(self.db.next_id)
            for event in events:
                self._plan(batch, event, known)
            self.db.write_many(batch.writes)  # durable on return: one fsync for the batch
            for event in batch.firsts:
                event.first = True  # once it is written (a batch OurDB refused is tried again one by one)
            for job_id in batch.late if not self.ids_interleave else ():
                log.warning("jobs: job %d's first state came after a later job's; recorded", job_id)
            if batch.newest:
                self._put([row_of(job_id, raw, with_text=text) for job_id, (_, raw, text) in batch.newest.items()])
        return batch.written

    def _plan(self, batch: _Batch, event: RecordedEvent, known: dict[int, IndexRow]) -> None:
        """Add the event's version to the batch, unless the history (or the batch) holds it already."""
        earlier = batch.newest.get(event.job_id)
        if earlier is not None:
            if not holds(earlier[0], event):
                batch.add(event, self.values.spill(event.job_id, event.json), text=earlier[2])
            return
        row = known.get(event.job_id)
        if row is not None:
            if not holds(row, event):  # else: read again after a crash, the history has it already
                batch.add(event, self.values.spill(event.job_id, event.json))
            return
        below = event.job_id < batch.next_id
        if below and self.db.exists(event.job_id):
            batch.add(event, self.values.spill(event.job_id, event.json))  # in OurDB, not in the index
        elif below and event.version != 1:
            log.warning("jobs: event for unknown or deleted job %d ignored", event.job_id)
        else:
            # Below: its first state, after a later job's (read out of order); the id is this job's own
            # (Redis handed it out once), so it takes its empty place.
            batch.add(event, self.values.spill(event.job_id, event.json), new=True, below=below)

    def delete(self, job_id: int) -> None:
        with self._lock:
            try:
                self.db.delete(job_id)
            except RecordNotFoundError:
                raise JobNotFoundError(f"no job with id {job_id}") from None
            self.values.remove(job_id)
            self._forget([job_id])

    def delete_many(self, job_ids: list[int]) -> None:
        """Delete these jobs with one commit; ids already gone are skipped."""
        with self._lock:
            with self.db.batch():
                for job_id in job_ids:
                    with contextlib.suppress(RecordNotFoundError):
                        self.db.delete(job_id)
                    self.values.remove(job_id)
            self._forget(job_ids)

    def _forget(self, job_ids: list[int]) -> None:
        """Drop deleted jobs from the index. If that fails, the rows left point at nothing: reads skip
        and drop them (`list`), and a reindex removes them."""
        try:
            self.index.remove(job_ids)
        except (sqlite3.Error, OSError) as exc:
            log.error("jobs: the history's index still lists %d deleted job(s) (%s)", len(job_ids), exc)

    def compact(self) -> CompactReport:
        """Compact the OurDB files (ids and every live job's history stay as they are) while jobs are
        recorded and read: this store's lock is held only for the snapshot at the start and the final
        step, where the index takes the new files' end as its position (in the same breath as the swap,
        so the index never points into files that are gone)."""

        def swapped() -> None:
            if not self._behind:  # behind, its position means the old files: the next catch-up rebuilds
                self._put([])

        return self.db.compact(guard=self._lock, after_swap=swapped)

    # ------------------------------------------------------------ reading

    def get(self, job_id: int) -> Job:
        """The newest intact version (a damaged newest one is logged and skipped, see OurDB.get_history)."""
        try:
            return self._job(job_id, self.db.get_intact(job_id))
        except RecordNotFoundError:
            raise JobNotFoundError(f"no job with id {job_id}") from None
        except CorruptRecordError as exc:
            raise self._damaged(job_id, exc) from None

    def history(self, job_id: int) -> list[Job]:
        """Every stored version, oldest first."""
        try:
            versions = self.db.get_history(job_id, intact=True)  # a damaged older version ends it there
        except RecordNotFoundError:
            raise JobNotFoundError(f"no job with id {job_id}") from None
        except CorruptRecordError as exc:
            raise self._damaged(job_id, exc) from None
        return [self._job(job_id, v) for v in reversed(versions)]

    def _damaged(self, job_id: int, exc: CorruptRecordError) -> HistoryDamagedError:
        """A record no version of which can be read: never silent (the damage ledger, so health says it)."""
        if job_id not in self._reported:
            self._reported.add(job_id)
            self.db.damage.record(f"job {job_id}'s record is unreadable ({str(exc)[:200]})", ids=[job_id])
            log.error("jobs: the history's record of job %d is unreadable: %s", job_id, exc)
        return HistoryDamagedError(
            f"job {job_id}: its record in the history is damaged ({str(exc)[:200]}); health names the damage, "
            "`heroagent ourdb check` shows it"
        )

    def damage(self) -> list[str]:
        """What the history lost and no operator acknowledged yet, one line each ([] = nothing)."""
        return [describe(entry) for entry in self.db.damage.entries()]

    def _job(self, job_id: int, raw: bytes) -> Job:
        """A stored version as a Job, its large values put back (see spill.py)."""
        return Job.from_dict(self.values.restore(job_id, raw))

    def topic_of(self, job_id: int) -> str | None:
        row = self.index.row(job_id)
        return row.topic if row else None

    def status_of(self, job_id: int) -> JobStatus | None:
        row = self.index.row(job_id)
        return JobStatus(row.status) if row else None

    def job_for_key(self, key: str, since: float) -> int | None:
        """The id of the job created with idempotency `key` at or after `since` (None = there is none)."""
        return self.index.job_for_key(key, since)

    def keys_since(self, since: float) -> list[tuple[str, int, float]]:
        """(idempotency key, job id, time created) of every keyed job created at or after `since`: what
        the server puts back into a Redis that lost its data."""
        return self.index.keys_since(since)

    @property
    def last_id(self) -> int:
        """The highest id the history has ever given out or recorded (0 = none): the id counter's floor."""
        return self.db.next_id - 1

    def finished_before(self, cutoff: float, limit: int | None = None) -> list[int]:
        """Ids of finished jobs that ended before `cutoff`, oldest id first (from the index)."""
        return self.index.finished_before(cutoff, limit)

    def ids_with_status(self, *statuses: JobStatus) -> list[int]:
        return self.index.ids_with_status(s.value for s in statuses)

    def count_by_status(self) -> dict[str, int]:
        counts = {s.value: 0 for s in JobStatus}
        for (status, _), n in self.index.counts().items():
            counts[status] = counts.get(status, 0) + n
        return counts

    def count_by_status_and_topic(self) -> dict[tuple[str, str], int]:
        return self.index.counts()

    def count(self, status: str | tuple[str, ...] | None = None, topic: str | None = None) -> int:
        """How many stored jobs have this status (one of these) and topic (None = any), from the counters."""
        statuses = (status,) if isinstance(status, str) else status
        return sum(
            n
            for (s, t), n in self.index.counts().items()
            if (statuses is None or s in statuses) and (topic is None or t == topic)
        )

    def topics(self) -> list[str]:
        """Every topic a stored job has."""
        return sorted({topic for (_, topic) in self.index.counts()})

    def finished_since(self, since: float, bucket_seconds: float) -> Iterator[tuple[JobStatus, float, int]]:
        """(status, bucket start, jobs) of the finished jobs that ended after `since`, per bucket."""
        for status, start, count in self.index.finished_since(since, bucket_seconds):
            yield JobStatus(status), start, count

    def list_ids(
        self, filters: Filters, *, text: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[int]:
        """The ids a list with these filters gives, newest first, from the index alone (no record is read):
        what a bulk change walks, a batch at a time."""
        if text:
            return self.index.search_ids(text, filters, limit, before_id)
        return self.index.list_ids(filters, limit, before_id)

    def list(
        self,
        *,
        status: JobStatus | tuple[JobStatus, ...] | None = None,
        topic: str | None = None,
        text: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
        circle: str | None = None,
        tenant: str | None = None,
        user: str | None = None,
        group: str | None = None,
    ) -> list[Job]:
        """Newest first. `before_id` pages: pass the last id of the previous page. `text` finds jobs whose
        id, topic, params, result or error hold every word of it as a word prefix ("quoted phrases" whole)."""
        wanted = tuple(s.value for s in status) if isinstance(status, tuple) else (status.value if status else None)
        filters = Filters(wanted, topic, circle, tenant, user, group)
        out: list[Job] = []
        while len(out) < limit:
            want = limit - len(out)
            if text:
                ids = self.index.search_ids(text, filters, want, before_id)
            else:
                ids = self.index.list_ids(filters, want, before_id)
            if not ids:
                break
            gone = []
            for job_id in ids:
                try:
                    out.append(self._job(job_id, self.db.get_intact(job_id)))
                except RecordNotFoundError:
                    gone.append(job_id)  # deleted, and the index was not told (a crash in between)
            if gone:
                with self._lock:
                    self._forget([i for i in gone if not self.db.exists(i)])
            before_id = ids[-1]
            if len(ids) < want:
                break
        return out

    def count_kinds(self) -> dict[str, int]:
        """Job type -> jobs in the history."""
        return self.index.kinds()

    def count_groups(self) -> dict[str, dict[str, int]]:
        """Group -> status -> jobs, for every group a stored job names."""
        return self.index.groups()

    def children(self, job_id: int, limit: int = 1000) -> builtins.list[int]:
        """The jobs that depend on `job_id` (their depends_on names it), from the index."""
        return self.index.children(job_id, limit)

    def group_counts(self, group: str) -> dict[str, int]:
        """One group's jobs counted by status, from the index ({} = none has it)."""
        return self.index.group_counts(group)

    def __len__(self) -> int:
        return len(self.index)
