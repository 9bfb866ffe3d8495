"""The recorder's batch in the history (issue 27, item 3): all its versions go to OurDB in one write, the
index gets one row per job from its newest version, and a batch whose write a crash tore is recovered:
the history reads as before it, and the same events recorded again (the recorder redoes a batch whose
events it did not ack) leave it exactly as a run without the crash."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from heroagent.jobs.history.history_index import Filters
from heroagent.jobs.history.store import JobStore, RecordedEvent
from heroagent.jobs.model import Job, JobStatus
from heroagent.ourdb import InvalidIdError
from tests.conftest import run_python


def _events(first: int, last: int, *states: JobStatus, version: int = 1) -> list[RecordedEvent]:
    """Each job's versions in these states (numbered from `version`), job after job."""
    out = []
    for job_id in range(first, last + 1):
        job = Job(topic="t", params=f"!!fake.return_success message:'job {job_id}'", job_id=job_id)
        for number, status in enumerate(states, start=version):
            job.status, job.version = status, number
            job.attempts = int(status is not JobStatus.NEW)
            job.result_text = f'"result {job_id}"' if status is JobStatus.DONE else ""
            out.append(RecordedEvent.from_job(job))
    return out


BEFORE = _events(1, 10, JobStatus.NEW)
# Jobs 1-10 end, 11-30 are made and end: one batch of 80 versions.
TORN = _events(1, 10, JobStatus.ACTIVE, JobStatus.DONE, version=2) + _events(
    11, 30, JobStatus.NEW, JobStatus.ACTIVE, JobStatus.DONE
)

KILLED_MID_WRITE = """
import os, pickle, signal, sys
from pathlib import Path
from heroagent.jobs.history.store import JobStore
from heroagent.ourdb import db

store = JobStore(Path(sys.argv[1]))
real = db.pwrite_exactly
def torn(fd, data, position, where, *, undo_append=False):  # the batch's records, half of them on disk
    if len(data) > 4096:
        os.pwrite(fd, data[: len(data) // 2], position)
        os.kill(os.getpid(), signal.SIGKILL)
    real(fd, data, position, where, undo_append=undo_append)
db.pwrite_exactly = torn
store.record_events(pickle.loads(Path(sys.argv[2]).read_bytes()))
"""


def _recorded(path: Path, *batches: list[RecordedEvent]) -> JobStore:
    store = JobStore(path)
    for batch in batches:
        store.record_events([dataclasses.replace(event) for event in batch])
    return store


def _history(store: JobStore) -> dict[int, list[bytes]]:
    return {job_id: store.db.get_history(job_id) for job_id in store.db.ids()}


def test_a_batch_torn_by_a_crash_is_recovered_and_recorded_again_as_if_never_torn(data_dir: Path) -> None:
    reference = _recorded(data_dir / "reference", BEFORE, TORN)
    _recorded(data_dir / "jobsdb", BEFORE).close()
    events = data_dir / "events.pickle"
    events.write_bytes(pickle.dumps(TORN))
    killed = run_python(KILLED_MID_WRITE, str(data_dir / "jobsdb"), str(events))
    assert killed.returncode == -9, killed.stderr
    store = JobStore(data_dir / "jobsdb")
    try:
        assert store.db.recovery.truncated_bytes > 0  # the torn half was cut off
        assert store.db.check().ok
        assert [j.status for j in store.history(3)] == [JobStatus.NEW]  # as before the batch
        assert store.count_by_status() == {**{s.value: 0 for s in JobStatus}, "new": 10}
        store.record_events(TORN)  # the recorder reads the batch again: its events were never acked
        assert _history(store) == _history(reference)
        assert store.count_by_status_and_topic() == reference.count_by_status_and_topic() == {("done", "t"): 30}
        assert store.list_ids(Filters(), text="result 17") == [17]
        assert store.list_ids(Filters(), text="job") == reference.list_ids(Filters(), text="job")
        assert store.db.check().ok
    finally:
        store.close()
        reference.close()


def test_a_batch_one_version_of_which_ourdb_refuses_writes_none(data_dir: Path) -> None:
    """All or none: the recorder then records the batch's events one by one and sets the bad one aside."""
    store = _recorded(data_dir / "jobsdb", BEFORE)
    try:
        wild = _events(3_000_000, 3_000_000, JobStatus.NEW)  # an id far past the next: OurDB refuses it
        with pytest.raises(InvalidIdError):
            store.record_events([*_events(11, 12, JobStatus.NEW), *_events(4, 4, JobStatus.ACTIVE, version=2), *wild])
        assert store.db.next_id == 11 and not store.db.exists(11)
        assert len(store.db.get_history(4)) == 1 and store.status_of(4) is JobStatus.NEW
        assert len(store.record_events(_events(11, 12, JobStatus.NEW))) == 2
    finally:
        store.close()
