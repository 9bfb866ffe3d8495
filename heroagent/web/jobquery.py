"""The jobs list's filters and paging, read from a query string; shared by the jobs page and `GET /api/jobs`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from heroagent.errors import InvalidInputError
from heroagent.jobs.errors import InvalidJobError, JobError
from heroagent.jobs.model import Job, parse_statuses
from heroagent.jobs.server.manager import JobManager
from heroagent.schema.filters import DEFAULT_LIMIT, FILTER_NAMES, JOB_FILTERS

PARAMETERS = frozenset(FILTER_NAMES)


@dataclass(frozen=True)
class JobQuery:
    """A jobs list's filters (schema/filters.py JOB_FILTERS), as a query string gives them."""

    status: str = ""
    topic: str = ""
    text: str = ""
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
        given: dict[str, Any] = {}
        for f in JOB_FILTERS.fields:
            raw = args.get(f.name, "").strip()
            if raw:
                given[f.name] = _int_arg(f.name, raw) if f.kind == "integer" else raw
        if "before" in given:  # an id past any a job can have pages from the newest (or, below 1, to nothing)
            given["before"] = max(-1, min(given["before"], 2**63 - 1)) or None
        try:
            JOB_FILTERS.check(given)
        except InvalidInputError as exc:
            raise InvalidJobError(str(exc)) from None
        if given.get("status"):
            parse_statuses(given["status"])  # one, or several: "error,timeout"
        return cls(**given)

    def run(self, manager: JobManager) -> tuple[list[Job], int | None]:
        """One page, newest first, and the `before` that gives the next page (None on the last one)."""
        filters = {name: getattr(self, name) or None for name in FILTER_NAMES if name != "limit"}
        jobs = manager.list_jobs(limit=self.limit + 1, **filters)
        jobs = [_live(manager, job) if job.status.running else job for job in jobs]
        if len(jobs) > self.limit:
            jobs = jobs[: self.limit]
            return jobs, jobs[-1].job_id
        return jobs, None

    def args(self, **changes: Any) -> dict[str, Any]:
        """The query string of this filter (for links), with `changes` applied and empty values left out."""
        values: dict[str, Any] = {name: getattr(self, name) for name in FILTER_NAMES if name != "limit"}
        if self.limit != DEFAULT_LIMIT:
            values["limit"] = self.limit
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


def _int_arg(name: str, raw: str) -> int:
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
