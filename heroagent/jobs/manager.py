"""JobManager: the server-side face of the job system, and the only writer of the job history.

Creating a job writes its first version to OurDB (which gives the id), then its hash and queue entry
to Redis. Every later change happens in Redis (by a Lua script that also appends the job's state to
`hero:events`); the recorder thread reads those events in batches, writes them to OurDB with one
fsync per batch, then deletes the hash of a job whose final state is recorded, and acks the events.
The reaper returns jobs whose worker stopped renewing its lease. At start, and whenever Redis is
found to have lost its data, `reconcile` queues again every job OurDB holds as new or active that
Redis does not have.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis

from heroagent.heroscript import HeroScriptError, parse
from heroagent.jobs import keys
from heroagent.jobs.errors import InvalidJobError, InvalidTransitionError, JobNotFoundError
from heroagent.jobs.joblog import JobLogs, collect_remote_logs
from heroagent.jobs.model import (
    Job,
    JobStatus,
    ParamsType,
    check_transition,
    clip,
    parse_status,
    scheduled_time,
    validate_new_job,
)
from heroagent.jobs.queue import JobQueue
from heroagent.jobs.retry import RetryPolicy
from heroagent.jobs.stats import WINDOW_SECONDS, JobStats
from heroagent.jobs.store import JobStore, RecordedEvent
from heroagent.jobs.worker import list_workers

if TYPE_CHECKING:
    from heroagent.schedules.book import ScheduleBook, ScheduleInfo

log = logging.getLogger(__name__)

CONSUMER = "server"
RECORD_BATCH = 1000
PROMOTE_INTERVAL = 0.2


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
        retry: RetryPolicy | None = None,
        reap_interval: float = 1.0,
    ) -> None:
        self.client = client
        self.queue = JobQueue(client, retry)
        self.default_max_retries = default_max_retries
        self.default_retry_delay = default_retry_delay
        self.store = store
        self.logs = logs
        self.default_timeout = default_timeout
        self.reap_interval = reap_interval
        self._stopping = threading.Event()
        self._changed = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._unqueued: dict[int, Job] = {}  # accepted while Redis was unreachable; queued when it is back
        self._unqueued_lock = threading.Lock()
        self._run_id = ""
        self.recorded_events = 0
        self.reconciles = 0
        self.stats = JobStats()
        self.schedules: ScheduleBook | None = None  # set by the scheduler service while it runs

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        self._stopping.clear()
        self.stats.seed(self.store.finished_since(time.time() - WINDOW_SECONDS))
        self._ensure_group()
        self._drain_events()  # events a previous run read but did not record
        self.reconcile()
        loops = ((self._record_loop, "recorder"), (self._reap_loop, "reaper"), (self._promote_loop, "promoter"))
        for target, name in loops:
            thread = threading.Thread(target=target, name=f"heroagent-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        try:
            self._drain_events()
        except redis.RedisError as exc:
            log.warning("jobs: could not record the last events at stop (%s); they are recorded at next start", exc)
        with self._changed:
            self._changed.notify_all()

    def _ensure_group(self) -> None:
        try:
            self.client.xgroup_create(keys.EVENTS, keys.EVENTS_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

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
                }
            ]
        )[0]

    def create_jobs(self, specs: Iterable[Mapping[str, Any]]) -> list[Job]:
        """Many jobs: one OurDB commit and one Redis round trip for all of them."""
        jobs = [self._new_job(spec) for spec in specs]
        if not jobs:
            return []
        self.store.insert(jobs)
        try:
            self.queue.enqueue(jobs)
        except redis.RedisError as exc:
            with self._unqueued_lock:
                self._unqueued.update({job.job_id: job for job in jobs})
            log.warning("jobs: Redis unreachable (%s); %d job(s) saved and queued when it is back", exc, len(jobs))
        for job in jobs:
            if job.log:
                self.logs.append(job.job_id, f"created: topic {job.topic}, {job.params_type.value}")
        return jobs

    def _new_job(self, spec: Mapping[str, Any]) -> Job:
        unknown = set(spec) - {
            "topic", "params", "params_type", "timeout", "circle_id", "session_key", "log", "max_retries",
            "retry_delay", "run_at", "delay",
        }  # fmt: skip
        if unknown:
            raise InvalidJobError(f"{', '.join(sorted(unknown))}: unknown job field(s)")
        max_retries, retry_delay = spec.get("max_retries"), spec.get("retry_delay")
        params_type, timeout = validate_new_job(
            spec.get("topic", ""),
            spec.get("params", ""),
            spec.get("params_type", "heroscript"),
            spec.get("timeout"),
            max_retries,
            retry_delay,
        )
        if params_type is ParamsType.HEROSCRIPT:
            try:
                parse(spec["params"])
            except HeroScriptError as exc:
                raise InvalidJobError(f"params: {exc}") from None
        return Job(
            topic=spec["topic"],
            params=spec["params"],
            params_type=params_type,
            timeout=timeout if timeout is not None else self.default_timeout,
            circle_id=str(spec.get("circle_id", "")),
            session_key=str(spec.get("session_key", "")),
            log=bool(spec.get("log", False)),
            max_retries=int(max_retries if max_retries is not None else self.default_max_retries),
            retry_delay=float(retry_delay if retry_delay is not None else self.default_retry_delay),
            time_scheduled=scheduled_time(spec.get("run_at"), spec.get("delay")),
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
        return self.update_job_status(job_id, JobStatus.DONE, result=clip(result))

    def fail_job(self, job_id: int, error: str) -> Job:
        return self.update_job_status(job_id, JobStatus.ERROR, error=clip(error))

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
            self._notify()
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
        for start in range(0, len(wanted), RECORD_BATCH):
            retried += self.retry_jobs(wanted[start : start + RECORD_BATCH])
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

    # ------------------------------------------------------------ schedules

    def _book(self) -> ScheduleBook:
        if self.schedules is None:
            from heroagent.errors import ServiceError

            raise ServiceError("scheduler", "the scheduler is not running; set [scheduler] enabled = true")
        return self.schedules

    def add_schedule(
        self,
        name: str,
        topic: str,
        params: str,
        *,
        cron: str = "",
        every: float = 0.0,
        params_type: str = "heroscript",
        timeout: float = 0.0,
        max_retries: int = -1,
        enabled: bool = True,
        misfire: str = "run_once",
    ) -> ScheduleInfo:
        """A recurring job made at run time: `cron` (five fields, UTC) or `every` seconds. Stored as JSON in
        Redis and `<data_dir>/schedules.json`; it survives restarts. Its jobs are checked now, like create_job."""
        from heroagent.schedules.model import Schedule, ScheduleError

        fields = dict(name=name, topic=topic, params=params, cron=cron, every=every, params_type=params_type,
                      timeout=timeout, max_retries=max_retries, enabled=enabled, misfire=misfire)  # fmt: skip
        schedule = Schedule.from_dict(fields, source="runtime")
        try:
            self._new_job(schedule.job_spec())
        except InvalidJobError as exc:
            raise ScheduleError(f"schedule {name!r}: {exc}") from None
        book = self._book()
        book.add(schedule)
        return book.info(name)

    def pause_schedule(self, name: str) -> ScheduleInfo:
        self._book().set_paused(name, True)
        return self._book().info(name)

    def resume_schedule(self, name: str) -> ScheduleInfo:
        self._book().set_paused(name, False)
        return self._book().info(name)

    def remove_schedule(self, name: str) -> None:
        self._book().remove(name)

    def list_schedules(self) -> list[ScheduleInfo]:
        """Every schedule (config, run time and upkeep) with its next and last run and recent jobs."""
        return self._book().list()

    def get_schedule(self, name: str) -> ScheduleInfo:
        return self._book().info(name)

    # ------------------------------------------------------------ upkeep

    def sweep_strays(self, min_age: float = 60.0) -> str:
        """Find and repair Redis entries nothing would otherwise fix; returns (and logs) what it did.

        A finished job's hash whose final state is in the history is deleted (its state is recorded
        first if the history lacks it); an active job with no lease gets one, so the reaper returns it;
        a new job in no queue is queued; lease and schedule entries of jobs not in that state are dropped.
        """
        counts, terminal = self.queue.sweep(min_age=min_age)
        removed = 0
        for topic, job_id in terminal:
            live = self.queue.get(topic, job_id)
            if live is None or not live.status.terminal or time.time() - live.time_end < min_age:
                continue  # gone meanwhile, or recent: its event may still be on the way to the recorder
            if self.store.topic_of(job_id) is not None and self.store.status_of(job_id) is not live.status:
                self.store.record([live])
            self.queue.recorded([(topic, job_id, live.status.value)], [])
            removed += 1
        counts["finished_hashes_removed"] = removed
        counts.pop("terminal", None)
        repaired = {k: v for k, v in counts.items() if v and k not in ("ok", "gone")}
        summary = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(repaired.items())) or "nothing stray"
        if repaired:
            log.warning("jobs: stray sweep repaired Redis: %s", summary)
        return f"checked {counts.get('ok', 0) + sum(repaired.values())} job hashes: {summary}"

    def remove_history_before(self, cutoff: float) -> str:
        """Delete finished jobs that ended before `cutoff` (unix seconds) from the history and their logs."""
        old = self.store.finished_before(cutoff)
        for start in range(0, len(old), RECORD_BATCH):
            chunk = old[start : start + RECORD_BATCH]
            self.store.delete_many(chunk)
            for job_id in chunk:
                self.logs.remove(job_id)
        if old:
            log.info("jobs: history retention removed %d finished job(s)", len(old))
        return f"removed {len(old)} finished job(s)"

    def compact_history(self) -> str:
        """Rewrite the history's files without deleted and superseded-but-unreachable records."""
        report = self.store.compact()
        return report.summary()

    # ------------------------------------------------------------ background work

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _record_loop(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                if not self._record_batch(block_ms=200):
                    continue
                backoff = 0.1
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis lost its data: the stream and its group are gone
                    log.warning("jobs: the events stream is gone (Redis lost its data); reconciling")
                    self._recover_redis()
                else:
                    log.exception("jobs: recorder error")
                    self._stopping.wait(backoff)
            except redis.RedisError as exc:
                log.warning("jobs: recorder cannot reach Redis (%s); retrying in %.1fs", exc, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _drain_events(self) -> None:
        """Record everything in the stream now: pending entries of this consumer first, then new ones."""
        while self._record_batch(block_ms=None, pending=True):
            pass
        while self._record_batch(block_ms=None):
            pass

    def _record_batch(self, block_ms: int | None, pending: bool = False) -> int:
        response: Any = self.client.xreadgroup(
            keys.EVENTS_GROUP,
            CONSUMER,
            {keys.EVENTS: "0" if pending else ">"},
            count=RECORD_BATCH,
            block=block_ms,
        )
        entries = response[0][1] if response else []
        events = [RecordedEvent.from_stream(fields) for _, fields in entries if fields]
        ids = [entry_id for entry_id, _ in entries]
        if not ids:
            return 0
        written = self.store.record_events(events)
        finished = [(e.topic, e.job_id, e.status.value) for e in events if e.status.terminal]
        self.queue.recorded(finished, ids)
        self.recorded_events += len(written)
        for event in written:
            if event.status.terminal:
                self.stats.observe(event.topic, event.status, event.time_start, event.time_end)
                if event.log:
                    self.logs.append(event.job_id, f"recorded: {event.status.value}")
        self._notify()
        return len(entries)

    def _reap_loop(self) -> None:
        while not self._stopping.wait(self.reap_interval):
            try:
                run_id = self._redis_run_id()
                if run_id != self._run_id:
                    # Any restart may have lost the last second of writes (AOF everysec): check all.
                    log.warning("jobs: Redis restarted; reconciling its queues with the history")
                    self._recover_redis()
                elif self.client.get(keys.EPOCH) is None:
                    log.warning("jobs: Redis lost its data; reconciling with the history")
                    self._recover_redis()
                recovered = self.queue.reap()
                if recovered:
                    log.warning("jobs: %d job(s) whose worker stopped were returned to their queues", recovered)
                self._queue_unqueued()
                collect_remote_logs(self.client, self.logs)
            except redis.RedisError as exc:
                log.debug("jobs: reaper cannot reach Redis (%s)", exc)

    def _promote_loop(self) -> None:
        """Queue delayed jobs as they fall due (checked 5 times a second, so they start within ~0.2 s)."""
        while not self._stopping.wait(PROMOTE_INTERVAL):
            try:
                self.queue.promote()
            except redis.RedisError as exc:
                log.debug("jobs: promoter cannot reach Redis (%s)", exc)

    def _redis_run_id(self) -> str:
        info: Any = self.client.info("server")
        return str(info.get("run_id", ""))

    def _recover_redis(self) -> None:
        self._ensure_group()
        self.reconcile()

    def _queue_unqueued(self) -> None:
        with self._unqueued_lock:
            pending = list(self._unqueued.values())
        if not pending:
            return
        self.queue.enqueue(pending)
        with self._unqueued_lock:
            for job in pending:
                self._unqueued.pop(job.job_id, None)
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
        with self._unqueued_lock:  # reconcile queued these too: enqueueing them again would double them
            for job in requeue:
                self._unqueued.pop(job.job_id, None)
        self.client.set(keys.EPOCH, uuid.uuid4().hex)
        self._run_id = self._redis_run_id()
        self.reconciles += 1
        return len(requeue)
