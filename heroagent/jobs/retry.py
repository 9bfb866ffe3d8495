"""How failed attempts are retried: exponential backoff with jitter and a cap, and the lost-attempt limit.

The decision itself is made in Redis, inside the script that records the failure (queue.py's
`retry_later`), so a failure and its retry are one atomic step whoever reports it: a worker thread, the
supervisor on a timeout, or the reaper for a crashed worker. This module holds the settings those scripts
are given, and the same formula in Python (`backoff`), where it is written down and tested.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from heroagent.config import JobsConfig


@dataclass(frozen=True)
class RetryPolicy:
    """`cap` bounds one backoff (seconds); `max_lost` attempts lost to dead workers make a job fail."""

    cap: float = 3600.0
    max_lost: int = 3

    @classmethod
    def from_config(cls, jobs: JobsConfig) -> RetryPolicy:
        return cls(cap=jobs.retry_delay_max, max_lost=jobs.max_lost_attempts)

    def script_args(self) -> list[str | int]:
        """[jitter, cap_ms]: a fresh jitter per call (a script's own math.random repeats itself)."""
        return [f"{random.random():.6f}", int(self.cap * 1000)]


def backoff(retry_delay: float, retries: int, cap: float, jitter: float) -> float:
    """Seconds before retry number `retries + 1`: retry_delay * 2^retries, capped, times 0.5-1 (`jitter` 0-1)."""
    return float(min(cap, retry_delay * 2.0**retries) * (0.5 + jitter / 2))
