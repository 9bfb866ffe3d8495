"""Errors of the job system. Bad input is a ValueError subclass whose message says what is wrong."""

from __future__ import annotations

from typing import Any

import redis

from heroagent.errors import HeroAgentError, InvalidInputError, NotFoundError


class JobError(HeroAgentError):
    """Base of every job-system error."""


class InvalidJobError(JobError, InvalidInputError):
    """The job as given cannot be accepted (bad topic, params type, timeout, size...)."""


class ParentsGoneError(JobError):
    """A create named parents (depends_on) that are no longer in Redis: the creator reads how they ended
    from the history and creates again with that (live/submit.py). Never reaches a user as such."""

    def __init__(self, ids: list[int]) -> None:
        super().__init__(f"jobs {ids} are not in Redis")
        self.ids = ids


class InvalidTransitionError(JobError, ValueError):
    """A status change that is not allowed, such as done -> active."""


class JobNotFoundError(JobError, NotFoundError):
    """No job with that id in Redis or in the history."""


class WorkerNotFoundError(JobError, NotFoundError):
    """No worker pool with that id reports to this Redis."""


class TopicNotFoundError(JobError, NotFoundError):
    """A topic action on a topic that has never had a job (a 404): a typo must not make a topic for good.
    `create=True` acts on it anyway (to pause a topic before its first job)."""


class TopicNotEmptyError(InvalidTransitionError):
    """Removing a topic that still has jobs queued, running or scheduled (a 409 naming what is left)."""


class JobFailed(Exception):
    """Raised inside a job (by an actor or processor) to end it in `error` with this message."""


class PermanentError(JobFailed):
    """Raised inside a job when no retry can fix it (a bad param, an unknown action, a record that does not
    exist): the job ends in `error` at once, its retries unspent. `heroagent.PermanentError`."""


class JobSkipped(Exception):
    """Raised inside a job (`ctx.skip(reason)`) to end it `skipped`: nothing to do, not a failure, no retry."""


class JobIdsNotSeededError(JobError):
    """Redis has no job id counter (emptied, or never served by HeroAgent): no job can be created until
    the server seeds it from the history (a 503: try again once the server is up)."""


class TopicDrainingError(InvalidTransitionError):
    """A create for a topic that is draining (a 409): it takes no new job until it is resumed."""


class ForeignLayoutError(InvalidTransitionError):
    """A key HeroAgent owns holds another kind of value, written by another program (a HeroJobs-style
    producer's `LPUSH heroqueue:<topic> <id>`): a 409 naming the key, the type found and the fix."""


class IdempotencyKeyConflictError(InvalidTransitionError):
    """A create whose idempotency key names a job made from other params (a 409): nothing was created."""


class IdempotencyKeyGoneError(InvalidTransitionError):
    """A create whose idempotency key names a job that is gone (a 409): nothing was created."""


# The errors a server's answer to a client's request may name (jobs/server/rpc.py): the client raises
# the same class, so `except JobNotFoundError` works alike in the server and in a JobClient.
class HistoryDamagedError(JobError):
    """A job's record in the history cannot be read (a damaged file): health names the damage."""


class ReplicasBehindError(redis.ConnectionError):
    """A write the Redis primary made but fewer replicas than `[redis] min_replicas` had in time: not
    acknowledged (a create answers 503, "may have been made"; an idempotency key makes the retry safe).
    A Redis error, so every caller that treats Redis as away treats this alike. `reply`: the script's."""

    def __init__(self, message: str, reply: Any = None) -> None:
        super().__init__(message)
        self.reply = reply


ERRORS: dict[str, type[JobError]] = {
    cls.__name__: cls
    for cls in (
        JobError,
        InvalidJobError,
        InvalidTransitionError,
        JobNotFoundError,
        WorkerNotFoundError,
        JobIdsNotSeededError,
        TopicDrainingError,
        TopicNotFoundError,
        TopicNotEmptyError,
        IdempotencyKeyGoneError,
        IdempotencyKeyConflictError,
        ForeignLayoutError,
        HistoryDamagedError,
    )
}


def error_name(exc: JobError) -> str:
    """The name in ERRORS of `exc`'s class, or of its nearest base there (a subclass of ours: its base)."""
    return next(cls.__name__ for cls in type(exc).__mro__ if cls.__name__ in ERRORS and ERRORS[cls.__name__] is cls)
