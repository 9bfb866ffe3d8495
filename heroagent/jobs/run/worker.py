"""The worker pool: N threads that claim jobs, run them, and report back, plus one supervisor thread.

Each worker thread runs its job inline (no hand-off per job). The supervisor renews the leases of
every running job (one script call for all), passes cancel requests on, and enforces timeouts: a job
past its deadline is ended as `error` at once, its code is told to stop, and if that code does not
return the thread is left behind and a fresh thread takes its place, so a hung actor never shrinks
the pool. Every thread has its own worker id, so a late answer from a left-behind thread is refused.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import re
import signal
import socket
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis

from heroagent.config import JobsConfig
from heroagent.jobs import keys
from heroagent.jobs.errors import JobFailed, JobSkipped, PermanentError
from heroagent.jobs.live import jobtypes
from heroagent.jobs.live.joblog import LogSink
from heroagent.jobs.live.queue import JobQueue
from heroagent.jobs.model import RESULT_TEXT, Job, JobStatus, clip
from heroagent.jobs.run.context import JobContext, ParentOutcome
from heroagent.jobs.run.executor import JobExecutor, result_type
from heroagent.loops import LoopState, SupervisedLoop
from heroagent.redis_connect import NO_ANSWER_JOIN, answers
from heroagent.schema.job import MAX_VALUE_BYTES
from heroagent.threadnames import name_this_thread

log = logging.getLogger(__name__)

CANCEL_GRACE = 3.0  # seconds a canceled job's code gets to return before its thread is left behind
MAX_PREFETCH = 32  # jobs a worker may claim at once while its jobs are quick
FAST_JOB = 0.005  # seconds: jobs this quick let a worker claim more at once
# Seconds: while another thread's job is younger than this, a pool's listener leaves new jobs to that
# thread's report (which claims them in the same call). It bounds what a new job may wait for a busy
# thread instead of starting on an idle one.
HANDOFF_WINDOW = FAST_JOB  # 1 ms measured 15-20% slower one by one here: under load a quick job takes longer
RELEASE_AFTER = 0.1  # seconds: a job running this long sends its worker's claimed-but-waiting jobs back
PROGRESS_EVERY = 0.5  # seconds: running jobs' progress is stored at most this often (one call for all)


@dataclass
class _Running:
    job: Job
    ctx: JobContext
    worker_id: str
    settled: bool = False  # the supervisor already reported its end (timeout / cancel / stop)
    cancel_seen_at: float = 0.0
    suspended_at: float = 0.0  # monotonic time it was paused (0 = not suspended); its clock stops meanwhile
    remaining: float = 0.0  # seconds its timeout had left when it was paused
    stopped_group: int | None = None  # the process group it SIGSTOPped


@dataclass
class _Slot:
    number: int
    worker_id: str
    thread: threading.Thread | None = None
    retired: bool = False
    running: _Running | None = None
    started_at: float = 0.0
    waiting: collections.deque[Job] = field(default_factory=collections.deque)  # claimed, not started
    prefetch: int = 1
    taker: bool = False  # it waited to be handed a job (queue.wait_for_work) and has not claimed since


class WorkerPool:
    """`concurrency` worker threads serving `topics` ("*" = every topic in Redis)."""

    def __init__(
        self,
        queue: JobQueue,
        executor: JobExecutor,
        logs: LogSink,
        *,
        topics: Sequence[str],
        concurrency: int,
        poll_interval: float,
        lease_seconds: float = 10.0,
        max_value_bytes: int = MAX_VALUE_BYTES,
        name: str | None = None,
    ) -> None:
        self.queue = queue
        # Where the pool is listed (workers, job types, drain): its own queue, or with [redis] partitions
        # partition 0's, where every pool of every partition is listed.
        self.registry_queue: JobQueue | None = None
        self.executor = executor
        self.logs = logs
        self.topics = list(topics)
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.lease_ms = int(lease_seconds * 1000)
        self.max_value_bytes = max_value_bytes  # results and errors are cut to this
        self.pool_id = name or f"{socket.gethostname()}:{os.getpid()}:{os.urandom(2).hex()}"
        self._stopping = threading.Event()
        self._hurried = threading.Event()  # hurry(): the stop gives running jobs no more grace
        self._lock = threading.Lock()
        # Idle threads: one of them (the listener) waits for Redis's wake tokens, the others for it to
        # stop listening. Each token wakes one thread; with every idle thread listening, jobs that come
        # one by one were each taken by a thread woken for it (a wake, a claim and a report of its own)
        # while a busy thread would have taken it a moment later with its report.
        self._idle_cv = threading.Condition(self._lock)  # idle threads other than the listener wait here
        self._quick_cv = threading.Condition(self._lock)  # the listener, while another thread's job is quick
        self._listener: _Slot | None = None
        self._slots: list[_Slot] = []
        self._numbers = itertools.count(1)
        self._supervisor: SupervisedLoop | None = None
        self._last_beat = 0.0
        self._last_progress = 0.0
        self.worker_failures = 0  # unexpected errors in worker threads (each thread goes on after one)
        self._topic_cache: tuple[float, list[str]] = (0.0, [])
        self.jobs_done = 0
        self.draining = False  # asked to drain (hero:workers:draining): claim nothing more, finish what runs

    @classmethod
    def from_config(
        cls,
        queue: JobQueue,
        executor: JobExecutor,
        logs: LogSink,
        jobs: JobsConfig,
        *,
        topics: Sequence[str] | None = None,
        concurrency: int | None = None,
        name: str | None = None,
    ) -> WorkerPool:
        """A pool as `[jobs]` describes it (the server's own, and `heroagent worker`'s). `name` (letters,
        digits, '_', '.', '-') starts its id, which the overview and its jobs' `worker` field show."""
        if name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise ValueError(f"worker name {name[:80]!r}: use 1-64 letters, digits, '_', '.' or '-'")
        return cls(
            queue,
            executor,
            logs,
            topics=topics or jobs.topics,
            concurrency=concurrency or jobs.worker_count,
            poll_interval=jobs.queue_poll_interval,
            lease_seconds=jobs.lease_seconds,
            max_value_bytes=jobs.max_value_bytes,
            name=f"{name}:{socket.gethostname()}:{os.getpid()}" if name else None,
        )

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        self._stopping.clear()
        for _ in range(self.concurrency):
            self._add_slot()
        self._supervisor = SupervisedLoop("pool-supervisor", self._supervise_step, 0.05)
        self._supervisor.start()
        log.info("jobs: %d worker(s) %s serving topics %s", self.concurrency, self.pool_id, ",".join(self.topics))

    def stop(self, grace: float = 10.0, *, redis_answers: bool | None = None) -> None:
        """Stop taking jobs; give running jobs `grace` seconds; put the rest back in their queue (at their place).

        `redis_answers`: whether Redis answered the caller's PING (None: asked here). A Redis that does not
        answer is asked nothing more, as every call would wait for it (a stalled server): see `_stop_offline`."""
        if redis_answers is None:
            redis_answers = answers(self.queue.client)
        self._stopping.set()
        with self._lock:
            self._idle_cv.notify_all()
            self._quick_cv.notify_all()
        if not redis_answers:
            self._stop_offline()
            return
        for slot in list(self._slots):
            self._release_waiting(slot)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self._running() and not self._hurried.is_set():
            time.sleep(0.05)
        for run in self._running():
            if self._settle(run, "new", {"error": "worker stopped; job returned to its queue"}):
                log.warning("jobs: job %d still running at stop; returned to its queue", run.job.job_id)
            run.ctx.cancel.set()
        for slot in list(self._slots):
            if slot.thread is not None:
                slot.thread.join(timeout=max(0.1, self.poll_interval * 2 + 1))
            if slot.thread is None or not slot.thread.is_alive():
                self._give_back_handed(slot)
        with contextlib.suppress(redis.RedisError):  # else a create drops them when it meets them
            self.queue.leave_takers([slot.worker_id for slot in self._slots], self._topics())
        if self._supervisor is not None:
            self._supervisor.stop(timeout=5)
        self._heartbeat()
        self._unregister()

    def hurry(self) -> None:
        """Cut the stop's grace short (now, or when the stop comes): running jobs go back to their queue
        at once, as those still running at the grace's end do. Safe from a signal handler."""
        self._hurried.set()

    def _stop_offline(self) -> None:
        """Stop without Redis: running jobs are canceled at once (their end could not be told), and what
        this pool holds (running, claimed, handed to it) comes back by its lease when Redis answers again,
        as a killed worker's does. Threads still waiting in a call to Redis are left after a short wait:
        they are daemons, and one that gets its answer later sees the stop and gives back what it holds."""
        log.warning(
            "jobs: Redis did not answer at stop; the pool stops without it (the jobs it holds "
            "come back by their leases)"
        )
        for run in self._running():
            run.ctx.cancel.set()
        if self._supervisor is not None:
            self._supervisor.request_stop()
        deadline = time.monotonic() + NO_ANSWER_JOIN  # for all the pool's threads
        for slot in list(self._slots):
            if slot.thread is not None:
                slot.thread.join(max(0.0, deadline - time.monotonic()))
        if self._supervisor is not None:
            self._supervisor.stop(timeout=max(0.0, deadline - time.monotonic()))

    def _running(self) -> list[_Running]:
        with self._lock:
            return [s.running for s in self._slots if s.running is not None and not s.running.settled]

    def _add_slot(self) -> None:
        number = next(self._numbers)
        slot = _Slot(number, f"{self.pool_id}/{number}")  # pool_of() reads it back
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
            cached = self.queue.claimable_topics()
            self._topic_cache = (time.monotonic(), cached)
        return cached

    def _loop(self, slot: _Slot) -> None:
        """Claim, run, report. Quick jobs are claimed several at a time and reported together."""
        name_this_thread()
        backoff = 0.1
        reports: list[tuple[Job, str, dict[str, str]]] = []
        claim = True  # False: idle, and not woken by Redis (another thread listens, or takes the jobs)
        while True:
            quitting = self._stopping.is_set() or slot.retired
            try:
                if reports or (claim and not quitting):
                    self._exchange(slot, reports, quitting)
                    reports = []
                backoff = 0.1
            except redis.RedisError as exc:
                if isinstance(exc, redis.ResponseError):  # Redis answered with an error: a bug, not an outage
                    log.exception(
                        "jobs: worker %s: Redis refused a command; retrying in %.1fs", slot.worker_id, backoff
                    )
                else:
                    log.warning(
                        "jobs: worker %s cannot reach Redis (%s); retrying in %.1fs", slot.worker_id, exc, backoff
                    )
                if quitting and backoff > 2:
                    log.error("jobs: worker %s gives up reporting; the leases return its jobs", slot.worker_id)
                    break
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except Exception:  # a bug, not an outage: logged and counted; the thread goes on
                self.worker_failures += 1
                log.exception("jobs: worker %s: unexpected error; going on in %.1fs", slot.worker_id, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if quitting:
                break
            if not slot.waiting:
                claim = self._idle(slot, backoff)
                continue
            reports = self._run_waiting(slot)
            claim = True
        self._give_back_handed(slot)
        with self._lock:  # a slot retired for a suspended job leaves once that job has ended
            if slot.retired and slot in self._slots and not self._stopping.is_set():
                self._slots.remove(slot)

    @property
    def drained(self) -> bool:
        """Asked to drain, and nothing runs or waits here any more."""
        with self._lock:
            busy = any(s.running is not None or s.waiting for s in self._slots)
        return self.draining and not busy

    def _exchange(self, slot: _Slot, reports: list[tuple[Job, str, dict[str, str]]], quitting: bool) -> None:
        """One round trip: report finished jobs and claim the next ones (up to the slot's prefetch)."""
        topics = [] if quitting or self.draining else self._topics()
        want = 0 if quitting or self.draining or slot.waiting else slot.prefetch
        taker = slot.taker  # then what was handed to it after its wait ended comes with this call
        if reports:
            outcomes, claimed = self.queue.finish_and_claim(
                reports, slot.worker_id, topics, self.lease_ms, want, taker=taker
            )
            for (job, _, _), outcome in zip(reports, outcomes, strict=True):
                if outcome != "ok":
                    log.info("jobs: result of job %d dropped: it is %s now", job.job_id, outcome or "gone")
        elif (want and topics) or taker:
            claimed = self.queue.claim(topics, slot.worker_id, self.lease_ms, want, taker=taker)
        else:
            claimed = []
        slot.taker = False
        with self._lock:
            slot.waiting.extend(claimed)

    def _idle(self, slot: _Slot, backoff: float) -> bool:
        """Wait while there is nothing to run; returns whether to claim now.

        One idle thread listens (blocks until a wake token or the poll interval); the others wait until
        it stops. While another thread runs a job that started less than HANDOFF_WINDOW ago, the
        listener does not take tokens either: that thread's report claims the next job in the same
        call, and the token goes with it (see `took_jobs` in common.lua). Once that job is older, the
        listener listens again, so a busy thread never holds a new job up by more than HANDOFF_WINDOW."""
        with self._idle_cv:
            listener = self._listener
            if listener is not None and listener is not slot and self._can_listen(listener):
                self._quick_cv.notify()  # a thread just went idle: the listener looks again at once
                self._idle_cv.wait(self.poll_interval)
                return False
            self._listener = slot
            quick_until = self._quick_until(slot)
            if quick_until and not self._stopping.is_set():
                self._quick_cv.wait(max(0.0, quick_until - time.monotonic()))
                return False  # still the listener: look again
        handed = None
        try:
            topics = [] if self.draining else self._topics()
            if topics:
                slot.taker = True  # set first: the registration may have reached Redis if the call fails
                handed = self.queue.wait_for_work(
                    topics, slot.worker_id, self.lease_ms, self.poll_interval, self.pool_id
                )
            else:
                self._stopping.wait(self.poll_interval)
        except redis.RedisError as exc:
            if isinstance(exc, redis.DataError):  # a lost connection is told by the claim that follows
                log.warning("jobs: worker %s: %s", slot.worker_id, exc)
            self._stopping.wait(backoff)
        finally:
            with self._idle_cv:
                if self._listener is slot:
                    self._listener = None
                if handed is not None:
                    slot.waiting.append(handed)
                self._idle_cv.notify()  # the next idle thread listens while this one claims (or runs)
        return handed is None  # a job handed to it runs now; a wake token (or the poll) means: claim

    def _can_listen(self, slot: _Slot) -> bool:
        """Whether the listener's thread can still listen (a thread that ended or was retired cannot)."""
        alive = slot.thread is not None and slot.thread.is_alive()
        return alive and not slot.retired and slot in self._slots

    def _quick_until(self, slot: _Slot) -> float:
        """When the newest quick job another thread runs stops being quick (0: none runs); under the lock."""
        now = time.monotonic()
        until = 0.0
        for other in self._slots:
            if other is not slot and other.running is not None and now - other.started_at < HANDOFF_WINDOW:
                until = max(until, other.started_at + HANDOFF_WINDOW)
        return until

    def _run_waiting(self, slot: _Slot) -> list[tuple[Job, str, dict[str, str]]]:
        """Run the slot's claimed jobs in order; adapt how many it claims next to how quick they were."""
        reports = []
        batch_start, count, slow = time.monotonic(), 0, False
        while not (self._stopping.is_set() or slot.retired):
            with self._lock:
                job = slot.waiting.popleft() if slot.waiting else None
            if job is None:
                break
            started = time.monotonic()
            report = self._run(slot, job)
            slow = slow or time.monotonic() - started > FAST_JOB
            count += 1
            if report is not None:
                reports.append(report)
        if count:
            quick = not slow and (time.monotonic() - batch_start) / count < FAST_JOB
            slot.prefetch = min(MAX_PREFETCH, slot.prefetch * 2) if quick else 1
        return reports

    def _parent_results(self, job: Job) -> dict[int, ParentOutcome]:
        """How the jobs this one depends on ended (ctx.parent_results): read once, before it starts. Redis
        unreachable now: the job runs without them (its run fails the usual way if it needs them)."""
        try:
            outcomes = self.queue.parent_outcomes(job.job_id)
        except redis.RedisError as exc:
            log.warning("jobs: job %d: its parents' results could not be read: %s", job.job_id, exc)
            return {}
        return {
            parent: ParentOutcome(status, Job(topic="", params="", result_text=text, result_type=kind).result)
            for parent, (status, text, kind) in outcomes.items()
        }

    def _run(self, slot: _Slot, job: Job) -> tuple[Job, str, dict[str, str]] | None:
        """Run one job; returns its report, or None when the supervisor already ended it."""
        ctx = JobContext(
            job=job,
            logs=self.logs,
            share_root=self.executor.share_root,
            deadline=time.monotonic() + job.timeout,
            parent_results=self._parent_results(job) if job.depends_on else {},
        )
        run = _Running(job, ctx, slot.worker_id)
        with self._lock:
            slot.running = run
            slot.started_at = time.monotonic()
        if job.log and job.attempts == 1:  # the log begins with the job's creation, whoever writes first
            self.logs.append_first(job.job_id, f"created: topic {job.topic}", job.time_created)
        ctx.log(f"started on worker {slot.worker_id} (attempt {job.attempts})")
        started = time.time()  # a prefetched job starts after its claim: the report says when it really did
        status, fields = JobStatus.DONE, {}
        try:
            result = self.executor.execute(ctx)
            fields = {"result": clip(result, self.max_value_bytes), "result_type": result_type(job.params_type)}
        except PermanentError as exc:  # no retry can fix it: the job ends now, its retries unspent
            status, fields = JobStatus.ERROR, {"error": clip(str(exc), self.max_value_bytes), "permanent": "1"}
        except JobFailed as exc:
            status, fields = JobStatus.ERROR, {"error": clip(str(exc), self.max_value_bytes)}
        except JobSkipped as exc:
            status, fields = (
                JobStatus.SKIPPED,
                {"result": clip(str(exc), self.max_value_bytes), "result_type": RESULT_TEXT},
            )
        except Exception as exc:
            status, fields = JobStatus.ERROR, {"error": clip(f"{type(exc).__name__}: {exc}", self.max_value_bytes)}
            ctx.log(traceback.format_exc())
        finally:
            with self._lock:
                slot.running = None
        if run.settled:
            return None  # the supervisor ended it (timeout, cancel, stop); this answer is too late
        if ctx.deadline and time.monotonic() >= ctx.deadline and status in (JobStatus.ERROR, JobStatus.CANCELED):
            status = JobStatus.TIMEOUT  # stopped by its timeout (a process it ran was killed at the deadline)
        elif ctx.cancel.is_set() and status is not JobStatus.CANCELED:  # what it returned then is not kept
            status, fields = JobStatus.CANCELED, {"error": "canceled while it ran"}
        fields["time_end"] = f"{time.time():.3f}"
        fields["time_start"] = f"{started:.3f}"
        ctx.log(f"{status.value}: {fields.get('error') or 'ok'}")
        self.jobs_done += 1
        return job, status.value, fields

    # ------------------------------------------------------------ supervision

    def _settle(self, run: _Running, status: str, fields: dict[str, str]) -> bool:
        """End a running job on behalf of its thread (which may be stuck)."""
        if run.settled:
            return False
        run.settled = True
        fields = {**fields, "time_end": f"{time.time():.3f}"} if status != "new" else fields
        try:
            outcome = self.queue.transition(
                run.job, status, fields, expect="running", expect_worker=run.worker_id, retry=True
            )
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

    def _give_back_handed(self, slot: _Slot) -> None:
        """A slot that stops: the jobs handed to it while it waited, and those it claimed and did not
        start, go back to their queues (else they would wait for their lease to run out)."""
        if slot.taker:
            try:
                handed = self.queue.take_handed(slot.worker_id)
                slot.taker = False
            except redis.RedisError as exc:
                log.warning(
                    "jobs: worker %s could not take back the jobs handed to it (%s); their leases return them",
                    slot.worker_id,
                    exc,
                )
                handed = []
            with self._lock:
                slot.waiting.extend(handed)
        self._release_waiting(slot)

    def _release_waiting(self, slot: _Slot) -> None:
        """Send a worker's claimed-but-not-started jobs back to their queues (each at its place: by
        priority, then id)."""
        with self._lock:
            waiting = list(slot.waiting)
            slot.waiting.clear()
            slot.prefetch = 1
        for job in reversed(waiting):
            try:
                never_ran = {"attempts": str(job.attempts - 1), "time_start": "0.0", "time_end": "0.0"}
                self.queue.transition(job, "new", never_ran, expect="active", expect_worker=slot.worker_id)
            except redis.RedisError as exc:
                log.warning("jobs: could not release job %d (%s); its lease will return it", job.job_id, exc)

    def loop_states(self) -> list[LoopState]:
        """The supervisor, and the worker threads as one line: degraded (with the error) while a worker
        thread has died, and counting the unexpected errors the threads went on after."""
        states = [self._supervisor.state()] if self._supervisor is not None else []
        with self._lock:
            dead = [s.worker_id for s in self._slots if s.thread is not None and not s.thread.is_alive()]
        if dead and not self._stopping.is_set():
            why = f"{len(dead)} worker thread(s) ended: {', '.join(dead[:3])}"
            states.append(LoopState("workers", True, self.worker_failures, why, time.time()))
        else:
            states.append(LoopState("workers", True, self.worker_failures, "", 0.0))
        return states

    def _supervise_step(self) -> None:
        """Every 0.05 s: release jobs stuck behind a slow one, end jobs past their deadline or canceled
        long ago, and renew the leases every third of the lease time."""
        beat_every = max(0.2, self.lease_ms / 1000 / 3)
        now = time.monotonic()
        with self._lock:
            blocked = [s for s in self._slots if s.waiting and s.running and now - s.started_at > RELEASE_AFTER]
        for slot in blocked:
            self._release_waiting(slot)
        for run in self._running():
            if run.ctx.suspend.is_set() and not run.suspended_at:
                self._pause(run)
            if run.ctx.deadline and now > run.ctx.deadline:
                run.ctx.cancel.set()
                message = f"timed out after {run.job.timeout:g} seconds"
                self._settle(run, "timeout", {"error": message})
                self._replace(run)
            elif run.cancel_seen_at and now - run.cancel_seen_at > CANCEL_GRACE:
                self._settle(run, "canceled", {"error": "canceled"})
                self._replace(run)
        if now - self._last_beat >= beat_every:
            self._last_beat = now
            self._heartbeat()
        if now - self._last_progress >= PROGRESS_EVERY:
            self._last_progress = now
            self._flush_progress()

    def _flush_progress(self) -> None:
        """Store the progress running jobs reported since the last flush (one script call for all)."""
        reports = []
        for run in self._running():
            if run.ctx.progress_dirty and run.ctx.reported is not None:
                run.ctx.progress_dirty = False
                reports.append((run.job, run.worker_id, *run.ctx.reported))
        if reports:
            try:
                self.queue.progress(reports)
            except redis.RedisError as exc:
                log.debug("jobs: progress not stored (%s)", exc)

    def _heartbeat(self) -> None:
        running = self._running()
        members = [keys.inflight_member(r.job.topic, r.job.job_id) for r in running]
        with self._lock:
            members += [keys.inflight_member(j.topic, j.job_id) for s in self._slots for j in s.waiting]
        try:
            canceled_ids, statuses = self.queue.heartbeat(members, self.lease_ms)
            canceled = set(canceled_ids)
            self._register(running)
        except redis.RedisError as exc:
            log.warning("jobs: heartbeat failed (%s)", exc)
            return
        for run, status in zip(running, statuses, strict=False):
            if run.job.job_id in canceled and not run.cancel_seen_at:
                run.cancel_seen_at = time.monotonic()
                run.ctx.cancel.set()
                run.ctx.log("cancel requested")
            elif status == JobStatus.SUSPENDING and not run.ctx.suspend.is_set():
                run.ctx.log("suspend requested")
                run.ctx.suspend.set()  # the supervisor pauses it (its process group, or at its checkpoint)
            elif status in (JobStatus.RESUMING, JobStatus.ACTIVE) and run.ctx.suspend.is_set():
                self._go_on(run, confirm=status == JobStatus.RESUMING)

    # ------------------------------------------------------------ suspend / resume

    def _pause(self, run: _Running) -> None:
        """Pause a job asked to suspend, if it can be now: its child process group is stopped, or its
        actor waits at a checkpoint. Its timeout clock stops, and its slot is given to a new worker
        thread (the suspended one ends with its job), so a suspended job holds no worker slot."""
        ctx = run.ctx
        group = ctx.process_group
        if group is not None:
            try:
                os.killpg(group, signal.SIGSTOP)
            except (ProcessLookupError, PermissionError):
                return  # it is starting or just ended: look again at the next step
            run.stopped_group = group
        elif not ctx.paused.is_set():
            return  # an actor in a thread pauses when it reaches ctx.checkpoint()
        now = time.monotonic()
        run.suspended_at = now
        run.remaining = max(0.0, ctx.deadline - now) if ctx.deadline else 0.0
        ctx.deadline = 0.0  # no deadline while suspended
        try:
            outcome = self.queue.transition(
                run.job, JobStatus.SUSPENDED.value, {}, expect=JobStatus.SUSPENDING.value, expect_worker=run.worker_id
            )
        except redis.RedisError as exc:
            log.warning("jobs: job %d paused, but Redis did not take it (%s)", run.job.job_id, exc)
            outcome = "ok"
        if outcome != "ok":  # resumed (or canceled) before it could pause: go on
            self._go_on(run, confirm=False)
            return
        ctx.log("suspended")
        with self._lock:
            slot = next((s for s in self._slots if s.running is run), None)
        if slot is not None and not slot.retired and not self._stopping.is_set():
            self._release_waiting(slot)
            slot.retired = True  # it ends with this job; a fresh thread takes its place now
            self._add_slot()

    def _go_on(self, run: _Running, *, confirm: bool) -> None:
        """Undo a suspension: the process group continues (SIGCONT), a checkpoint returns, the clock runs
        again with the time it had left; with `confirm`, resuming -> active in Redis."""
        ctx = run.ctx
        if run.stopped_group is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(run.stopped_group, signal.SIGCONT)
            run.stopped_group = None
        ctx.suspend.clear()
        if run.suspended_at:
            ctx.deadline = time.monotonic() + run.remaining
            run.suspended_at = 0.0
        if confirm:
            try:
                self.queue.transition(
                    run.job, JobStatus.ACTIVE.value, {}, expect=JobStatus.RESUMING.value, expect_worker=run.worker_id
                )
            except redis.RedisError as exc:
                log.warning("jobs: job %d resumed, but Redis did not take it (%s)", run.job.job_id, exc)
        ctx.log("resumed")

    def _register(self, running: list[_Running]) -> None:
        """Publish this pool in Redis so the dashboard can list workers here and on other machines (in
        `registry_queue`'s keys: with [redis] partitions, partition 0's, where every pool is listed)."""
        registry = self.registry_queue or self.queue
        client = registry.client
        pipe = client.pipeline(transaction=False)
        key = registry.layout.worker(self.pool_id)
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
        pipe.zadd(registry.layout.WORKERS, {self.pool_id: int(time.time() * 1000)})
        pipe.sismember(registry.layout.WORKERS_DRAINING, self.pool_id)
        draining = bool(pipe.execute()[-1])
        if draining and not self.draining:
            log.info("jobs: worker pool %s drains: it takes no new job and finishes what runs", self.pool_id)
            for slot in list(self._slots):
                self._release_waiting(slot)
        elif self.draining and not draining:
            log.info("jobs: worker pool %s serves again", self.pool_id)
        self.draining = draining
        client.hset(key, "state", ("drained" if self.drained else "draining") if draining else "serving")
        # The job types this pool serves, with their schemas: what creators everywhere check jobs against.
        jobtypes.publish(client, registry.layout, self.pool_id, self.executor.registry.published())

    def _unregister(self) -> None:
        registry = self.registry_queue or self.queue
        try:
            jobtypes.withdraw(registry.client, registry.layout, self.pool_id)
            registry.client.delete(registry.layout.worker(self.pool_id))
            registry.client.zrem(registry.layout.WORKERS, self.pool_id)
            registry.client.srem(registry.layout.WORKERS_DRAINING, self.pool_id)
            if registry is not self.queue:  # the scripts of its own partition read the flag there too
                self.queue.client.srem(self.queue.layout.WORKERS_DRAINING, self.pool_id)
        except redis.RedisError:
            pass
