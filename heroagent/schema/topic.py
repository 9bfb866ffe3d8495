"""A topic's limits: how many of its jobs may run at once and how many may start per period, across
every worker process and machine (`[topics.<name>]` in the config, or set at run time).

Jobs over a limit wait in their queue; they are never failed for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from heroagent.errors import InvalidInputError
from heroagent.schema.fields import Field, Schema

MAX_RUNNING = 100_000
PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
RATE_PATTERN = r"([1-9][0-9]{0,6})/((?:[0-9]+(?:\.[0-9]+)?s)|second|minute|hour|day)"
RATE_HINT = 'must be a count per period: "100/minute", "5/second", "1000/hour", "1/day" or "10/30s"'

TOPIC_LIMITS = Schema(
    "topic limits",
    (
        Field(
            "max_running",
            "integer",
            "at most this many of the topic's jobs run at once, over all workers",
            minimum=1,
            maximum=MAX_RUNNING,
        ),
        Field(
            "rate",
            "string",
            'at most this many of its jobs start per period, over all workers: "100/minute"',
            max_bytes=32,
            pattern=RATE_PATTERN,
            pattern_hint=RATE_HINT,
        ),
    ),
)


@dataclass(frozen=True)
class Rate:
    count: int
    period_ms: int
    text: str

    @classmethod
    def parse(cls, text: str) -> Rate:
        """ "100/minute" -> Rate(100, 60000); InvalidInputError saying what is allowed."""
        found = re.fullmatch(RATE_PATTERN, text.strip())
        if found is None:
            raise InvalidInputError(f"rate: {text[:40]!r} {RATE_HINT}")
        count, period = int(found.group(1)), found.group(2)
        seconds = PERIODS[period] if period in PERIODS else float(period[:-1])
        if not 0.001 <= seconds <= 366 * 86400:
            raise InvalidInputError(f"rate: {text!r}: the period must be from 1 ms to a year")
        return cls(count, round(seconds * 1000), text.strip())


@dataclass(frozen=True)
class TopicLimits:
    max_running: int | None = None
    rate: Rate | None = None

    @property
    def empty(self) -> bool:
        return self.max_running is None and self.rate is None

    @classmethod
    def check(cls, given: Any, label: str = "topic limits") -> TopicLimits:
        """From the config, the API or the CLI; InvalidInputError names the field (null/absent = no limit)."""
        try:
            clean = TOPIC_LIMITS.check(given)
            rate = Rate.parse(clean["rate"]) if "rate" in clean else None
        except InvalidInputError as exc:
            raise InvalidInputError(f"{label}: {exc}") from None
        max_running = clean.get("max_running")
        return cls(None if max_running is None else int(max_running), rate)

    @classmethod
    def from_stored(cls, stored: Mapping[str, str]) -> TopicLimits:
        """From the hash in Redis (written by JobQueue.set_limits)."""
        max_running = int(stored["max_running"]) if stored.get("max_running") else None
        rate = None
        if stored.get("rate_n") and stored.get("rate_ms"):
            rate = Rate(int(stored["rate_n"]), int(stored["rate_ms"]), stored.get("rate", ""))
        return cls(max_running, rate)

    def to_dict(self) -> dict[str, Any]:
        return {"max_running": self.max_running, "rate": self.rate.text if self.rate else None}
