"""What a running job's code can see: the job, a cancel signal, its log, and where the share is."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from heroagent.jobs.joblog import LogSink
from heroagent.jobs.model import Job


@dataclass
class JobContext:
    job: Job
    logs: LogSink
    share_root: Path | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    deadline: float = 0.0  # time.monotonic() by which the job must end

    def log(self, line: str) -> None:
        if self.job.log:
            self.logs.append(self.job.job_id, line)

    @property
    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic()) if self.deadline else float("inf")
