"""The worker pool: N threads that claim jobs, run them, and report back, plus one supervisor thread.

Each worker thread runs its job inline (no hand-off per job). The supervisor renews the leases of
every running job (one script call for all), passes cancel requests on, and enforces timeouts: a job
past its deadline is ended as `error` at once, its code is told to stop, and if that code does not
return the thread is left behind and a fresh thread takes its place, so a hung actor never shrinks
the pool. Every thread has its own worker id, so a late answer from a left-behind thread is refused.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis

from heroagent.jobs import keys
from heroagent.jobs.context import JobContext
from heroagent.jobs.errors import JobFailed
from heroagent.jobs.executor import JobExecutor
from heroagent.jobs.joblog import JobLogs
from heroagent.jobs.model import Job, JobStatus, clip
from heroagent.jobs.queue import JobQueue

log = logging.getLogger(__name__)

CANCEL_GRACE = 3.0  # seconds a canceled job's code gets to return before its thread is left behind


@dataclass
class _Running:
    job: Job
    ctx: JobContext
    worker_id: str
    settled: bool = False  # the supervisor already reported its end (timeout / cancel / stop)
    cancel_seen_at: float = 0.0


@dataclass
class _Slot:
    number: int
    worker_id: str
    thread: threading.Thread | None = None
    retired: bool = False
    running: _Running | None = None
    done: threading.Event = field(default_factory=threading.Event)


class WorkerPool:
    """`concurrency` worker threads serving `topics` ("*" = every topic in Redis)."""

    def __init__(
        self,
        queue: JobQueue,
        executor: JobExecutor,
        logs: JobLogs,
        *,
        topics: Sequence[str],
        concurrency: int,
        poll_interval: float,
        lease_seconds: float = 10.0,
        name: str | None = None,
    ) -> None:
        self.queue = queue
        self.executor = executor
        self.logs = logs
        self.topics = list(topics)
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.lease_ms = int(lease_seconds * 1000)
        self.pool_id = name or f"{socket.gethostname()}:{os.getpid()}:{os.urandom(2).hex()}"
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._numbers = itertools.count(1)
        self._supervisor: threading.Thread | None = None
        self._topic_cache: tuple[float, list[str]] = (0.0, [])
        self.jobs_done = 0

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        self._stopping.clear()
        for _ in range(self.concurrency):
            self._add_slot()
        self._supervisor = threading.Thread(target=self._supervise, name="heroagent-supervisor", daemon=True)
        self._supervisor.start()
        log.info("jobs: %d worker(s) %s serving topics %s", self.concurrency, self.pool_id, ",".join(self.topics))

    def stop(self, grace: float = 10.0) -> None:
        """Stop taking jobs; give running jobs `grace` seconds; put the rest back at the front of their queue."""
        self._stopping.set()
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self._running():
            time.sleep(0.05)
        for run in self._running():
            if self._settle(run, "new", {"error": "worker stopped; job returned to its queue"}):
                log.warning("jobs: job %d still running at stop; returned to its queue", run.job.job_id)
            run.ctx.cancel.set()
        for slot in list(self._slots):
            if slot.thread is not None:
                slot.thread.join(timeout=max(0.1, self.poll_interval * 2 + 1))
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        self._unregister()

    def _running(self) -> list[_Running]:
        with self._lock:
            return [s.running for s in self._slots if s.running is not None and not s.running.settled]

    def _add_slot(self) -> None:
        number = next(self._numbers)
        slot = _Slot(number, f"{self.pool_id}/{number}")
        slot.thread = threading.Thread(target=self._loop, args=(slot,), name=f"heroagent-worker-{number}", daemon=True)
        with self._lock:
            self._slots.append(slot)
        slot.thread.start()

    # ------------------------------------------------------------ the worker loop

    def _topics(self) -> list[str]:
        if "*" not in self.topics:
            return self.topics
        fetched_at, cached = self._topic_cache
        if time.monotonic() - fetched_at > 1.0 or not cached:
            cached = self.queue.topics()
            self._topic_cache = (time.monotonic(), cached)
        return cached

    def _loop(self, slot: _Slot) -> None:
        backoff = 0.1
        while not self._stopping.is_set() and not slot.retired:
            try:
                topics = self._topics()
                jobs = self.queue.claim(topics, slot.worker_id, self.lease_ms, 1) if topics else []
                if not jobs:
                    if topics:
                        self.queue.wait(topics, self.poll_interval)
                    else:
                        self._stopping.wait(self.poll_interval)
                    continue
                backoff = 0.1
            except redis.RedisError as exc:
                log.warning("jobs: worker %s cannot reach Redis (%s); retrying in %.1fs", slot.worker_id, exc, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            while jobs and not slot.retired:
                jobs = self._run(slot, jobs[0])
        slot.done.set()

    def _run(self, slot: _Slot, job: Job) -> list[Job]:
        """Run one job and report it; returns the next job when the report could claim one."""
        ctx = JobContext(
            job=job,
            logs=self.logs,
            share_root=self.executor.share_root,
            deadline=time.monotonic() + job.timeout,
        )
        run = _Running(job, ctx, slot.worker_id)
        with self._lock:
            slot.running = run
        ctx.log(f"started on worker {slot.worker_id} (attempt {job.attempts})")
        status, fields = JobStatus.DONE, {}
        try:
            result = self.executor.execute(ctx)
            fields = {"result": clip(result)}
        except JobFailed as exc:
            status, fields = JobStatus.ERROR, {"error": clip(str(exc))}
        except Exception as exc:
            status, fields = JobStatus.ERROR, {"error": clip(f"{type(exc).__name__}: {exc}")}
            ctx.log(traceback.format_exc())
        finally:
            with self._lock:
                slot.running = None
        if run.settled:
            return []  # the supervisor ended it (timeout, cancel, stop); this answer is too late
        if ctx.cancel.is_set() and status is JobStatus.ERROR:
            status = JobStatus.CANCELED
        fields["time_end"] = f"{time.time():.3f}"
        ctx.log(f"{status.value}: {fields.get('error') or 'ok'}")
        self.jobs_done += 1
        claim = not (self._stopping.is_set() or slot.retired)
        return self._report(job, status, fields, slot.worker_id, claim=claim)

    def _report(
        self, job: Job, status: JobStatus, fields: dict[str, str], worker_id: str, *, claim: bool
    ) -> list[Job]:
        """Report the end of a job (and claim the next), retrying while Redis is unreachable."""
        delay = 0.1
        while True:
            try:
                topics = self._topics() if claim else []
                outcome, claimed = self.queue.finish_and_claim(
                    job, status.value, fields, worker_id, topics, self.lease_ms
                )
                if outcome != "ok":
                    log.info("jobs: result of job %d dropped: it is %s now", job.job_id, outcome or "gone")
                return claimed
            except redis.RedisError as exc:
                if self._stopping.is_set() and delay > 2:
                    log.error("jobs: could not report job %d (%s); its lease will return it", job.job_id, exc)
                    return []
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    # ------------------------------------------------------------ supervision

    def _settle(self, run: _Running, status: str, fields: dict[str, str]) -> bool:
        """End a running job on behalf of its thread (which may be stuck)."""
        if run.settled:
            return False
        run.settled = True
        fields = {**fields, "time_end": f"{time.time():.3f}"} if status != "new" else fields
        try:
            outcome = self.queue.transition(run.job, status, fields, expect="active", expect_worker=run.worker_id)
        except redis.RedisError as exc:
            log.error("jobs: could not settle job %d (%s); its lease will return it", run.job.job_id, exc)
            return False
        run.ctx.log(f"{status}: {fields.get('error', '')}")
        return outcome == "ok"

    def _replace(self, run: _Running) -> None:
        """Leave the thread running `run` behind and start a fresh one in its place."""
        with self._lock:
            for slot in self._slots:
                if slot.running is run:
                    slot.retired = True
                    slot.running = None
                    self._slots.remove(slot)
                    break
            else:
                return
        if not self._stopping.is_set():
            self._add_slot()

    def _supervise(self) -> None:
        last_beat = 0.0
        beat_every = max(0.2, self.lease_ms / 1000 / 3)
        while not self._stopping.wait(0.05):
            now = time.monotonic()
            for run in self._running():
                if now > run.ctx.deadline:
                    run.ctx.cancel.set()
                    message = f"timed out after {run.job.timeout:g} seconds"
                    self._settle(run, "error", {"error": message})
                    self._replace(run)
                elif run.cancel_seen_at and now - run.cancel_seen_at > CANCEL_GRACE:
                    self._settle(run, "canceled", {"error": "canceled"})
                    self._replace(run)
            if now - last_beat >= beat_every:
                last_beat = now
                self._heartbeat()
        self._heartbeat()

    def _heartbeat(self) -> None:
        running = self._running()
        members = [keys.inflight_member(r.job.topic, r.job.job_id) for r in running]
        try:
            canceled = set(self.queue.heartbeat(members, self.lease_ms))
            self._register(running)
        except redis.RedisError as exc:
            log.warning("jobs: heartbeat failed (%s)", exc)
            return
        for run in running:
            if run.job.job_id in canceled and not run.cancel_seen_at:
                run.cancel_seen_at = time.monotonic()
                run.ctx.cancel.set()
                run.ctx.log("cancel requested")

    def _register(self, running: list[_Running]) -> None:
        """Publish this pool in Redis so the dashboard can list workers here and on other machines."""
        client = self.queue.client
        pipe = client.pipeline(transaction=False)
        key = keys.worker(self.pool_id)
        pipe.hset(
            key,
            mapping={
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "topics": ",".join(self.topics),
                "concurrency": self.concurrency,
                "running": ",".join(str(r.job.job_id) for r in running),
                "jobs_done": self.jobs_done,
                "last_seen": f"{time.time():.3f}",
            },
        )
        pipe.expire(key, max(5, self.lease_ms // 1000 * 3))
        pipe.zadd(keys.WORKERS, {self.pool_id: int(time.time() * 1000)})
        pipe.execute()

    def _unregister(self) -> None:
        try:
            self.queue.client.delete(keys.worker(self.pool_id))
            self.queue.client.zrem(keys.WORKERS, self.pool_id)
        except redis.RedisError:
            pass


def list_workers(client: redis.Redis, stale_after: float = 30.0) -> list[dict[str, str]]:
    """Every pool that reported recently, here or on another machine."""
    cutoff = int((time.time() - stale_after) * 1000)
    client.zremrangebyscore(keys.WORKERS, "-inf", cutoff)
    ids = [i.decode() for i in client.zrange(keys.WORKERS, 0, -1)]  # type: ignore[union-attr]
    pipe = client.pipeline(transaction=False)
    for worker_id in ids:
        pipe.hgetall(keys.worker(worker_id))
    out = []
    for worker_id, data in zip(ids, pipe.execute(), strict=True):
        if data:
            out.append({"id": worker_id, **{k.decode(): v.decode() for k, v in data.items()}})
    return out


WorkerFactory = Callable[[], WorkerPool]
