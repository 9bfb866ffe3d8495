"""The job history in OurDB: one OurDB id per job, one OurDB version per state change.

An in-memory index (id -> status, topic) is built at open, so listing and filtering the history never
reads every record; text search reads only the records that pass the other filters.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from heroagent.heroscript import name_fix
from heroagent.jobs.errors import JobNotFoundError
from heroagent.jobs.model import Job, JobStatus
from heroagent.jobs.spill import ValueStore
from heroagent.ourdb import CompactReport, OurDB, OurDBError, RecordNotFoundError, StorageError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IndexEntry:
    status: JobStatus
    topic: str
    attempts: int
    time_end: float
    version: int = 0  # 0: a record written before versions were counted
    circle: str = ""
    tenant: str = ""
    user: str = ""
    group: str = ""
    kind: str = ""  # the job type: the actor its HeroScript calls first ("" when it does not start with one)

    @classmethod
    def of(cls, job: Job | RecordedEvent) -> IndexEntry:
        raw = job.to_json() if isinstance(job, Job) else job.json
        return cls(job.status, job.topic, job.attempts, job.time_end, job.version, *map(_shared, labels_of(raw)))

    def has(self, event: RecordedEvent) -> bool:
        """Whether the history already holds this event's state (it was read again after a crash)."""
        if self.version and event.version:
            return event.version <= self.version
        return (self.status, self.topic, self.attempts, self.time_end) == (
            event.status,
            event.topic,
            event.attempts,
            event.time_end,
        )

    @classmethod
    def from_json(cls, raw: bytes) -> IndexEntry:
        """Straight from a stored record, without parsing all of it (building the index at open is O(jobs)).

        Records are compact JSON (Python's and Redis's cjson), where `"status":"` cannot occur inside a
        string value (its quotes would be escaped); anything unexpected falls back to a full parse.
        """
        status, topic = _STATUS_RE.search(raw), _TOPIC_RE.search(raw)
        attempts, time_end = _ATTEMPTS_RE.search(raw), _TIME_END_RE.search(raw)
        version = _VERSION_RE.search(raw)
        if status and topic and attempts and time_end:
            try:
                return cls(
                    JobStatus(status.group(1).decode()),
                    topic.group(1).decode(),
                    int(attempts.group(1)),
                    float(time_end.group(1)),
                    int(version.group(1)) if version else 0,
                    *map(_shared, labels_of(raw)),
                )
            except ValueError:
                pass
        doc = json.loads(raw)
        label = {name: _shared(str(doc.get(name, ""))) for name in ("circleid", "tenantid", "userid", "group")}
        return cls(
            JobStatus(doc["status"]),
            str(doc["topic"]),
            int(doc.get("attempts", 0)),
            float(doc.get("time_end", 0)),
            int(doc.get("version", 0)),
            circle=label["circleid"],
            tenant=label["tenantid"],
            user=label["userid"],
            group=label["group"],
            kind=_shared(kind_of(str(doc.get("params", "")).encode())),
        )


_STATUS_RE = re.compile(rb'"status":"([a-z]+)"')
_TOPIC_RE = re.compile(rb'"topic":"([A-Za-z0-9_.-]+)"')
_ATTEMPTS_RE = re.compile(rb'"attempts":(\d+)[,}]')
_TIME_END_RE = re.compile(rb'"time_end":([0-9.eE+-]+)[,}]')
_VERSION_RE = re.compile(rb'"version":(\d+)[,}]')
_LABEL_RES = tuple(
    re.compile(rb'"' + name + rb'":"((?:[^"\\]|\\.)*)"') for name in (b"circleid", b"tenantid", b"userid", b"group")
)
_SHARED: dict[str, str] = {}  # one string per label value in the index, however many jobs share it


def _shared(value: str) -> str:
    return _SHARED.setdefault(value, value)


