"""The job system: no Flask here; usable from any Python program with a Redis and a folder.

Names load on first use, so `heroagent.jobs.errors` or `heroagent.jobs.model` do not pull in the
manager, the queue scripts and OurDB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from heroagent.lazy import lazy_exports

_LAZY = {
    "ActorRegistry": "heroagent.jobs.run.actors",
    "actor": "heroagent.jobs.run.actors",
    "JobContext": "heroagent.jobs.run.context",
    "InvalidJobError": "heroagent.jobs.errors",
    "InvalidTransitionError": "heroagent.jobs.errors",
    "JobError": "heroagent.jobs.errors",
    "JobFailed": "heroagent.jobs.errors",
    "JobNotFoundError": "heroagent.jobs.errors",
    "PermanentError": "heroagent.jobs.errors",
    "JobManager": "heroagent.jobs.server.manager",
    "Job": "heroagent.jobs.model",
    "JobStatus": "heroagent.jobs.model",
    "ParamsType": "heroagent.jobs.model",
}

__all__ = [
    "ActorRegistry",
    "InvalidJobError",
    "InvalidTransitionError",
    "Job",
    "JobContext",
    "JobError",
    "JobFailed",
    "JobManager",
    "JobNotFoundError",
    "JobStatus",
    "ParamsType",
    "PermanentError",
    "actor",
]

if TYPE_CHECKING:
    from heroagent.jobs.errors import (
        InvalidJobError,
        InvalidTransitionError,
        JobError,
        JobFailed,
        JobNotFoundError,
        PermanentError,
    )
    from heroagent.jobs.model import Job, JobStatus, ParamsType
    from heroagent.jobs.run.actors import ActorRegistry, actor
    from heroagent.jobs.run.context import JobContext
    from heroagent.jobs.server.manager import JobManager

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
