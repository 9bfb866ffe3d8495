"""JobManager: the job system's API: create, read and change jobs.

Creating a job writes its first version to OurDB (which gives the id), then its hash and queue entry
to Redis. Every later change happens in Redis, by a Lua script that also appends the job's state to
`hero:events`; the recorder (recorder.py) writes those to the history. The background loops
(recorder, reaper, promoter) and upkeep live beside this class and are run by the jobs service.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import redis

from heroagent.jobs import keys
from heroagent.jobs.errors import InvalidJobError, InvalidTransitionError, JobNotFoundError
from heroagent.jobs.joblog import JobLogs, collect_remote_logs
from heroagent.jobs.model import (
    Job,
    JobStatus,
    ParamsType,
    check_job_spec,
    check_transition,
    clip,
    parse_status,
    scheduled_time,
)
from heroagent.jobs.queue import JobQueue
from heroagent.jobs.reconciler import UnqueuedJobs
from heroagent.jobs.retry import RetryPolicy
from heroagent.jobs.stats import JobStats
from heroagent.jobs.store import JobStore
from heroagent.jobs.worker import list_workers

log = logging.getLogger(__name__)

RETRY_BATCH = 1000  # dead jobs sent back per OurDB commit and Redis round trip


class JobManager:
    def __init__(
        self,
        client: redis.Redis,
        store: JobStore,
        logs: JobLogs,
        *,
        default_timeout: float = 60.0,
        default_max_retries: int = 0,
        default_retry_delay: float = 10.0,
        max_value_bytes: int = 16 * 1024 * 1024,
        min_retry_delay: float = 0.0,
        idempotency_window: float = 86400.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.client = client
        self.queue = JobQueue(client, retry)
        self.default_max_retries = default_max_retries
        self.default_retry_delay = default_retry_delay
        self.min_retry_delay = min_retry_delay
        self.max_value_bytes = max_value_bytes
        self.idempotency_window = idempotency_window
        self._create_lock = threading.Lock()  # check-then-create of keyed jobs is one step
        self.store = store
        self.logs = logs
        self.default_timeout = default_timeout
        self._changed = threading.Condition()
        self.unqueued = UnqueuedJobs()  # accepted while Redis was unreachable; the reaper queues them
        self.stats = JobStats()

    def notify(self) -> None:
        """Wake `wait_for_job` callers: the history changed (the recorder calls this after each batch)."""
        with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------ creating

    def create_job(
        self,
        topic: str,
        params: str,
        *,
        params_type: str = "heroscript",
        timeout: float | None = None,
        circle_id: str = "",
        session_key: str = "",
        log: bool = False,
        max_retries: int | None = None,
        retry_delay: float | None = None,
        run_at: datetime | float | None = None,
        delay: float | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Save to OurDB (which gives the id), store in Redis and queue it; return the Job.

        `run_at` (a datetime, or unix seconds) or `delay` (seconds from now) makes it a delayed job: it
        stays `new`, with `time_scheduled` set, until it is due; then it is queued like any other.
        `max_retries` and `retry_delay` default to `[jobs]`'s (see retry.py for the backoff).
        """
        return self.create_jobs(
            [
                {
                    "topic": topic,
                    "params": params,
                    "params_type": params_type,
                    "timeout": timeout,
                    "circle_id": circle_id,
                    "session_key": session_key,
                    "log": log,
                    "max_retries": max_retries,
                    "retry_delay": retry_delay,
                    "run_at": run_at,
                    "delay": delay,
                    "idempotency_key": idempotency_key,
                }
            ]
        )[0]

    def create_jobs(self, specs: Iterable[Mapping[str, Any]]) -> list[Job]:
        """Many jobs: one OurDB commit and one Redis round trip for all of them. A spec whose
        `idempotency_key` was used within `[jobs] idempotency_window` gets that earlier job instead."""
        return [job for job, _ in self.submit(specs)]

    def submit(self, specs: Iterable[Mapping[str, Any]]) -> list[tuple[Job, bool]]:
        """`create_jobs`, saying for each job whether it was created now (False: an earlier job with the
        same idempotency key). The key index lives in the history, so it holds across restarts and a
        Redis that lost its data."""
        jobs = [self._new_job(spec) for spec in specs]
        if not any(job.idempotency_key for job in jobs):
            return [(job, True) for job in self._create(jobs)]
        with self._create_lock:
            since = time.time() - self.idempotency_window
            answers: list[tuple[Job, bool] | None] = []
            fresh: list[Job] = []
            pending: dict[str, Job] = {}
            for job in jobs:
                key = job.idempotency_key
                earlier = self.store.job_for_key(key, since) if key else None
                if earlier is not None:
                    answers.append((self.get_job(earlier), False))
                elif key in pending:  # the same key twice in one batch: one job
                    answers.append((pending[key], False))
                else:
                    if key:
                        pending[key] = job
                    fresh.append(job)
                    answers.append(None)
            self._create(fresh)
            made = iter(fresh)
            return [answer if answer is not None else (next(made), True) for answer in answers]

    def _create(self, jobs: list[Job]) -> list[Job]:
        if not jobs:
            return []
        self.store.insert(jobs)
        try:
            self.queue.enqueue(jobs)
        except redis.RedisError as exc:
            self.unqueued.add(jobs)
            log.warning("jobs: Redis unreachable (%s); %d job(s) saved and queued when it is back", exc, len(jobs))
        for job in jobs:
            if job.log:
                self.logs.append(job.job_id, f"created: topic {job.topic}, {job.params_type.value}")
        return jobs

    def _new_job(self, spec: Mapping[str, Any]) -> Job:
        clean = check_job_spec(spec)
        size = len(clean["params"].encode())
        if size > self.max_value_bytes:
            raise InvalidJobError(
                f"params: {size} bytes is over the limit of {self.max_value_bytes} bytes ([jobs] max_value_bytes)"
            )
        max_retries, retry_delay, timeout = clean.get("max_retries"), clean.get("retry_delay"), clean.get("timeout")
        return Job(
            topic=clean["topic"],
            params=clean["params"],
            params_type=ParamsType(clean.get("params_type", "heroscript")),
            timeout=float(timeout if timeout is not None else self.default_timeout),
            circle_id=clean.get("circle_id", ""),
            session_key=clean.get("session_key", ""),
            log=clean.get("log", False),
            max_retries=int(max_retries if max_retries is not None else self.default_max_retries),
            retry_delay=max(  # with [jobs] retry_delay_min, a failing job cannot retry in a hot loop
                self.min_retry_delay, float(retry_delay if retry_delay is not None else self.default_retry_delay)
            ),
            time_scheduled=scheduled_time(clean.get("run_at"), clean.get("delay")),
            idempotency_key=clean.get("idempotency_key", ""),
        )

    # ------------------------------------------------------------ reading

    def get_job(self, job_id: int) -> Job:
        """Redis first (the live state), else the history."""
        topic = self.store.topic_of(job_id)
        if topic is None:
            raise JobNotFoundError(f"no job with id {job_id}")
        try:
            live = self.queue.get(topic, job_id)
        except redis.RedisError:
            live = None
        return live if live is not None else self.store.get(job_id)

    def get_history(self, job_id: int) -> list[Job]:
        """Every stored version, oldest first: the job's timeline."""
        return self.store.history(job_id)

    def list_jobs(
        self,
        status: str | JobStatus | None = None,
        topic: str | None = None,
        text: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[Job]:
        wanted = parse_status(status) if status else None
        if limit < 1:
            raise InvalidJobError(f"limit: {limit} must be at least 1")
        return self.store.list(status=wanted, topic=topic or None, text=text or None, limit=limit, before_id=before_id)

    def get_log(self, job_id: int, offset: int = 0) -> str:
        self._collect_log(job_id)
        return self.logs.read(job_id, offset)

    def get_log_tail(self, job_id: int, max_bytes: int) -> tuple[str, bool]:
        """The end of a job's log (what a page shows), and whether the start was left out."""
        self._collect_log(job_id)
        return self.logs.read_tail(job_id, max_bytes)

    def _collect_log(self, job_id: int) -> None:
        """File the lines remote workers left in Redis for this job; JobNotFoundError if there is no job."""
        if self.store.topic_of(job_id) is None:
            raise JobNotFoundError(f"no job with id {job_id}")
        with contextlib.suppress(redis.RedisError):  # what is already in the file is still worth showing
            collect_remote_logs(self.client, self.logs, job_id)

    def queue_stats(self) -> dict[str, dict[str, int]]:
        return self.queue.stats()

    def list_workers(self) -> list[dict[str, str]]:
        """Every worker pool that reported recently, in this process or another (`heroagent worker`)."""
        return list_workers(self.client)

    def topics(self) -> list[str]:
        """Every topic with a stored job or a queue."""
        try:
            live = self.queue.topics()
        except redis.RedisError:
            live = []
        return sorted(set(self.store.topics()) | set(live))

    def wait_for_job(self, job_id: int, timeout: float | None = None) -> Job:
        """Block until the job's final state is in the history; return it. TimeoutError if it is not."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                status = self.store.status_of(job_id)
                if status is None:
                    raise JobNotFoundError(f"no job with id {job_id}")
                if status.terminal:
                    return self.store.get(job_id)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"job {job_id} is still {status.value} after {timeout}s")
                self._changed.wait(timeout=0.5 if remaining is None else min(remaining, 0.5))

    # ------------------------------------------------------------ changing

    def update_job_status(self, job_id: int, status: str | JobStatus, **fields: str) -> Job:
        new = parse_status(status)
        job = self.get_job(job_id)
        check_transition(job_id, job.status, new)
        if new == job.status:
            return job
        extra = dict(fields)
        if new.terminal:
            extra.setdefault("time_end", f"{time.time():.3f}")
        if new is JobStatus.ACTIVE:
            extra.setdefault("time_start", f"{time.time():.3f}")
        outcome = self.queue.transition(job, new.value, extra, expect=job.status.value)
        if outcome != "ok":
            current = JobStatus(outcome) if outcome in {s.value for s in JobStatus} else None
            raise InvalidTransitionError(
                f"job {job_id}: cannot change status to {new.value}: it is "
                + (current.value if current else "no longer in flight")
            )
        return self.get_job(job_id)

    def complete_job(self, job_id: int, result: str) -> Job:
        return self.update_job_status(job_id, JobStatus.DONE, result=clip(result, self.max_value_bytes))

    def fail_job(self, job_id: int, error: str) -> Job:
        return self.update_job_status(job_id, JobStatus.ERROR, error=clip(error, self.max_value_bytes))

    def cancel_job(self, job_id: int) -> Job:
        """A queued job is canceled at once and never runs; a running one is stopped by its worker."""
        job = self.get_job(job_id)
        if job.status.terminal:
            raise InvalidTransitionError(f"job {job_id}: cannot cancel: it is already {job.status.value}")
        outcome = self.queue.cancel(job.topic, job_id, time.time())
        if outcome not in ("canceled", "stopping"):
            raise InvalidTransitionError(f"job {job_id}: cannot cancel: it is {outcome or 'finished'}")
        return self.get_job(job_id)

    def retry_job(self, job_id: int) -> Job:
        """Queue a finished job again as a new attempt (its earlier attempts stay in its history)."""
        return self.retry_jobs([job_id])[0]

    def retry_jobs(self, job_ids: Iterable[int]) -> list[Job]:
        """Queue finished jobs again, one OurDB commit and one Redis round trip for all of them.

        Raises before changing anything if one of them is not finished (or does not exist)."""
        jobs = []
        for job_id in job_ids:
            job = self.store.get(job_id)
            live = self.queue.get(job.topic, job_id)
            if (live or job).status not in (JobStatus.ERROR, JobStatus.CANCELED, JobStatus.DONE):
                raise InvalidTransitionError(
                    f"job {job_id}: cannot retry: it is {(live or job).status.value}; only finished jobs can be retried"
                )
            job = live or job
            job.status = JobStatus.NEW
            job.retries += 1
            job.error = job.result = job.worker = ""
            job.time_start = job.time_end = job.time_scheduled = 0.0
            jobs.append(job)
        if jobs:
            self.store.record(jobs)
            self.queue.enqueue(jobs)
            self.notify()
        return jobs

    def list_dead(self, topic: str | None = None, limit: int = 50, before_id: int | None = None) -> list[Job]:
        """Jobs that ended in error: out of retries, timed out for good, or failed by hand. Newest first."""
        return self.list_jobs(status=JobStatus.ERROR, topic=topic, limit=limit, before_id=before_id)

    def retry_dead(self, topic: str | None = None) -> list[Job]:
        """Retry every dead job (of one topic, or all): what to do once the cause of the failures is fixed."""
        wanted = sorted(
            job_id
            for job_id in self.store.ids_with_status(JobStatus.ERROR)
            if topic is None or self.store.topic_of(job_id) == topic
        )
        retried: list[Job] = []
        for start in range(0, len(wanted), RETRY_BATCH):
            retried += self.retry_jobs(wanted[start : start + RETRY_BATCH])
        if retried:
            log.info("jobs: %d dead job(s)%s queued again", len(retried), f" of topic {topic}" if topic else "")
        return retried

    def delete_job(self, job_id: int) -> None:
        """Remove a job from Redis and from the history. A running job must be canceled first."""
        job = self.get_job(job_id)
        if job.status is JobStatus.ACTIVE:
            raise InvalidTransitionError(f"job {job_id}: cannot delete a running job; cancel it first")
        if job.status is JobStatus.NEW:
            self.queue.cancel(job.topic, job_id, time.time())
        self.client.delete(keys.job(job.topic, job_id))
        self.store.delete(job_id)
        self.client.delete(keys.joblog(job_id))
        self.logs.remove(job_id)
