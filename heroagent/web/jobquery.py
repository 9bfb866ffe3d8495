"""The jobs list's filters and paging, read from a query string; shared by the jobs page and `GET /api/jobs`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from heroagent.jobs.errors import InvalidJobError, JobError
from heroagent.jobs.model import Job, parse_statuses
from heroagent.jobs.server.manager import JobManager

PARAMETERS = frozenset({"status", "topic", "q", "limit", "before", "circle_id", "tenant_id", "user_id", "group"})
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class JobQuery:
    status: str = ""
    topic: str = ""
    q: str = ""
    limit: int = DEFAULT_LIMIT
    before: int | None = None
    circle_id: str = ""
    tenant_id: str = ""
    user_id: str = ""
    group: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str], *, known: frozenset[str] = frozenset()) -> JobQuery:
        """Raise InvalidJobError naming the parameter when one is bad, or is not one of PARAMETERS (and
        `known`, what the caller reads itself): a misspelt filter is an error, not a silently wider list."""
        unknown = sorted(set(args) - PARAMETERS - known)
        if unknown:
            raise InvalidJobError(
                f"{unknown[0]}: not a filter of the jobs list; use {', '.join(sorted(PARAMETERS | known))}"
            )
        status = args.get("status", "").strip()
        if status:
            parse_statuses(status)  # one, or several: "error,timeout"
        limit = _int_arg(args, "limit", DEFAULT_LIMIT)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidJobError(f"limit: {limit} must be between 1 and {MAX_LIMIT}")
        before = _int_arg(args, "before", 0) or None
        labels = (args.get(name, "").strip() for name in ("circle_id", "tenant_id", "user_id", "group"))
        return cls(status, args.get("topic", "").strip(), args.get("q", "").strip(), limit, before, *labels)

    def run(self, manager: JobManager) -> tuple[list[Job], int | None]:
        """One page, newest first, and the `before` that gives the next page (None on the last one)."""
        jobs = manager.list_jobs(
            self.status or None,
            self.topic or None,
            self.q or None,
            self.limit + 1,
            self.before,
            self.circle_id or None,
            tenant=self.tenant_id or None,
            user=self.user_id or None,
            group=self.group or None,
        )
        jobs = [_live(manager, job) if job.status.running else job for job in jobs]
        if len(jobs) > self.limit:
            jobs = jobs[: self.limit]
            return jobs, jobs[-1].job_id
        return jobs, None

    def args(self, **changes: Any) -> dict[str, Any]:
        """The query string of this filter (for links), with `changes` applied and empty values left out."""
        values: dict[str, Any] = {
            "status": self.status,
            "topic": self.topic,
            "q": self.q,
            "before": self.before,
            "circle_id": self.circle_id,
            "tenant_id": self.tenant_id,
            "user_id": self.user_id,
            "group": self.group,
        }
        if self.limit != DEFAULT_LIMIT:
            values["limit"] = self.limit
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


def _int_arg(args: Mapping[str, str], name: str, default: int) -> int:
    raw = args.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidJobError(f"{name}: {raw!r} must be a whole number") from None


def _live(manager: JobManager, job: Job) -> Job:
    """A running job's live state (its progress moves in Redis between the history's versions)."""
    try:
        return manager.get_job(job.job_id)
    except (redis.RedisError, JobError):
        return job
