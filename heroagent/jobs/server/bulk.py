"""Bulk changes (issue 30, item 2): retry, cancel or delete many jobs, one bounded batch per call.

The jobs are named by id (at most BULK_BATCH), or matched by a filter of the jobs list (schema/filters.py
JOB_FILTERS, newest first; the filter's `before` pages through them: each answer's `next_before` is the
next call's `before`). Each job goes through the manager's own per-job operation (`retry_jobs` for a
batch of finished ones, `cancel_job`, `delete_job`), so a bulk change follows the same rules as one job.
A job whose state does not allow the change (it changed since it was selected, or never could) is
skipped and counted, not an error. A call holds no lock over its batch and stops after BULK_SECONDS,
saying where to go on, so 10,000 jobs are many short calls, never one long one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from heroagent.errors import InvalidInputError
from heroagent.jobs.errors import InvalidJobError, InvalidTransitionError, JobNotFoundError
from heroagent.jobs.history.history_index import Filters
from heroagent.jobs.model import parse_statuses
from heroagent.schema.filters import JOB_FILTERS, MAX_LIMIT

if TYPE_CHECKING:
    from heroagent.jobs.server.manager import JobManager

BULK_ACTIONS = ("retry", "cancel", "delete")
BULK_BATCH = MAX_LIMIT  # the most jobs one call changes, and the most ids it takes (500)
BULK_SECONDS = 10.0  # a call stops after this long and says where to go on
MAX_JOB_ID = 2**63 - 1
SKIPPED = (InvalidTransitionError, JobNotFoundError)  # the job's state does not allow it (now): skipped


@dataclass
class BulkResult:
    """What one call did: `done` and `skipped` counted, the skipped ids, and where to go on: `next_before`
    (a filter's next batch, None when there is none) or `left` (ids given that time did not reach)."""

    action: str
    done: int = 0
    skipped_ids: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    next_before: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "done": self.done,
            "skipped": len(self.skipped_ids),
            "skipped_ids": self.skipped_ids,
            "left": self.left,
            "next_before": self.next_before,
        }


def check_action(action: object) -> str:
    if not isinstance(action, str) or action not in BULK_ACTIONS:
        raise InvalidJobError(f"action: {str(action)[:40]!r} must be one of {', '.join(BULK_ACTIONS)}")
    return action


def check_ids(job_ids: object) -> list[int]:
    """Job ids as given (a list of whole numbers, 1 to BULK_BATCH of them), each once, in their order."""
    if not isinstance(job_ids, list) or not job_ids:
        raise InvalidJobError("ids: must be a list of job ids (whole numbers), at least one")
    if len(job_ids) > BULK_BATCH:
        raise InvalidJobError(f"ids: {len(job_ids)} given; at most {BULK_BATCH} per call (send the rest in batches)")
    for i in job_ids:
        if isinstance(i, bool) or not isinstance(i, int) or not 1 <= i <= MAX_JOB_ID:
            raise InvalidJobError(f"ids: {str(i)[:40]!r} is not a job id (a whole number from 1 to {MAX_JOB_ID})")
    return list(dict.fromkeys(job_ids))


def check_filters(filters: object) -> dict[str, Any]:
    """A filter of the jobs list (JOB_FILTERS' names and rules); its `limit` is the batch's size."""
    if not isinstance(filters, Mapping):
        raise InvalidJobError(f"filter: must be an object with some of the fields {', '.join(JOB_FILTERS.names())}")
    try:
        clean = JOB_FILTERS.check(filters)
    except InvalidInputError as exc:
        raise InvalidJobError(str(exc)) from None
    if clean.get("status"):
        parse_statuses(clean["status"])
    return {k: v for k, v in clean.items() if v not in (None, "")}


def index_filters(filters: Mapping[str, Any]) -> Filters:
    status = filters.get("status")
    statuses = tuple(s.value for s in parse_statuses(status)) if status else None
    return Filters(
        statuses,
        filters.get("topic"),
        filters.get("circle_id"),
        filters.get("tenant_id"),
        filters.get("user_id"),
        filters.get("group"),
    )


