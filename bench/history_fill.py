"""Fill a jobs history (OurDB) with finished jobs quickly, for the large-history test and the dashboard bench."""

from __future__ import annotations

import time
from pathlib import Path

from heroagent.jobs.history.store import JobStore
from heroagent.jobs.model import Job, JobStatus

TOPICS = 7
ERROR_EVERY = 100


def fill_history(path: Path, count: int, batch: int = 5000) -> None:
    """`count` finished jobs: every 100th an error, topics topic0..topic6, results r<i>, one fsync per batch."""
    store = JobStore(path)
    try:
        now = time.time()
        for start in range(0, count, batch):
            jobs = []
            for i in range(start, min(count, start + batch)):
                failed = i % ERROR_EVERY == 0
                jobs.append(
                    Job(
                        topic=f"topic{i % TOPICS}",
                        params=f"!!fake.return_success message:m{i}",
                        status=JobStatus.ERROR if failed else JobStatus.DONE,
                        result_text="" if failed else f"r{i}",
                        error=f"failure number {i}" if failed else "",
                        attempts=1,
                        time_created=now - 3600,
                        time_start=now - 3600,
                        time_end=now - 3599,
                    )
                )
            store.insert(jobs)
    finally:
        store.close()
