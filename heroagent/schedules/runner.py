"""The schedule runner: an APScheduler 3 BackgroundScheduler (UTC) that fires the book's schedules.

Only the process holding the lease in Redis (`hero:scheduler:lease`) fires schedules; the others
check every third of the lease and take over when it lapses. Each run is also claimed with SET NX on
its run time (every process computes the same run times, see Schedule.previous_run), so even two
processes that both believe they lead cannot fire one run twice.

A schedule's misfire policy decides what happens to runs missed while no process was firing them:
`run_once` fires one run when a process (re)gains the lease; `skip` waits for the next one.

Upkeep tasks (history retention, compaction, the stray sweep) are local to a process's own history, so
they run in every process that has one, lease or not; they are listed in the book like any schedule.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from apscheduler.schedulers.background import BackgroundScheduler

from heroagent.loops import LoopState, SupervisedLoop
from heroagent.schedules.book import ScheduleBook
from heroagent.schema.schedule import Schedule

log = logging.getLogger(__name__)

MISFIRE_GRACE = 5.0  # seconds late a run may fire and still count as on time

# Renew only while the lease is ours; returns 1 if renewed.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

Submit = Callable[[Schedule], int]  # makes one job for a run; returns its id
UpkeepTask = Callable[[], str]  # does the work; returns what it did, for the dashboard


class ScheduleRunner:
    def __init__(
        self,
        book: ScheduleBook,
        submit: Submit,
        *,
        lease_seconds: float = 10.0,
        upkeep: dict[str, tuple[Schedule, UpkeepTask]] | None = None,
    ) -> None:
        self.book = book
        self.submit = submit
        self.lease_ms = int(lease_seconds * 1000)
        self.upkeep = upkeep or {}
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.leading = False
        self._version = -1
        self._lease = SupervisedLoop("scheduler-lease", self._lease_step, lease_seconds / 3)
        self._scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
        )
        self._renew = book.client.register_script(_RENEW)
        self._release = book.client.register_script(_RELEASE)
        book.upkeep.update({name: schedule for name, (schedule, _) in self.upkeep.items()})

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        self.book.restore()
        self._scheduler.start()
        for name, (schedule, _) in self.upkeep.items():
            self._scheduler.add_job(self._run_upkeep, schedule.trigger(), args=[name], id=f"upkeep:{name}")
        self._lease.start()

    def stop(self) -> None:
        self._lease.stop()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        if self.leading:
            with contextlib.suppress(redis.RedisError):  # the next process need not wait for it to lapse
                self._release(keys=[self.book.layout.SCHEDULER_LEASE], args=[self.holder])
            self.leading = False

    def leader(self) -> str:
        """Who fires schedules now ('' = nobody holds the lease)."""
        raw = self.book.client.get(self.book.layout.SCHEDULER_LEASE)
        return raw.decode() if isinstance(raw, bytes) else ""

    # ------------------------------------------------------------ the lease

    def loop_states(self) -> list[LoopState]:
        return [self._lease.state()]

    def _lease_step(self) -> None:
        """Every third of the lease: take or renew it (a Redis that is away is waited out, not an error)."""
        try:
            self._tend_lease()
        except redis.RedisError as exc:
            log.warning("schedules: cannot reach Redis (%s)", exc)
            if self.leading:
                self._step_down("Redis is unreachable")

    def _tend_lease(self) -> None:
        client = self.book.client
        if self.leading:
            if not self._renew(keys=[self.book.layout.SCHEDULER_LEASE], args=[self.holder, self.lease_ms]):
                self._step_down("its lease went to another process")
                return
        elif client.set(self.book.layout.SCHEDULER_LEASE, self.holder, nx=True, px=self.lease_ms):
            self.leading = True
            self._version = -1
            log.info("schedules: this process (%s) fires the schedules now", self.holder)
        if self.leading:
            version = self.book.version()
            if version != self._version:
                first = self._version == -1
                self._version = version
                self._sync(catch_up=first)

    def _step_down(self, why: str) -> None:
        log.warning("schedules: this process stops firing schedules: %s", why)
        self.leading = False
        self._version = -1
        for job in self._scheduler.get_jobs():
            if job.id.startswith("schedule:"):
                job.remove()

    # ------------------------------------------------------------ schedules

    def _sync(self, *, catch_up: bool) -> None:
        """Make the APScheduler jobs match the book; on gaining the lease, handle runs missed meanwhile."""
        wanted = {}
        for info in self.book.list():
            if info.schedule.source != "upkeep" and not info.paused:
                wanted[f"schedule:{info.schedule.name}"] = info
        for job in self._scheduler.get_jobs():
            if job.id.startswith("schedule:") and job.id not in wanted:
                job.remove()
        now = time.time()
        for job_id, info in wanted.items():
            schedule = info.schedule
            self._scheduler.add_job(
                self._fire, schedule.trigger(), args=[schedule.name], id=job_id, replace_existing=True
            )
            if catch_up and info.state.last_run:
                missed = schedule.next_run(info.state.last_run)
                if missed is not None and missed < now - MISFIRE_GRACE:
                    if schedule.misfire == "run_once":
                        log.info("schedules: %s missed its run at %s; running it once now", schedule.name, _iso(missed))
                        latest = schedule.previous_run(now) or missed
                        self._scheduler.add_job(self._fire, args=[schedule.name, latest], id=f"{job_id}:catch-up")
                    else:
                        log.info(
                            "schedules: %s missed its run at %s; skipped (misfire = skip)", schedule.name, _iso(missed)
                        )

    def _fire(self, name: str, due: float | None = None) -> None:
        if not self.leading:
            return
        try:
            schedule = self.book.get(name)
            due = due if due is not None else schedule.previous_run(time.time())
            if due is None or not self.book.claim_run(name, due):
                return  # another process fired this run
            try:
                job_id = self.submit(schedule)
            except Exception as exc:  # a bad schedule must not stop the others; the dashboard shows it
                log.error("schedules: %s could not make its job: %s", name, exc)
                self.book.record_run(name, due, error=str(exc))
                return
            self.book.record_run(name, due, job_id=job_id)
        except redis.RedisError as exc:
            log.warning("schedules: %s: run skipped, Redis is unreachable (%s)", name, exc)

    def _run_upkeep(self, name: str) -> None:
        schedule, task = self.upkeep[name]
        due = schedule.previous_run(time.time()) or time.time()
        try:
            result = task()
            log.info("upkeep: %s: %s", name, result)
            error = ""
        except Exception as exc:
            log.exception("upkeep: %s failed", name)
            result, error = "", f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(redis.RedisError):
            self.book.record_run(name, due, error=error, result=result)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