def matching_ids(manager: JobManager, filters: Mapping[str, Any], limit: int) -> list[int]:
    """The ids of up to `limit` jobs the filter matches, newest first, below its `before`."""
    before = filters.get("before")
    if before is not None:  # below 1: no job is there (never "from the newest", which would widen a change)
        before = min(before, MAX_JOB_ID) if before > 0 else -1
    return manager.store.list_ids(index_filters(filters), text=filters.get("text"), limit=limit, before_id=before)


def count_matching(manager: JobManager, filters: Mapping[str, Any], cap: int = 1_000_000) -> int:
    """How many jobs the filter matches (its `before` and `limit` aside): the counters when only status and
    topic are given, else the index's ids (at most `cap`)."""
    wide = {k: v for k, v in filters.items() if k not in ("before", "limit")}
    if set(wide) <= {"status", "topic"}:
        statuses = tuple(s.value for s in parse_statuses(wide["status"])) if wide.get("status") else None
        return manager.store.count(statuses, wide.get("topic"))
    return len(matching_ids(manager, wide, cap))


def run_bulk(
    manager: JobManager,
    action: str,
    job_ids: list[int] | None,
    filters: Mapping[str, Any] | None,
    *,
    seconds: float = BULK_SECONDS,
) -> dict[str, Any]:
    """One call of `JobManager.bulk_jobs` (its docstring says what it takes and gives)."""
    action = check_action(action)
    if (job_ids is None) == (filters is None):
        raise InvalidJobError("give the jobs either as ids or as a filter (one of them)")
    if job_ids is not None:
        ids = check_ids(job_ids)
        full_batch = False
    else:
        clean = check_filters(filters)
        size = min(int(clean.get("limit", BULK_BATCH)), BULK_BATCH)
        ids = matching_ids(manager, clean, size + 1)  # one more: whether another batch follows
        full_batch, ids = len(ids) > size, ids[:size]
    result = BulkResult(action)
    reached = _apply(manager, action, ids, result, time.monotonic() + seconds)
    if job_ids is not None:
        result.left = ids[reached:]
    elif reached < len(ids) or full_batch:  # more may match below the last job reached
        result.next_before = ids[reached - 1]
    return result.to_dict()


def _apply(manager: JobManager, action: str, ids: list[int], result: BulkResult, deadline: float) -> int:
    """Do `action` to `ids` in order until the deadline; how many ids it reached."""
    if action == "retry":
        return _retry(manager, ids, result, deadline)
    return _one_by_one(manager.cancel_job if action == "cancel" else manager.delete_job, ids, result, deadline)


def _retry(manager: JobManager, ids: list[int], result: BulkResult, deadline: float) -> int:
    """Finished jobs are queued again together (one history commit, one Redis round trip); the others are
    skipped. If one changed between the look and the retry, the batch goes one job at a time."""
    finished: list[int] = []
    reached = 0
    for job_id in ids:
        if reached and time.monotonic() > deadline:
            break
        reached += 1
        try:
            terminal = manager.get_job(job_id).status.terminal
        except JobNotFoundError:
            terminal = False
        (finished if terminal else result.skipped_ids).append(job_id)
    try:
        result.done += len(manager.retry_jobs(finished))
    except SKIPPED:
        _one_by_one(manager.retry_job, finished, result, deadline=math.inf)
    return reached


def _one_by_one(change: Callable[[int], object], ids: list[int], result: BulkResult, deadline: float) -> int:
    """`change` each job in order until the deadline (at least one); how many ids it reached."""
    reached = 0
    for job_id in ids:
        if reached and time.monotonic() > deadline:
            break
        reached += 1
        try:
            change(job_id)
        except SKIPPED:
            result.skipped_ids.append(job_id)
        else:
            result.done += 1
    return reached