def labels_of(raw: bytes) -> tuple[str, str, str, str, str]:
    """(circle, tenant, user, group, job type) of a stored job's JSON ("" = none), without parsing it."""
    found = []
    for pattern in _LABEL_RES:
        match = pattern.search(raw)
        text = match.group(1) if match else b""
        found.append(str(json.loads(b'"' + text + b'"')) if b"\\" in text else text.decode(errors="replace"))
    return found[0], found[1], found[2], found[3], kind_of(raw)


_KIND_RE = re.compile(rb'"params":"(?:\\n|\s)*!{1,4}([A-Za-z0-9_-]{1,64})\.')
_PARAMS_KIND_RE = re.compile(rb"^\s*!{1,4}([A-Za-z0-9_-]{1,64})\.")


def kind_of(raw: bytes) -> str:
    """The actor a job's HeroScript starts with (from its JSON, or from the params themselves)."""
    match = _KIND_RE.search(raw) or _PARAMS_KIND_RE.search(raw)
    return name_fix(match.group(1).decode()) if match else ""


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

    @classmethod
    def from_stream(cls, fields: dict[bytes, bytes]) -> RecordedEvent:
        return cls(
            job_id=int(fields[b"jobid"]),
            topic=fields[b"topic"].decode(),
            status=JobStatus(fields[b"status"].decode()),
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


class JobStore:
    """The only writer of the jobs OurDB (the server process)."""

    def __init__(self, path: Path, *, fsync: str = "batch") -> None:
        self.db = OurDB(path, fsync=fsync, id_of=job_id_of)  # type: ignore[arg-type]
        self.values = ValueStore(path.with_name(path.name + ".values"))  # large fields (see spill.py)
        self._lock = threading.RLock()
        self._index: dict[int, IndexEntry] = {}
        self._ids: list[int] = []  # ascending
        self._counts: Counter[tuple[JobStatus, str]] = Counter()  # (status, topic) -> jobs, for counts and /metrics
        self._keys: dict[str, tuple[int, float]] = {}  # idempotency key -> (job id, time created)
        for job_id in self.db.ids():
            try:
                raw = self.db.get_intact(job_id)
                entry = IndexEntry.from_json(raw)
            except Exception as exc:  # a corrupt record must not stop the server
                log.error("jobs: history record %d is unreadable and is skipped: %s", job_id, exc)
                continue
            self._remember(job_id, entry)
            if b'"idempotencykey":"' in raw and b'"idempotencykey":""' not in raw:
                self._remember_key(self._job(job_id, raw))

    def close(self) -> None:
        self.db.close()

    def insert(self, jobs: list[Job]) -> None:
        """Give each job its id (OurDB's next) and store its first version; one fsync for all.

        For filling a history offline (benches, imports): with a server running, jobs get their ids
        from Redis and reach the history through the recorder (`record_events`).

        All or nothing: if the disk refuses a write (StorageError), the jobs already written by this call
        are deleted again and none is in the index, so a caller that reports the error has stored nothing."""
        written: list[int] = []
        with self._lock:
            try:
                with self.db.batch():
                    for job in jobs:
                        job.job_id = self.db.next_id
                        assigned = self.db.set(self.values.spill(job.job_id, job.to_json()))
                        assert assigned == job.job_id, "jobs OurDB has another writer"
                        written.append(assigned)
            except StorageError:
                for job_id in written:  # zeroing in place needs no new space
                    with contextlib.suppress(OurDBError):
                        self.db.delete(job_id)
                    self.values.remove(job_id)
                with contextlib.suppress(OurDBError):
                    self.db.sync()
                raise
            for job in jobs:
                self._remember(job.job_id, IndexEntry.of(job))
                self._remember_key(job)

    def record(self, jobs: list[Job]) -> list[RecordedEvent]:
        """Store new versions (state changes) of these jobs."""
        return self.record_events([RecordedEvent.from_job(job) for job in jobs])

    def record_events(self, events: list[RecordedEvent]) -> list[RecordedEvent]:
        """Store each event as a new version, one fsync for all; returns those not already the newest.

        The first event of a job the history has never seen (its id at or above OurDB's next id: Redis
        handed it out) is inserted under that id; an event of a job below it that the history lacks
        was deleted, and is ignored."""
        written = []
        with self._lock, self.db.batch():
            for event in events:
                entry = self._index.get(event.job_id)
                if entry is None:
                    if event.job_id >= self.db.next_id:
                        self.db.insert_at(self.values.spill(event.job_id, event.json), event.job_id)
                        self._remember(event.job_id, IndexEntry.of(event))
                        self._remember_key_of(event)
                        event.first = True
                        written.append(event)
                        continue
                    if not self.db.exists(event.job_id):
                        log.warning("jobs: event for unknown or deleted job %d ignored", event.job_id)
                        continue
                elif entry.has(event):
                    continue  # read again after a crash: the history has it already
                self.db.set(self.values.spill(event.job_id, event.json), id=event.job_id)
                self._remember(event.job_id, IndexEntry.of(event))
                written.append(event)
        return written

    def _remember_key_of(self, event: RecordedEvent) -> None:
        if b'"idempotencykey":"' in event.json and b'"idempotencykey":""' not in event.json:
            self._remember_key(Job.from_json(event.json))

    def _remember(self, job_id: int, entry: IndexEntry) -> None:
        old = self._index.get(job_id)
        if old is None:
            if not self._ids or job_id > self._ids[-1]:
                self._ids.append(job_id)
            else:
                bisect.insort(self._ids, job_id)
        else:
            self._counts[(old.status, old.topic)] -= 1
        self._counts[(entry.status, entry.topic)] += 1
        self._index[job_id] = entry

    def get(self, job_id: int) -> Job:
        """The newest intact version (a damaged newest one is logged and skipped, see OurDB.get_history)."""
        try:
            return self._job(job_id, self.db.get_intact(job_id))
        except RecordNotFoundError:
            raise JobNotFoundError(f"no job with id {job_id}") from None

    def topic_of(self, job_id: int) -> str | None:
        entry = self._index.get(job_id)
        return entry.topic if entry else None

    def status_of(self, job_id: int) -> JobStatus | None:
        entry = self._index.get(job_id)
        return entry.status if entry else None

    def history(self, job_id: int) -> list[Job]:
        """Every stored version, oldest first."""
        try:
            versions = self.db.get_history(job_id, intact=True)  # a damaged older version ends it there
        except RecordNotFoundError:
            raise JobNotFoundError(f"no job with id {job_id}") from None
        return [self._job(job_id, v) for v in reversed(versions)]

    def _job(self, job_id: int, raw: bytes) -> Job:
        """A stored version as a Job, its large values put back (see spill.py)."""
        return Job.from_dict(self.values.restore(job_id, raw))

    def _remember_key(self, job: Job) -> None:
        if job.idempotency_key:
            self._keys[job.idempotency_key] = (job.job_id, job.time_created)

    def job_for_key(self, key: str, since: float) -> int | None:
        """The id of the job created with idempotency `key` at or after `since` (None = there is none)."""
        with self._lock:
            found = self._keys.get(key)
            if found is None or found[1] < since or found[0] not in self._index:
                return None
            return found[0]

    def keys_since(self, since: float) -> list[tuple[str, int, float]]:
        """(idempotency key, job id, time created) of every keyed job created at or after `since`: what
        the server puts back into a Redis that lost its data."""
        with self._lock:
            return [
                (key, job_id, created)
                for key, (job_id, created) in self._keys.items()
                if created >= since and job_id in self._index
            ]

    @property
    def last_id(self) -> int:
        """The highest id the history has ever given out or recorded (0 = none): the id counter's floor."""
        return self.db.next_id - 1

    def delete(self, job_id: int) -> None:
        with self._lock:
            try:
                self.db.delete(job_id)
            except RecordNotFoundError:
                raise JobNotFoundError(f"no job with id {job_id}") from None
            self.values.remove(job_id)
            old = self._index.pop(job_id, None)
            if old is not None:
                self._counts[(old.status, old.topic)] -= 1
            pos = bisect.bisect_left(self._ids, job_id)
            if pos < len(self._ids) and self._ids[pos] == job_id:
                del self._ids[pos]

    def delete_many(self, job_ids: list[int]) -> None:
        """Delete these jobs with one commit; ids already gone are skipped."""
        with self._lock, self.db.batch():
            for job_id in job_ids:
                try:
                    self.delete(job_id)
                except JobNotFoundError:
                    continue

    def finished_before(self, cutoff: float) -> list[int]:
        """Ids of finished jobs that ended before `cutoff`, oldest id first."""
        with self._lock:
            return [i for i in self._ids if (e := self._index[i]).status.terminal and 0 < e.time_end < cutoff]

    def compact(self) -> CompactReport:
        """Compact the OurDB files (ids and every live job's history stay as they are)."""
        with self._lock:
            return self.db.compact()

    def ids_with_status(self, *statuses: JobStatus) -> list[int]:
        with self._lock:
            return [i for i, e in self._index.items() if e.status in statuses]

    def count_by_status(self) -> dict[str, int]:
        counts = {s.value: 0 for s in JobStatus}
        with self._lock:
            for (status, _), n in self._counts.items():
                counts[status.value] += n
        return counts

    def count_by_status_and_topic(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return {(status.value, topic): n for (status, topic), n in self._counts.items() if n > 0}

    def count(self, status: str | None = None, topic: str | None = None) -> int:
        """How many stored jobs have this status and topic (None = any), from the counters."""
        with self._lock:
            return sum(
                n
                for (s, t), n in self._counts.items()
                if (status is None or s.value == status) and (topic is None or t == topic)
            )

    def topics(self) -> list[str]:
        """Every topic a stored job has."""
        with self._lock:
            return sorted({topic for (_, topic), n in self._counts.items() if n > 0})

    def finished_since(self, since: float) -> Iterator[tuple[JobStatus, float]]:
        """(status, time_end) of every finished job that ended after `since` (one pass over the index)."""
        with self._lock:
            entries = list(self._index.values())
        for entry in entries:
            if entry.status.terminal and entry.time_end >= since:
                yield entry.status, entry.time_end

    def list(
        self,
        *,
        status: JobStatus | None = None,
        topic: str | None = None,
        text: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
        circle: str | None = None,
        tenant: str | None = None,
        user: str | None = None,
        group: str | None = None,
    ) -> list[Job]:
        """Newest first. `before_id` pages: pass the last id of the previous page."""
        needle = text.lower() if text else None
        out: list[Job] = []
        with self._lock:
            end = bisect.bisect_left(self._ids, before_id) if before_id is not None else len(self._ids)
            candidates = self._ids[:end]
            index = self._index
        for job_id in reversed(candidates):
            entry = index.get(job_id)
            if entry is None or (status is not None and entry.status != status):
                continue
            if topic is not None and entry.topic != topic:
                continue
            if circle is not None and entry.circle != circle:
                continue
            if (tenant is not None and entry.tenant != tenant) or (user is not None and entry.user != user):
                continue
            if group is not None and entry.group != group:
                continue
            try:
                raw = self.db.get(job_id)
            except RecordNotFoundError:
                continue
            if needle is not None and needle not in raw.decode(errors="replace").lower():
                continue
            out.append(self._job(job_id, raw))
            if len(out) >= limit:
                break
        return out

    def count_kinds(self) -> dict[str, int]:
        """Job type -> jobs in the history (one pass over the index)."""
        with self._lock:
            entries = list(self._index.values())
        counts: dict[str, int] = {}
        for entry in entries:
            if entry.kind:
                counts[entry.kind] = counts.get(entry.kind, 0) + 1
        return counts

    def count_groups(self) -> dict[str, dict[str, int]]:
        """Group -> status -> jobs, for every group a stored job names (one pass over the index)."""
        with self._lock:
            entries = list(self._index.values())
        counts: dict[str, dict[str, int]] = {}
        for entry in entries:
            if entry.group:
                by_status = counts.setdefault(entry.group, {})
                by_status[entry.status.value] = by_status.get(entry.status.value, 0) + 1
        return counts

    def __len__(self) -> int:
        return len(self._index)
