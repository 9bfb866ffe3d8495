"""Upkeep on a large history: retention of half the jobs, then compaction, timed; sizes before and after.

    python bench/bench_upkeep.py [-n 100000]

Each job gets three versions (new, active, done) as the server records them. Retention removes the older
half; compaction then rewrites the files. For scale, the same run times a plain copy of the data files
(the floor any rewrite pays). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from heroagent.jobs.history.store import JobStore
from heroagent.jobs.model import Job, JobStatus


def fill(path: Path, count: int, batch: int = 5000) -> None:
    store = JobStore(path)
    try:
        now = time.time()
        for start in range(0, count, batch):
            jobs = [
                Job(topic=f"topic{i % 7}", params=f"!!fake.return_success message:m{i}", time_created=now - count + i)
                for i in range(start, min(count, start + batch))
            ]
            store.insert(jobs)
            for status in (JobStatus.ACTIVE, JobStatus.DONE):
                for job in jobs:
                    job.status, job.attempts = status, 1
                    job.time_start = job.time_created + 0.1
                    job.time_end = job.time_created + 0.2 if status is JobStatus.DONE else 0.0
                store.record(jobs)
    finally:
        store.close()


def data_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.glob("*.db"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=100_000, help="jobs (default 100000)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-upkeep-"))
    try:
        path = folder / "jobsdb"
        started = time.perf_counter()
        fill(path, args.n)
        print(f"filled {args.n} jobs x 3 versions in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        shutil.copytree(path, folder / "copy")
        copy_s = time.perf_counter() - started
        store = JobStore(path)
        try:
            cutoff = time.time() - args.n / 2
            started = time.perf_counter()
            old = store.finished_before(cutoff)
            store.delete_many(old)
            retention_s = time.perf_counter() - started
            before = data_size(path)
            started = time.perf_counter()
            report = store.compact()
            compact_s = time.perf_counter() - started
            after = data_size(path)
        finally:
            store.close()
        print(f"retention: removed {len(old)} jobs in {retention_s:.2f} s")
        print(f"compaction: {report.summary()} in {compact_s:.2f} s")
        print(f"plain copy of the data files (before retention): {copy_s:.2f} s")
        print(f"compaction / copy: {compact_s / copy_s:.1f}x; data {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
