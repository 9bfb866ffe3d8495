"""What finished, and how fast: throughput over the last minutes and run-time histograms per topic.

The recorder is the one place every finished job passes (local and remote workers alike), so it feeds
these figures; the dashboard's chart and `/metrics` read them. Throughput is seeded from the history's
index at start, so a restart does not blank the chart; the histograms count what this process saw.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from heroagent.jobs.model import JobStatus

BUCKET_SECONDS = 10
WINDOW_SECONDS = 600
# Upper bounds (seconds) of the run-time histogram buckets, as Prometheus expects them (+Inf implied).
DURATION_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BOUNDS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(DURATION_BOUNDS, seconds)] += 1
        self.total += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, count) pairs: each bucket counts every observation at or below its bound."""
        out, running = [], 0
        for bound, n in zip((*DURATION_BOUNDS, float("inf")), self.counts, strict=True):
            running += n
            out.append(("+Inf" if bound == float("inf") else f"{bound:g}", running))
        return out


@dataclass(frozen=True)
class ThroughputBucket:
    start: float  # unix seconds
    done: int
    error: int
    canceled: int

    @property
    def total(self) -> int:
        return self.done + self.error + self.canceled


class JobStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[int, Counter[JobStatus]] = {}
        self._durations: dict[str, Histogram] = {}
        self._finished: Counter[tuple[str, JobStatus]] = Counter()

    def seed(self, finished: Iterable[tuple[JobStatus, float, int]]) -> None:
        """Fill the throughput window from the history ((status, when, how many) per bucket), without
        touching the counters."""
        with self._lock:
            for status, when, count in finished:
                self._bucket(when)[status] += count

    def observe(self, topic: str, status: JobStatus, time_start: float, time_end: float) -> None:
        if not status.terminal:
            return
        with self._lock:
            self._bucket(time_end or time.time())[status] += 1
            self._finished[(topic, status)] += 1
            if time_start > 0 and time_end >= time_start and status is not JobStatus.CANCELED:
                self._durations.setdefault(topic, Histogram()).observe(time_end - time_start)

    def _bucket(self, when: float) -> Counter[JobStatus]:
        key = int(when // BUCKET_SECONDS)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Counter()
            oldest = int((time.time() - WINDOW_SECONDS) // BUCKET_SECONDS)
            for stale in [k for k in self._buckets if k < oldest]:
                del self._buckets[stale]
        return bucket

    def throughput(self, now: float | None = None) -> list[ThroughputBucket]:
        """One bucket per BUCKET_SECONDS over the last WINDOW_SECONDS, oldest first (empty ones included)."""
        now = time.time() if now is None else now
        last = int(now // BUCKET_SECONDS)
        first = last - WINDOW_SECONDS // BUCKET_SECONDS + 1
        with self._lock:
            out = []
            for key in range(first, last + 1):
                c = self._buckets.get(key, Counter())
                out.append(
                    ThroughputBucket(
                        key * BUCKET_SECONDS,
                        c[JobStatus.DONE],
                        c[JobStatus.ERROR] + c[JobStatus.TIMEOUT],  # the chart's failures: both kinds
                        c[JobStatus.CANCELED],
                    )
                )
        return out

    def durations(self) -> dict[str, Histogram]:
        with self._lock:
            return {topic: Histogram(list(h.counts), h.total) for topic, h in self._durations.items()}

    def finished_counts(self) -> dict[tuple[str, str], int]:
        """(topic, status) -> jobs this process recorded as finished since it started."""
        with self._lock:
            return {(topic, status.value): n for (topic, status), n in self._finished.items()}
