"""The job history survives a damaged lookup table: the records say their job ids, so it is rebuilt."""

from __future__ import annotations

from pathlib import Path

from heroagent.jobs.history.store import JobStore
from heroagent.jobs.model import Job, JobStatus


def test_the_history_is_rebuilt_when_its_lookup_table_was_emptied(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobsdb")
    jobs = [Job(topic="t", params=f"!!fake.return_success message:{i}") for i in range(30)]
    store.insert(jobs)
    for job in jobs[:10]:
        job.status = JobStatus.DONE
    store.record(jobs[:10])
    store.delete_many([jobs[3].job_id, jobs[4].job_id])
    store.close()
    (tmp_path / "jobsdb" / "lookup.idx").write_bytes(b"")  # 30 jobs vanished and ids restarted at 1 before
    again = JobStore(tmp_path / "jobsdb")
    try:
        kept = {job.job_id for job in jobs} - {jobs[3].job_id, jobs[4].job_id}
        assert set(again.db.ids()) == kept and again.db.recovery.rebuilt_lookup
        assert again.get(jobs[0].job_id).status is JobStatus.DONE
        assert [v.status for v in again.history(jobs[0].job_id)] == [JobStatus.NEW, JobStatus.DONE]
        new = Job(topic="t", params="!!fake.return_success")
        again.insert([new])
        assert new.job_id == jobs[-1].job_id + 1  # no id handed out twice
    finally:
        again.close()
