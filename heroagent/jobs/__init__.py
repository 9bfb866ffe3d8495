"""The job system: no Flask here; usable from any Python program with a Redis and a folder."""

from heroagent.jobs.actors import ActorRegistry, actor
from heroagent.jobs.context import JobContext
from heroagent.jobs.errors import InvalidJobError, InvalidTransitionError, JobError, JobFailed, JobNotFoundError
from heroagent.jobs.manager import JobManager
from heroagent.jobs.model import Job, JobStatus, ParamsType

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
    "actor",
]
