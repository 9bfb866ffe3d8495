"""Keeping Redis in step with the history: the reaper, the promoter, and reconcile.

- The reaper (every second) returns jobs whose worker stopped renewing its lease, notices a Redis
  that restarted or lost its data and reconciles, queues jobs accepted while Redis was down, and files
  the log lines remote workers left in Redis.
- The promoter (5 times a second) queues delayed jobs as they fall due.
- `reconcile` (at start, and when Redis restarted or lost its data) queues again every job the
  history holds as new or active that Redis has neither queued nor in flight.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from typing import Any

import redis

from heroagent.jobs import keys
from heroagent.jobs.joblog import JobLogs, collect_remote_logs
from heroagent.jobs.model import Job, JobStatus
from heroagent.jobs.queue import JobQueue
from heroagent.jobs.recorder import ensure_events_group
from heroagent.jobs.store import JobStore

log = logging.getLogger(__name__)

REAP_INTERVAL = 1.0
PROMOTE_INTERVAL = 0.2


class UnqueuedJobs:
    """Jobs stored in the history while Redis was unreachable: queued by the reaper once it is back."""

    def __init__(self) -> None:
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()

    def add(self, jobs: Iterable[Job]) -> None:
        with self._lock:
            self._jobs.update({job.job_id: job for job in jobs})

    def pending(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def discard(self, jobs: Iterable[Job]) -> None:
        with self._lock:
            for job in jobs:
                self._jobs.pop(job.job_id, None)


class Reconciler:
    def __init__(
        self, client: redis.Redis, store: JobStore, queue: JobQueue, logs: JobLogs, unqueued: UnqueuedJobs
    ) -> None:
        self.client = client
        self.store = store
        self.queue = queue
        self.logs = logs
        self.unqueued = unqueued
        self._run_id = ""
        self.reconciles = 0

    def reap_step(self) -> None:
        """One reaper tick (a Redis that cannot be reached is waited out, not an error)."""
        try:
            run_id = self._redis_run_id()
            if run_id != self._run_id:
                # Any restart may have lost the last second of writes (AOF everysec): check all.
                log.warning("jobs: Redis restarted; reconciling its queues with the history")
                self.recover()
            elif self.client.get(keys.EPOCH) is None:
                log.warning("jobs: Redis lost its data; reconciling with the history")
                self.recover()
            recovered = self.queue.reap()
            if recovered:
                log.warning("jobs: %d job(s) whose worker stopped were returned to their queues", recovered)
            self._queue_unqueued()
            collect_remote_logs(self.client, self.logs)
        except redis.RedisError as exc:
            log.debug("jobs: reaper cannot reach Redis (%s)", exc)

    def promote_step(self) -> None:
        """Queue delayed jobs that fell due (the promoter runs this 5 times a second)."""
        try:
            self.queue.promote()
        except redis.RedisError as exc:
            log.debug("jobs: promoter cannot reach Redis (%s)", exc)

    def recover(self) -> None:
        """After Redis lost its data: the events group back, then reconcile."""
        ensure_events_group(self.client)
        self.reconcile()

    def _redis_run_id(self) -> str:
        info: Any = self.client.info("server")
        return str(info.get("run_id", ""))

    def _queue_unqueued(self) -> None:
        pending = self.unqueued.pending()
        if not pending:
            return
        self.queue.enqueue(pending)
        self.unqueued.discard(pending)
        log.info("jobs: %d job(s) accepted while Redis was down are queued now", len(pending))

    def reconcile(self) -> int:
        """Queue again every job the history holds as new/active that Redis has neither queued nor in flight."""
        in_redis = self.queue.queued_and_inflight_ids()
        requeue: list[Job] = []
        for job_id in self.store.ids_with_status(JobStatus.NEW, JobStatus.ACTIVE):
            if job_id in in_redis:
                continue
            job = self.store.get(job_id)
            live = self.queue.get(job.topic, job_id)
            if live is not None and live.status.terminal:
                continue  # finished; its event is on the way to the history
            if job.status is JobStatus.ACTIVE:
                job.error = f"attempt {job.attempts} lost: the server or Redis stopped while it ran"
            job.status = JobStatus.NEW
            job.worker = ""
            requeue.append(job)
        if requeue:
            self.store.record(requeue)
            self.queue.enqueue(requeue, front=True)
            log.warning("jobs: %d job(s) from the history were queued again", len(requeue))
        self.unqueued.discard(requeue)  # reconcile queued these too: enqueueing them again would double them
        self.client.set(keys.EPOCH, uuid.uuid4().hex)
        self._run_id = self._redis_run_id()
        self.reconciles += 1
        return len(requeue)
