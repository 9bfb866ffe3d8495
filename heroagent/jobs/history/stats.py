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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

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
        # Per bucket: (topic, status) -> jobs that finished (per-queue throughput and error rate, as this
        # process saw them), and the worker slots: (busy summed, slots summed, samples).
        self._topic_buckets: dict[int, Counter[tuple[str, JobStatus]]] = {}
        self._slots: dict[int, tuple[int, int, int]] = {}

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
            self._windowed(self._topic_buckets, time_end or time.time(), Counter)[(topic, status)] += 1
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

    @staticmethod
    def _windowed(buckets: dict[int, Any], when: float, empty: Callable[[], Any]) -> Any:
        """The bucket of `when` in `buckets` (made when missing), dropping those older than the window."""
        key = int(when // BUCKET_SECONDS)
        if key not in buckets:
            buckets[key] = empty()
            oldest = int((time.time() - WINDOW_SECONDS) // BUCKET_SECONDS)
            for stale in [k for k in buckets if k < oldest]:
                del buckets[stale]
        return buckets[key]

    def observe_slots(self, busy: int, slots: int, when: float | None = None) -> None:
        """A sample of every pool's worker slots: how many run a job now, of how many (the sampler loop)."""
        when = time.time() if when is None else when
        with self._lock:
            total_busy, total_slots, samples = self._windowed(self._slots, when, lambda: (0, 0, 0))
            self._slots[int(when // BUCKET_SECONDS)] = (total_busy + busy, total_slots + slots, samples + 1)

    def utilisation(self, now: float | None = None) -> list[tuple[float, float | None]]:
        """(bucket start, busy slots / slots, averaged over the bucket's samples; None = no sample or no
        slot) per BUCKET_SECONDS over the last WINDOW_SECONDS, oldest first."""
        now = time.time() if now is None else now
        last = int(now // BUCKET_SECONDS)
        out: list[tuple[float, float | None]] = []
        with self._lock:
            for key in range(last - WINDOW_SECONDS // BUCKET_SECONDS + 1, last + 1):
                busy, slots, _ = self._slots.get(key, (0, 0, 0))
                out.append((key * BUCKET_SECONDS, busy / slots if slots else None))
        return out

    def topic_window(self, now: float | None = None) -> dict[str, dict[str, int]]:
        """Per topic, over the last WINDOW_SECONDS: jobs finished, and of those failed (error, timeout)."""
        now = time.time() if now is None else now
        oldest = int((now - WINDOW_SECONDS) // BUCKET_SECONDS)
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for key, counts in self._topic_buckets.items():
                if key <= oldest:
                    continue
                for (topic, status), n in counts.items():
                    figures = out.setdefault(topic, {"finished": 0, "failed": 0})
                    figures["finished"] += n
                    if status in (JobStatus.ERROR, JobStatus.TIMEOUT):
                        figures["failed"] += n
        return out

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
