"""Keeping Redis in step with the history: the reaper, the promoter, and reconcile.

- The reaper (every second) returns jobs whose worker stopped renewing its lease, notices a Redis
  that restarted or lost its data and reconciles, and files the log lines remote workers left in Redis.
- The promoter (5 times a second) queues delayed jobs as they fall due.
- `reconcile` (at start, and when Redis restarted or lost its data) queues again every job the
  history holds as new or active that Redis has neither queued nor in flight, then makes Redis ready
  for creating jobs: the idempotency keys of the window back, the job id counter raised to at least
  the history's highest id (see docs/architecture.md, "Job ids"), and the `[jobs]` defaults published.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from typing import Any

import redis

from heroagent.jobs import keys
from heroagent.jobs.errors import JobError
from heroagent.jobs.history.recorder import ensure_events_group
from heroagent.jobs.history.store import JobStore
from heroagent.jobs.live.joblog import JobLogs, collect_remote_logs
from heroagent.jobs.live.queue import JobQueue, fingerprint_of
from heroagent.jobs.live.submit import JobDefaults
from heroagent.jobs.model import RUNNING, Job, JobStatus

log = logging.getLogger(__name__)

REAP_INTERVAL = 1.0
PROMOTE_INTERVAL = 0.2
RECONCILE_AGAIN_AFTER = 3.0  # seconds after a restart's reconcile: by then the recorder has caught up


NO_INFO = "(INFO not allowed)"  # the run id when the Redis user may not run INFO


class Reconciler:
    def __init__(
        self, client: redis.Redis, store: JobStore, queue: JobQueue, logs: JobLogs, defaults: JobDefaults
    ) -> None:
        self.client = client
        self.store = store
        self.queue = queue
        self.logs = logs
        self.defaults = defaults
        self._lock = threading.RLock()  # the reaper and a create that found Redis emptied may both recover
        self._run_id = ""
        self.info_denied = False  # the Redis user may not run INFO (a least-privilege ACL user)
        self._again_at = 0.0  # when to reconcile once more after a restart (0: no need)
        self.reconciles = 0
        # With [redis] partitions there is one reconciler per partition: it restores the jobs whose ids its
        # partition handed out, and partition 0's also keeps what no job's script shares (defaults, logs).
        self.partition, self.partitions = queue.layout.PARTITION, queue.layout.PARTITIONS
        self.home = self.partition == 0

    def mine(self, job_id: int) -> bool:
        """Whether this reconciler's partition handed out `job_id` (always, without partitions)."""
        return keys.job_id_partition(job_id, self.partitions) == self.partition

    def reap_step(self) -> None:
        """One reaper tick (a Redis that cannot be reached is waited out, not an error)."""
        try:
            run_id = self._redis_run_id()
            if run_id != self._run_id:
                # Any restart may have lost the last second of writes (AOF everysec): check all.
                log.warning("jobs: Redis restarted; reconciling its queues with the history")
                self.recover()
                self._again_at = time.monotonic() + RECONCILE_AGAIN_AFTER
            elif self.client.get(self.queue.layout.EPOCH) is None:
                log.warning("jobs: Redis lost its data; reconciling with the history")
                self.recover()
                self._again_at = time.monotonic() + RECONCILE_AGAIN_AFTER
            elif self._again_at and time.monotonic() >= self._again_at:
                # The recorder may have written, after the first pass read the history, states it had
                # read from Redis before the restart that Redis then lost: a second pass queues those.
                self._again_at = 0.0
                requeued = self.reconcile()
                if requeued:
                    log.warning("jobs: the second reconcile after the restart queued %d job(s) again", requeued)
            recovered = self.queue.reap()
            if recovered:
                log.warning("jobs: %d job(s) whose worker stopped were returned to their queues", recovered)
            if self.home:
                collect_remote_logs(self.client, self.queue.layout, self.logs)
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
        with self._lock:
            ensure_events_group(self.client, self.queue.layout)
            self.reconcile()

    def _redis_run_id(self) -> str:
        """Redis's run id (a restart changes it). An ACL user without INFO gets NO_INFO: restarts are then
        noticed only when Redis lost its data (hero:epoch gone), and health notes why (`info_denied`)."""
        try:
            info: Any = self.client.info("server")
        except redis.exceptions.NoPermissionError:
            if not self.info_denied:
                log.warning(
                    "jobs: the Redis user may not run INFO: a Redis restart is noticed only when Redis lost "
                    "all its data; allow +info to notice every restart"
                )
            self.info_denied = True
            return NO_INFO
        return str(info.get("run_id", ""))

    def reconcile(self) -> int:
        """Queue again every job the history holds as new/active that Redis has neither queued nor in flight."""
        with self._lock:
            return self._reconcile()

    def _reconcile(self) -> int:
        moved = self.queue.upgrade_queues()
        if moved:
            log.warning("jobs: %d queued job(s) moved to the priority queues", moved)
        in_redis = self.queue.queued_and_inflight_ids()
        requeue: list[Job] = []
        missing = [i for i in self.store.ids_with_status(JobStatus.NEW, *RUNNING) if i not in in_redis and self.mine(i)]
        topics = {job_id: row.topic for job_id, row in self.store.index.rows(missing).items()}
        for job_id in missing:
            topic = topics.get(job_id)
            if topic is None or self.queue.get(topic, job_id) is not None:
                continue  # deleted meanwhile, or Redis has it (created, claimed or ended since `in_redis`)
            # Read after Redis said it has no hash: a job that ended meanwhile was recorded before its hash
            # went, so the history says so now; reading the history first would queue it again.
            job = self.store.get(job_id)
            if job.status is not JobStatus.NEW and not job.status.running:
                continue
            if job.status.running:
                job.error = f"attempt {job.attempts} lost: the server or Redis stopped while it ran"
            job.status = JobStatus.NEW
            job.version += 1
            job.updated_at = time.time()
            job.worker = ""
            requeue.append(job)
        if requeue:
            self.store.record(requeue)
            self.queue.enqueue(requeue)
            log.warning("jobs: %d job(s) from the history were queued again", len(requeue))
        restored = self._restore_waiting(in_redis)  # after their parents are back: those count as live
        self.ready_for_creates()
        self.client.set(self.queue.layout.EPOCH, uuid.uuid4().hex)
        self._run_id = self._redis_run_id()
        self.reconciles += 1
        return len(requeue) + restored

    def _restore_waiting(self, in_redis: set[int]) -> int:
        """The waiting jobs (depends_on) the history has and Redis lost, put back: each parent that left
        Redis is given with how the history says it ended (lua/restore_waiting.lua does the rest)."""
        restored = 0
        for job_id in self.store.ids_with_status(JobStatus.WAITING):
            if not self.mine(job_id) or job_id in in_redis or self.queue.topic_of(job_id) is not None:
                continue
            try:
                job = self.store.get(job_id)
            except JobError:
                continue  # deleted meanwhile
            if job.status is not JobStatus.WAITING:
                continue
            parents = [(parent, self._outcome(parent)) for parent in job.depends_on]
            if self.queue.restore_waiting(job, parents):
                restored += 1
        if restored:
            log.warning("jobs: %d waiting job(s) from the history were put back", restored)
        return restored

    def _outcome(self, parent: int) -> str:
        """How a parent ended as the scripts take it ('' = Redis has it: the script looks there)."""
        if self.queue.topic_of(parent) is not None:
            return ""
        try:
            job = self.store.get(parent)
        except JobError:
            return json.dumps({"status": "gone", "result": "", "result_type": ""})
        if not job.status.terminal:
            return ""  # not back in Redis either (deleted meanwhile): the script finds it gone
        return json.dumps({"status": job.status.value, "result": job.result_text, "result_type": job.result_type})

    def _put_keys_back(self, batch: list[tuple[str, int, float]], now: float) -> None:
        """The keys of `batch` Redis lacks, each holding "<id> <fingerprint>" as a create writes it (so the
        same key with other params is still a conflict): only a missing key costs a read of its job."""
        pipe = self.client.pipeline(transaction=False)
        for key, _, _ in batch:
            pipe.exists(self.queue.layout.idempotency(key))
        present = pipe.execute()
        for (key, job_id, created), there in zip(batch, present, strict=True):
            if there:
                continue
            try:
                value = f"{job_id} {fingerprint_of(self.store.get(job_id))}"
            except JobError:  # deleted meanwhile, or unreadable: the id alone still names it
                value = str(job_id)
            left_ms = math.ceil((created + self.defaults.idempotency_window - now) * 1000)
            pipe.set(self.queue.layout.idempotency(key), value, px=max(1, left_ms), nx=True)
        pipe.execute()

    def ready_for_creates(self) -> None:
        """The idempotency keys of the window back into Redis, then the id counter raised to the history's
        highest id (creates wait for the counter, so none can slip in between), then the defaults."""
        now = time.time()
        window = self.defaults.idempotency_window
        wanted = [(k, i, c) for k, i, c in self.store.keys_since(now - window) if c + window > now and self.mine(i)]
        for start in range(0, len(wanted), 1000):
            self._put_keys_back(wanted[start : start + 1000], now)
        counter = self.queue.seed(self.store.last_id)
        if self.home:
            self.defaults.publish(self.client, self.queue.layout)
        log.debug("jobs: job id counter at %d (history's highest id %d)", counter, self.store.last_id)
