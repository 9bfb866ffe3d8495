"""What a running job's code can see: the job, a cancel signal, its log, its progress, and where the share is."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from heroagent.jobs.errors import JobSkipped
from heroagent.jobs.live.joblog import LogSink
from heroagent.jobs.model import Job
from heroagent.schema.job import clip_encoded

MAX_PROGRESS_DETAILS = 1024  # bytes of a progress text kept


@dataclass(frozen=True)
class ParentOutcome:
    """How a job another depends on ended: its status ('done', 'error', ...) and its result as a value
    (a JSON value, or text: as `Job.result` gives it; None when it has none)."""

    status: str
    result: Any


@dataclass
class JobContext:
    job: Job
    logs: LogSink
    share_root: Path | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    deadline: float = 0.0  # time.monotonic() by which the job must end
    # The newest progress the job reported, and whether it is not in Redis yet (the pool flushes it,
    # at most every PROGRESS_EVERY seconds per job, so a chatty job cannot flood Redis or the history).
    reported: tuple[float, str] | None = None
    progress_dirty: bool = False
    on_progress: Callable[[float, str], None] | None = None  # set in a forked child: report through the pipe
    skip_reason: str | None = None  # a script printed "::skip <reason>": it ends skipped if it succeeds
    # Suspension: set while the job is asked to be (or is) suspended. A child process the job runs is
    # stopped by its process group (SIGSTOP); an actor in a thread pauses at `checkpoint()`.
    suspend: threading.Event = field(default_factory=threading.Event)
    paused: threading.Event = field(default_factory=threading.Event)  # the actor waits at a checkpoint now
    process_group: int | None = None  # the group of the child process running now (scripts, rhai, isolation)
    # How each job this one depends on ended (parent id -> ParentOutcome), read before it starts ({} = none).
    # A group's callback (jm.group(..., on_complete=...)) finds its members' ids, statuses and results here.
    parent_results: dict[int, ParentOutcome] = field(default_factory=dict)

    def progress(self, fraction: float, details: str = "") -> None:
        """Report how far the job is: `fraction` from 0 to 1 (clamped), `details` a short text."""
        value = float(fraction)
        if not math.isfinite(value):
            raise ValueError(f"progress: {fraction!r} is not a number from 0 to 1")
        value = min(1.0, max(0.0, value))
        text = clip_encoded(str(details), MAX_PROGRESS_DETAILS)
        if self.on_progress is not None:
            self.on_progress(value, text)
            return
        self.reported = (value, text)
        self.progress_dirty = True

    def checkpoint(self) -> None:
        """A place where the job may be suspended: returns at once unless a suspend was asked for; then
        waits (its timeout clock stopped) until it is resumed or canceled. Call it between steps of a
        long job; without it, a job running in a thread cannot be suspended (only its child processes)."""
        if not self.suspend.is_set():
            return
        self.paused.set()
        try:
            while self.suspend.is_set() and not self.cancel.wait(0.05):  # wakes on a cancel at once
                pass
        finally:
            self.paused.clear()

    def suspended(self) -> bool:
        """Whether a suspend was asked for: a job that polls this may call `checkpoint()` to pause."""
        return self.suspend.is_set()

    def skip(self, reason: str = "") -> NoReturn:
        """End the job `skipped` (final; not a failure, so no retry): there was nothing to do. `reason`
        becomes its result."""
        raise JobSkipped(clip_encoded(str(reason), MAX_PROGRESS_DETAILS))

    def log(self, line: str) -> None:
        if self.job.log:
            self.logs.append(self.job.job_id, line)

    @property
    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic()) if self.deadline else float("inf")
