"""JobManager: the job system's API: create, read and change jobs.

Creating a job is one Lua script in Redis (see submit.py): it gives the job its id, writes its hash
and queue entry and appends its first state to `hero:events`. Every later change happens in Redis
too, by a Lua script that also appends the job's state; the recorder (recorder.py) writes those to
the history, the first one as the job's first version under the same id. So a job is readable from
Redis at once and from the history milliseconds later (`get_job` looks in both). The background loops
(recorder, reaper, promoter) and upkeep live beside this class and are run by the jobs service.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import redis

from heroagent.errors import InvalidInputError
from heroagent.heroscript import HeroScriptError, parse_job_cached
from heroagent.jobs import keys
from heroagent.jobs.errors import (
    InvalidJobError,
    InvalidTransitionError,
    JobIdsNotSeededError,
    JobNotFoundError,
    TopicNotEmptyError,
    TopicNotFoundError,
)
from heroagent.jobs.history.stats import JobStats
from heroagent.jobs.history.store import JobStore
from heroagent.jobs.history.upkeep import remove_finished_before
from heroagent.jobs.live.direct import Durability
from heroagent.jobs.live.joblog import JobLogs, LogPart, collect_remote_logs
from heroagent.jobs.live.jobtypes import PublishedTypes, TypeInfo, read_known
from heroagent.jobs.live.partitions import partition_queues
from heroagent.jobs.live.queue import JobQueue
from heroagent.jobs.live.submit import JobDefaults, submit, type_defaults_of
from heroagent.jobs.live.workers import list_workers, served_topics, set_draining_everywhere
from heroagent.jobs.live.workflows import ON_COMPLETE, Workflow, group_summary, make_chain, make_group
from heroagent.jobs.model import (
    DEAD,
    RESULT_JSON,
    RESULT_TEXT,
    Job,
    JobStatus,
    ParamsType,
    check_transition,
    clip,
    parse_status,
    parse_statuses,
)
from heroagent.jobs.retry import RetryPolicy
from heroagent.jobs.server.bulk import run_bulk
from heroagent.jobs.server.feed import EventFeed
from heroagent.schema.filters import JOB_FILTERS
from heroagent.schema.job import TOPIC_PATTERN
from heroagent.schema.topic import TopicLimits

log = logging.getLogger(__name__)

RETRY_BATCH = 1000  # dead jobs sent back per OurDB commit and Redis round trip
TOPIC_ACTIONS = {  # action name (API path, CLI) -> JobManager method
    "pause": "pause_topic",
    "resume": "resume_topic",
    "drain": "drain_topic",
    "clear": "clear_topic",
    "cancel-all": "cancel_all",
}
RECORD_WAIT = 5.0  # seconds delete_job waits for a just-created job to reach the history
LIST_CATCH_UP = 1.0  # seconds a list waits for the history to record the jobs created before it
LIST_CATCH_UP_PAUSE = 10.0  # seconds lists do not wait after a wait ran out (unless the history moves)


OLDEST_MEMO_SECONDS = 1.0  # how long the queues' oldest waiting jobs, once read, are shown again


class JobManager:
    def __init__(
        self,
        client: redis.Redis,
        store: JobStore,
        logs: JobLogs,
        *,
        layout: keys.KeyLayout,
        defaults: JobDefaults | None = None,
        retry: RetryPolicy | None = None,
        local_types: Callable[[], Mapping[str, TypeInfo]] | None = None,
        process_topics: Iterable[str] = (),
        durability: Durability | None = None,
        partitions: Sequence[JobQueue] = (),
    ) -> None:
        """`partitions`: with [redis] partitions, the queues of partitions 1..P-1 (`client` and `layout` are
        partition 0's, which also holds what no job's script shares: workers, job types, schedules...)."""
        self.client = client
        self.layout = layout  # the key names of this HeroAgent ([redis] key_prefix): the queue's and all of ours
        self.queue = partition_queues(JobQueue(client, layout, retry, durability=durability), partitions)
        self.defaults = defaults or JobDefaults()
        # What new jobs are checked against: the live pools' job types, with this process's own actors
        # (`local_types`) over them, so an actor registered a moment ago counts before its pool reports.
        self.types = PublishedTypes(client, layout, local_types)
        self.process_topics = frozenset(process_topics)  # their jobs run in a child process: all can suspend
        self.store = store
        self.logs = logs
        self._changed = threading.Condition()
        self._oldest_memo: tuple[float, list[str], dict[str, float]] | None = None  # (when, topics, found)
        self._no_catch_up_until = 0.0  # monotonic: a list's catch-up wait ran out; lists do not wait till then
        self._batches_recorded = 0  # counted by notify: a list's catch-up waits for the next one
        self.stats = JobStats()
        self.events = EventFeed()  # the last recorded state changes, for GET /api/events (fed by the recorder)
        # Set by the jobs service: makes a Redis that lost its data ready for creates again (from the
        # history), so the server itself never answers "not seeded"; other processes wait for it.
        self.reseed: Callable[[], None] | None = None

    @property
    def max_value_bytes(self) -> int:
        return self.defaults.max_value_bytes

    def notify(self) -> None:
        """Wake `wait_for_job` callers: the history changed (the recorder calls this after each batch)."""
        with self._changed:
            self._no_catch_up_until = 0.0
            self._batches_recorded += 1
            self._changed.notify_all()

    def _batches_seen(self) -> int:
        """How many batches the recorder has recorded: take it before looking, then `_wait_for_batch`."""
        with self._changed:
            return self._batches_recorded

    def _wait_for_batch(self, seen: int, timeout: float) -> None:
        """Wait (at most `timeout`) for a batch recorded after `seen` was taken; at once if one was. The
        caller looks at the history or Redis without this lock held, so the recorder's notify never waits
        for that I/O, and a batch recorded while it looked is not missed."""
        with self._changed:
            if self._batches_recorded == seen:
                self._changed.wait(timeout)

    def _wait_history(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until `done()` (a look at the history) is true, at most `timeout`; whether it became true."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self._batches_seen()
            if done():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._wait_for_batch(seen, min(remaining, 0.2))

    # ------------------------------------------------------------ creating

    def create_job(
        self,
        topic: str | None,
        params: str | Mapping[str, Any],
        *,
        params_type: str | None = None,
        action: str | None = None,
        timeout: float | None = None,
        circle_id: str = "",
        session_key: str = "",
        log: bool = False,
        max_retries: int | None = None,
        retry_delay: float | None = None,
        run_at: datetime | float | None = None,
        delay: float | None = None,
        idempotency_key: str | None = None,
        priority: int | None = None,
        no_overlap_key: str | None = None,
        overlap_delay: float | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
        group: str | None = None,
        depends_on: Sequence[int] | str | None = None,
        on_parent_failure: str | None = None,
        callback_url: str | None = None,
    ) -> Job:
        """Create the job in Redis (one atomic script: id, hash, queue entry, first event); return it.

        `params`: HeroScript text, or a dict (a json job: `create_job("email", {"to": "ann@example.com"})`
        calls the handler of topic "email", or `action="email.send"`, with the dict's keys as its keyword
        arguments, checked against its signature now).

        When this returns the job is in Redis's append-only file and on its way to the history (see
        docs/architecture.md, "Durability"). `run_at` (a datetime, or unix seconds) or `delay` (seconds
        from now) makes it a delayed job: it stays `new`, with `time_scheduled` set, until it is due;
        then it is queued like any other. `max_retries` and `retry_delay` default to `[jobs]`'s (see
        retry.py for the backoff). A second create with the same `idempotency_key` within `[jobs]
        idempotency_window` returns the first job. `priority` 0-9 (9 first; default the job type's, else 0)
        orders the waiting jobs of a topic; jobs sharing a `no_overlap_key` never run at once (the next
        waits `overlap_delay` seconds after one ends). With `depends_on` (job ids) it is `waiting` until each
        of those has ended done; `on_parent_failure` says what it does when one ends otherwise (cancel,
        skip, run). `callback_url` receives its final state as JSON (a signed webhook) when it ends.
        """
        return self.create_jobs(
            [
                {
                    "topic": topic,
                    "params": params,
                    "params_type": params_type,
                    "action": action,
                    "timeout": timeout,
                    "circle_id": circle_id,
                    "session_key": session_key,
                    "log": log,
                    "max_retries": max_retries,
                    "retry_delay": retry_delay,
                    "run_at": run_at,
                    "delay": delay,
                    "idempotency_key": idempotency_key,
                    "priority": priority,
                    "no_overlap_key": no_overlap_key,
                    "overlap_delay": overlap_delay,
                    "tenant_id": tenant_id,
                    "user_id": user_id,
                    "group": group,
                    "depends_on": depends_on,
                    "on_parent_failure": on_parent_failure,
                    "callback_url": callback_url,
                }
            ]
        )[0]

    def create_jobs(self, specs: Iterable[Mapping[str, Any]]) -> list[Job]:
        """Many jobs, all or none, in one Redis round trip. A spec whose `idempotency_key` was used within
        `[jobs] idempotency_window` gets that earlier job instead."""
        return [job for job, _ in self.submit(specs)]

    def submit(self, specs: Iterable[Mapping[str, Any]]) -> list[tuple[Job, bool]]:
        """`create_jobs`, saying for each job whether it was created now (False: an earlier job with the
        same idempotency key). The keys live in Redis with the window as their expiry; the server puts
        them back from the history when Redis lost its data, before any new job can be created."""
        specs = list(specs)
        try:
            return submit(self.queue, specs, self.defaults, self.get_job, self.types.get())
        except JobIdsNotSeededError:
            if self.reseed is None:
                raise
            self.reseed()
            return submit(self.queue, specs, self.defaults, self.get_job, self.types.get())

    # ------------------------------------------------------------ reading

    def chain(self, specs: Sequence[Mapping[str, Any]], *, group: str | None = None) -> Workflow:
        """Jobs that run one after the other (see workflows.py); all or none."""
        return make_chain(self.submit, specs, group)

    def group(
        self,
        specs: Sequence[Mapping[str, Any]],
        *,
        on_complete: Mapping[str, Any] | None = None,
        group: str | None = None,
    ) -> Workflow:
        """Jobs side by side and a callback that runs once when all have ended (see workflows.py)."""
        return make_group(self.submit, specs, on_complete, group)

    def children(self, job_id: int, limit: int = 1000) -> list[int]:
        """Ids of the jobs that depend on this one (their depends_on names it), as the history has them."""
        return self.store.children(job_id, limit)

    def get_group(self, group: str) -> dict[str, Any]:
        """A chain's or group's jobs counted by status (from the history's index, level with Redis within
        a batch of the recorder), and its callback's id and status. JobNotFoundError: no job has it."""
        counts = self.store.group_counts(group)
        callbacks = self.store.group_counts(group + ON_COMPLETE)
        if not counts and not callbacks:
            raise JobNotFoundError(f"group {group[:200]!r}: no job has it (ids come from chain() and group())")
        on_complete = None
        if callbacks:
            found = self.list_jobs(group=group + ON_COMPLETE, limit=1)
            on_complete = found[0] if found else None
        return group_summary(group, counts, on_complete)

    def get_job(self, job_id: int) -> Job:
        """Redis first (the live state, also of a job the history has not recorded yet), else the history.

        A job moves from Redis to the history while it is read: recorded, then dropped from Redis. A read
        that missed it in both (the history's index before it was recorded, Redis after it was dropped)
        looks in the history once more, where it must be by then: an existing job is never "no such job"."""
        for last in (False, True):
            try:
                topic = self.store.topic_of(job_id) or self.queue.topic_of(job_id)
                live = self.queue.get(topic, job_id) if topic else None
            except redis.RedisError:
                topic, live = self.store.topic_of(job_id), None
            if live is not None:
                return live
            if topic is not None and (last or self.store.topic_of(job_id) is not None):
                return self.store.get(job_id)
        raise JobNotFoundError(f"no job with id {job_id}")

    def get_job_by_idempotency_key(self, key: str) -> Job:
        """The job created with idempotency `key`: Redis's key while its window lasts, else the newest job
        the history has with that key. JobNotFoundError when there is none."""
        raw: Any = None
        for part in self.queue.partitions():  # a key is kept by the partition of its job's topic
            raw = part.client.get(part.layout.idempotency(key))
            if raw:
                break
        found = raw.decode().split(" ", 1)[0] if raw else ""
        job_id = int(found) if found.isascii() and found.isdigit() else self.store.job_for_key(key, 0.0)
        if job_id is None:
            raise JobNotFoundError(f"no job with idempotency_key {key[:200]!r}")
        return self.get_job(job_id)

    def get_history(self, job_id: int) -> list[Job]:
        """Every version, oldest first: the job's timeline. The states the recorder has not written yet
        (it is milliseconds behind, lingering for the events that follow) come from the events stream,
        and the state Redis has last, so the timeline never lags the job."""
        try:
            versions = self.store.history(job_id)
        except JobNotFoundError:
            versions = []
        if versions:
            newest = versions[-1].version
            try:
                live = self.queue.get(versions[-1].topic, job_id)
            except redis.RedisError:
                return versions
            if live is None or not newest or live.version <= newest:
                return versions
        else:
            live, newest = self.get_job(job_id), 0  # JobNotFoundError: no such job
        if newest + 1 < live.version:
            with contextlib.suppress(redis.RedisError):  # else the timeline without the states in between
                versions += self.queue.unrecorded(job_id, newest, live.version)
        return [*versions, live]

    def list_jobs(
        self,
        status: str | JobStatus | None = None,
        topic: str | None = None,
        text: str | None = None,
        limit: int = 50,
        before: int | None = None,
        circle_id: str | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
        group: str | None = None,
    ) -> list[Job]:
        """Newest first, from the history; each filter given narrows it (schema/filters.py: `status` one,
        or several as "error,timeout"; `text` words of the id, params, result or error; a page ends
        before the id `before`; the labels as the jobs carry them)."""
        if limit < 1:
            raise InvalidJobError(f"limit: {limit} must be at least 1")
        given = {"before": before, "circle_id": circle_id, "tenant_id": tenant_id, "user_id": user_id}
        try:  # the rules every edge's filters follow (schema/filters.py); a page's size is bounded over HTTP
            JOB_FILTERS.check({**given, "topic": topic, "text": text, "group": group})
        except InvalidInputError as exc:
            raise InvalidJobError(str(exc)) from None
        wanted = parse_statuses(status) if status else None
        self._catch_up_reads()
        return self.store.list(
            status=wanted,
            topic=topic or None,
            text=text or None,
            limit=limit,
            before_id=before,
            circle=circle_id or None,
            tenant=tenant_id or None,
            user=user_id or None,
            group=group or None,
        )

    def _catch_up_reads(self) -> None:
        """Read your writes: the history records asynchronously, so before a list wait (at most
        LIST_CATCH_UP) until it has recorded every event Redis had when the list was asked for; a job
        created a moment ago is then listed. After a wait that ran out (a stalled recorder: health says
        why) or a Redis that did not answer, lists do not wait for LIST_CATCH_UP_PAUSE, unless the
        recorder records something meanwhile."""
        if time.monotonic() < self._no_catch_up_until:
            return
        try:
            newest = self.queue.last_event_id()
            if newest is None:
                return
            deadline = time.monotonic() + LIST_CATCH_UP
            while True:
                seen = self._batches_seen()
                if self.queue.events_recorded_through(newest):
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._no_catch_up_until = time.monotonic() + LIST_CATCH_UP_PAUSE
                    log.warning(
                        "jobs: the history is more than %.0f s behind Redis; lists show what it has", LIST_CATCH_UP
                    )
                    return
                self._wait_for_batch(seen, min(remaining, 0.05))
        except redis.RedisError:
            self._no_catch_up_until = time.monotonic() + LIST_CATCH_UP_PAUSE  # list the history as it is

    def job_types(self) -> list[dict[str, Any]]:
        """Every job type (an actor some pool published, a registered actor, or a `[job_types]` table):
        its defaults over `[jobs]`'s, how many jobs in the history called it first, its actions' param
        schemas, and whether a live pool serves it now (`served`: a type no pool serves any more is
        still listed, as such)."""
        counts = self.store.count_kinds()
        base = {
            "timeout": self.defaults.timeout,
            "max_retries": self.defaults.max_retries,
            "retry_delay": self.defaults.retry_delay,
            "priority": 0,
            "no_overlap": 0,
        }
        live = self.types.get().types
        known = {**read_known(self.client, self.layout), **live}
        rows = []
        for name in sorted(set(known) | set(self.defaults.types)):
            info = known.get(name, {})
            own = {**type_defaults_of(info.get("defaults", {})), **self.defaults.for_type(name)}
            rows.append(
                {
                    "name": name,
                    "defaults": _readable_type_defaults({**base, **own}),
                    "own_defaults": _readable_type_defaults(own),
                    "jobs": counts.get(name, 0),
                    "served": name in live,
                    "actions": info.get("actions", {}),
                    "isolation": info.get("isolation", "thread"),
                    "suspendable": bool(info.get("suspendable", False)),
                }
            )
        return rows

    def job_groups(self) -> dict[str, dict[str, int]]:
        """Every group a job names, with its jobs counted by status."""
        return self.store.count_groups()

    def get_log(self, job_id: int, offset: int = 0) -> str:
        self._collect_log(job_id)
        return self.logs.read(job_id, offset)

    def get_log_lines(self, job_id: int, max_bytes: int, offset: int | None = None) -> LogPart:
        """Whole lines of a job's log (a page shows them, and follows the log from `end`): its last lines in
        `max_bytes` (offset None), or those after byte `offset`. A finished job's log ends where it ends, its
        last line whole or not; a running job's line being written waits for its end."""
        self._collect_log(job_id)
        if offset is None:
            return self.logs.last_lines(job_id, max_bytes)
        ended = self.store.status_of(job_id)
        return self.logs.lines_from(job_id, offset, max_bytes, partial=ended is not None and ended.terminal)

    def _collect_log(self, job_id: int) -> None:
        """File the lines remote workers left in Redis for this job; JobNotFoundError if there is no job."""
        if self.store.topic_of(job_id) is None:
            self.get_job(job_id)
        with contextlib.suppress(redis.RedisError):  # what is already in the file is still worth showing
            collect_remote_logs(self.client, self.layout, self.logs, job_id)

    def eta(self, job: Job) -> float | None:
        """When a waiting job is expected to start (unix seconds), an estimate: a delayed job at its time;
        a queued one after the jobs ahead of it in its topic's queue, at the topic's mean run time so far,
        shared by the worker slots that serve the topic. None when it does not wait, or nothing says
        (no worker serves the topic, or none of its jobs has finished since the server started)."""
        if job.status is not JobStatus.NEW:
            return None
        now = time.time()
        if job.time_scheduled > now:
            return job.time_scheduled
        try:
            part = self.queue.of_topic(job.topic)
            ahead: Any = part.client.zrank(part.layout.queue(job.topic), str(job.job_id))
            pools = list_workers(self.client, self.layout)
        except redis.RedisError:
            return None
        slots = sum(
            int(p.get("concurrency", "0") or 0)
            for p in pools
            if p.get("state", "serving") == "serving" and {job.topic, "*"} & set(p.get("topics", "").split(","))
        )
        timing = self.stats.durations().get(job.topic)
        if ahead is None or not slots or timing is None or not timing.count:
            return None
        return now + (int(ahead) + 1) / slots * (timing.total / timing.count)

    def _oldest_waiting(self, topics: list[str], now: float) -> dict[str, float]:
        """queue.oldest_waiting (ten reads per topic with jobs queued), read at most once a second: every
        open dashboard refreshes its overview on events, up to four times a second."""
        memo = self._oldest_memo
        if memo is not None and now - memo[0] < OLDEST_MEMO_SECONDS and memo[1] == topics:
            return memo[2]
        found = self.queue.oldest_waiting(topics)
        self._oldest_memo = (now, topics, found)
        return found

    def paused_why(self) -> dict[str, str]:
        """Topic -> why it paused itself ([topics.<name>] pause_on_error), until it is resumed."""
        return self.queue.paused_why()

    def queue_stats(self) -> dict[str, dict[str, int]]:
        """Per topic: queued, inflight, scheduled, paused / draining (1 or 0), oldest_wait (seconds the
        oldest queued job has waited; 0 = none queued), and over the last 10 minutes as this server recorded
        them: finished, failed (error or timeout)."""
        stats = self.queue.stats()
        for topic, state in self.queue.topic_states().items():
            figures = stats.setdefault(topic, {"queued": 0, "inflight": 0, "scheduled": 0})
            figures.update({k: int(v) for k, v in state.items()})
        now = time.time()
        oldest = self._oldest_waiting([t for t, f in stats.items() if f["queued"]], now)
        window = self.stats.topic_window(now)
        for topic, figures in stats.items():
            figures.setdefault("paused", 0)
            figures.setdefault("draining", 0)
            figures["oldest_wait"] = max(0, int(now - oldest[topic])) if topic in oldest else 0
            figures.update(window.get(topic, {"finished": 0, "failed": 0}))
        return stats

    # ------------------------------------------------------------ topic control

    def pause_topic(self, topic: str, *, create: bool = False) -> dict[str, Any]:
        """Queued jobs of the topic wait (running ones finish) until `resume_topic`; kept across restarts.
        TopicNotFoundError for a topic that has never had a job, unless `create` (see `_known`)."""
        self.queue.pause(self._known(topic, "pause", create))
        log.info("jobs: topic %s paused", topic)
        return self.topic_state(topic)

    def resume_topic(self, topic: str, *, create: bool = False) -> dict[str, Any]:
        """Undo `pause_topic` and `drain_topic`: the topic runs and takes new jobs again."""
        self.queue.resume(self._known(topic, "resume", create))
        log.info("jobs: topic %s resumed", topic)
        return self.topic_state(topic)

    def drain_topic(self, topic: str, *, create: bool = False) -> dict[str, Any]:
        """The topic takes no new jobs (a create gets TopicDrainingError, a 409); what is queued still runs."""
        self.queue.drain(self._known(topic, "drain", create))
        log.info("jobs: topic %s draining", topic)
        return self.topic_state(topic)

    def clear_topic(self, topic: str, *, create: bool = False) -> dict[str, Any]:
        """Cancel the topic's waiting jobs (queued and scheduled), each recorded as canceled with the reason."""
        canceled, _ = self.queue.clear(self._known(topic, "clear", create), f"canceled: topic {topic} was cleared")
        log.info("jobs: topic %s cleared: %d waiting job(s) canceled", topic, canceled)
        return {**self.topic_state(topic), "canceled": canceled, "stopping": 0}

    def cancel_all(self, topic: str, *, create: bool = False) -> dict[str, Any]:
        """`clear_topic`, and ask the topic's running jobs to stop (their workers cancel them)."""
        canceled, stopping = self.queue.clear(
            self._known(topic, "cancel-all", create), f"canceled: cancel-all of topic {topic}", also_running=True
        )
        log.info(
            "jobs: cancel-all of topic %s: %d waiting canceled, %d running asked to stop", topic, canceled, stopping
        )
        return {**self.topic_state(topic), "canceled": canceled, "stopping": stopping}

    def control_topic(self, topic: str, action: str, *, create: bool = False) -> dict[str, Any]:
        """One of TOPIC_ACTIONS by name (what the API, the pages and the CLI call)."""
        if action not in TOPIC_ACTIONS:
            raise InvalidJobError(f"action: {action!r} is not one of {', '.join(TOPIC_ACTIONS)}")
        return dict(getattr(self, TOPIC_ACTIONS[action])(topic, create=create))

    def remove_topic(self, topic: str) -> None:
        """Forget a topic with nothing left in it: its queue, pause or drain and limits go, and it leaves the
        queue list (its finished jobs stay in the history; a new job brings it back). TopicNotFoundError when
        Redis does not know it; TopicNotEmptyError (409) naming what is left while any job is queued,
        scheduled or running."""
        topic = _topic(topic)
        if not self.queue.known_topic(topic):
            raise TopicNotFoundError(
                f"topic {topic!r} is not in the queue list: nothing to remove (it has no queue, pause, drain or "
                "limits; finished jobs of it, if any, stay in the history)"
            )
        left = self.queue.remove_topic(topic)
        if not left["removed"]:
            counts = ", ".join(f"{left[k]} {k}" for k in ("queued", "running", "scheduled"))
            raise TopicNotEmptyError(
                f"topic {topic} still has jobs ({counts}): nothing was removed. Cancel them first (POST "
                f"/api/queues/{topic}/cancel-all, heroagent queue cancel-all {topic}), wait for the running ones "
                "to stop, then remove it"
            )
        log.info("jobs: topic %s removed", topic)

    def _known(self, topic: str, action: str, create: bool) -> str:
        """`topic`, checked like a job's, if it has ever had a job (Redis's topic set or state, the history, a
        worker serving it by name) or `create` is given; else TopicNotFoundError saying how to act on it anyway."""
        topic = _topic(topic)
        if create is not True and create is not False:
            raise InvalidJobError(f"create: {create!r} must be true or false")
        if create or self.queue.known_topic(topic) or topic in self.store.topics() or topic in self._served_topics():
            return topic
        method = TOPIC_ACTIONS.get(action, "set_topic_limits")
        raise self.queue.unknown_topic(topic, action, method)

    def _served_topics(self) -> set[str]:
        """The topics live worker pools serve by name ("*" serves every topic, so it names none)."""
        return served_topics(self.client, self.layout)

    def cleanup_history(self, older_than_days: float, *, dry_run: bool = False) -> dict[str, Any]:
        """Retention by hand: remove the finished jobs that ended more than `older_than_days` ago (with
        their logs), or with `dry_run` only say what would go (counts by status and topic, first ids)."""
        if isinstance(older_than_days, bool) or not isinstance(older_than_days, int | float):
            raise InvalidJobError(f"older_than_days: {older_than_days!r} must be a number of days")
        if not math.isfinite(older_than_days) or older_than_days < 0:
            raise InvalidJobError(f"older_than_days: {older_than_days!r} must be a finite number of days >= 0")
        cutoff = time.time() - older_than_days * 86400
        return remove_finished_before(self.store, self.queue, self.logs, cutoff, dry_run=dry_run)

    def compact_history(self) -> str:
        """Compact the history's files now (the daily `upkeep.compact` does it at [scheduler] compact_at)."""
        report = self.store.compact()
        log.info("jobs: history compacted: %s", report.summary())
        return report.summary()

    def topic_state(self, topic: str) -> dict[str, Any]:
        state = self.queue.topic_states().get(topic, {"paused": False, "draining": False})
        limits = self.queue.limits().get(topic, TopicLimits())
        return {"topic": topic, **state, **limits.to_dict()}

    def set_topic_limits(
        self, topic: str, *, max_running: int | None = None, rate: str | None = None, create: bool = False
    ) -> dict[str, Any]:
        """Limit the topic over every worker: at most `max_running` of its jobs at once, at most `rate`
        ("100/minute") starting per period; both None = no limits. Jobs over a limit wait, never fail.
        Kept in Redis (`[topics.<topic>]` in the config sets them again at each start). Like the other topic
        actions, TopicNotFoundError for a topic that has never had a job, unless `create` (see `_known`)."""
        try:
            limits = TopicLimits.check({"max_running": max_running, "rate": rate}, f"topic {topic}")
        except InvalidInputError as exc:
            raise InvalidJobError(str(exc)) from None
        self.queue.set_limits(self._known(topic, "limit", create), limits)
        log.info("jobs: topic %s limits: %s", topic, limits.to_dict() if not limits.empty else "none")
        return self.topic_state(topic)

    def topic_limits(self) -> dict[str, dict[str, Any]]:
        """Topic -> {max_running, rate} for every topic that has limits."""
        return {topic: limits.to_dict() for topic, limits in self.queue.limits().items()}

    def running_jobs(self, limit: int = 1000) -> list[Job]:
        """Jobs held by a worker now (live state from Redis, progress included), oldest lease first."""
        return self.queue.running(limit)

    def list_workers(self) -> list[dict[str, str]]:
        """Every worker pool that reported recently, in this process or another (`heroagent worker`)."""
        return list_workers(self.client, self.layout)

    def drain_worker(self, worker_id: str) -> dict[str, str]:
        """Ask a worker pool to drain: no new jobs, finish what runs (see worker.set_draining)."""
        return set_draining_everywhere(self.queue, worker_id, True)

    def resume_worker(self, worker_id: str) -> dict[str, str]:
        """Undo `drain_worker` for a pool that still runs."""
        return set_draining_everywhere(self.queue, worker_id, False)

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
        while True:
            seen = self._batches_seen()
            status = self.store.status_of(job_id)
            if status is None:
                status = self.get_job(job_id).status  # not recorded yet (JobNotFoundError: no such job)
                status = JobStatus.NEW if status.terminal else status  # terminal once the history has it
            if status.terminal:
                return self.store.get(job_id)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"job {job_id} is still {status.value} after {timeout}s{self._whereabouts(job_id)}")
            self._wait_for_batch(seen, 0.5 if remaining is None else min(remaining, 0.5))

    def _whereabouts(self, job_id: int) -> str:
        """For a wait that ran out: the job's newest state in the history and in Redis, so a job that ended
        in Redis but not in the history (a recorder behind or stalled) is told apart from one still running."""
        try:
            row = self.store.index.row(job_id)
        except Exception:  # the timeout is the news; an index that cannot be read only makes the text shorter
            row = None
        try:
            live = self.queue.get_by_id(job_id)
            in_redis = "no hash" if live is None else f"{live.status.value} v{live.version} on {live.worker or '-'}"
        except redis.RedisError as exc:
            in_redis = f"unreachable ({exc})"
        in_history = "not recorded" if row is None else f"{row.status} v{row.version}"
        return f" (history: {in_history}; Redis: {in_redis})"

    def wait_recorded(self, job_id: int, timeout: float = RECORD_WAIT) -> bool:
        """Wait until the history has the job (created a moment ago); False if it does not in `timeout`."""
        return self._wait_history(lambda: self.store.topic_of(job_id) is not None, timeout)

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

    def complete_job(self, job_id: int, result: Any) -> Job:
        """End a job by hand as done with `result`: a text is kept as text, any other value as JSON."""
        if isinstance(result, str):
            text, kind = result, RESULT_TEXT
        else:
            try:
                text, kind = json.dumps(result, ensure_ascii=False, allow_nan=False), RESULT_JSON
            except (TypeError, ValueError):
                raise InvalidJobError(f"result: {type(result).__name__} is not a JSON value (nor a text)") from None
        return self.update_job_status(job_id, JobStatus.DONE, result=clip(text, self.max_value_bytes), result_type=kind)

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

    def suspend_job(self, job_id: int) -> Job:
        """Ask a running job to pause: `suspending` now, `suspended` once its worker paused it (its child
        processes stopped with SIGSTOP, or its actor waiting at `ctx.checkpoint()`), within a heartbeat
        (a third of [jobs] lease_seconds). Its timeout clock stops and its worker slot is freed."""
        job = self.get_job(job_id)
        why_not = self.why_not_suspendable(job) if job.status is JobStatus.ACTIVE else ""
        if why_not:
            raise InvalidTransitionError(f"job {job_id}: cannot suspend: {why_not}")
        outcome = self.queue.transition(job, JobStatus.SUSPENDING.value, {}, expect=JobStatus.ACTIVE.value)
        if outcome != "ok":
            raise InvalidTransitionError(
                f"job {job_id}: cannot suspend: it is {outcome or 'finished'}; only an active job can be suspended"
            )
        log.info("jobs: job %d asked to suspend", job_id)
        return self.get_job(job_id)

    def why_not_suspendable(self, job: Job) -> str:
        """Why this job could never be suspended ('' = it can): only a job whose worker can pause it.
        That is a script or rhaiscript job (its processes are stopped), one in a child process (a
        process-isolated actor, a [jobs] process_topics topic), or one whose every actor is declared
        `suspendable=True` (its actions wait at `ctx.checkpoint()`). A suspend of any other would stay
        `suspending` for good, so it is refused, and the pages do not offer it."""
        if job.params_type is ParamsType.RHAISCRIPT or job.topic in self.process_topics:
            return ""
        if job.params_type is not ParamsType.HEROSCRIPT:
            return f"a {job.params_type.value} job is a call its worker cannot pause; cancel it instead"
        types = self.types.get().types
        try:
            actors = sorted({action.actor for action in parse_job_cached(job.params)})
        except HeroScriptError:
            return "its HeroScript does not parse"
        stuck = [a for a in actors if not types.get(a, {}).get("suspendable")]
        if not stuck:
            return ""
        return (
            f"actor {', '.join(repr(a) for a in stuck)} cannot pause (declare it with suspendable=True and call "
            'ctx.checkpoint() in its actions, or isolation="process"); cancel it instead'
        )

    def resume_job(self, job_id: int) -> Job:
        """Let a suspended job go on (`resuming`, then `active` once its worker did); a job still
        `suspending` simply stays active."""
        job = self.get_job(job_id)
        outcome = self.queue.transition(job, JobStatus.RESUMING.value, {}, expect=JobStatus.SUSPENDED.value)
        if outcome == JobStatus.SUSPENDING.value:
            outcome = self.queue.transition(job, JobStatus.ACTIVE.value, {}, expect=JobStatus.SUSPENDING.value)
        if outcome != "ok":
            raise InvalidTransitionError(
                f"job {job_id}: cannot resume: it is {outcome or 'finished'}; only a suspended job can be resumed"
            )
        log.info("jobs: job %d asked to resume", job_id)
        return self.get_job(job_id)

    def retry_job(self, job_id: int) -> Job:
        """Queue a finished job again as a new attempt (its earlier attempts stay in its history)."""
        return self.retry_jobs([job_id])[0]

    def retry_jobs(self, job_ids: Iterable[int]) -> list[Job]:
        """Queue finished jobs again, one OurDB commit and one Redis round trip for all of them.

        Raises before changing anything if one of them is not finished (or does not exist)."""
        jobs = []
        for job_id in job_ids:
            job = self.get_job(job_id)
            if not job.status.terminal:
                raise InvalidTransitionError(
                    f"job {job_id}: cannot retry: it is {job.status.value}; only finished jobs can be retried"
                )
            if not self._wait_final_recorded(job_id):  # the new attempt's versions must come after it
                raise InvalidTransitionError(f"job {job_id}: the history has not recorded its end yet; try again")
            job.status = JobStatus.NEW
            job.version += 1
            job.updated_at = time.time()
            job.retries += 1
            job.error = job.result_text = job.result_type = job.worker = ""
            job.time_start = job.time_end = job.time_scheduled = 0.0
            jobs.append(job)
        if jobs:
            self.store.record(jobs)
            self.queue.enqueue(jobs)
            self.notify()
        return jobs

    def _wait_final_recorded(self, job_id: int, timeout: float = RECORD_WAIT) -> bool:
        def ended() -> bool:
            status = self.store.status_of(job_id)
            return status is not None and status.terminal

        return self._wait_history(ended, timeout)

    def list_dead(self, topic: str | None = None, limit: int = 50, before: int | None = None) -> list[Job]:
        """Jobs that failed for good (`error`, `timeout`): out of retries, or failed by hand. Newest first."""
        return self.list_jobs(status=",".join(DEAD), topic=topic, limit=limit, before=before)

    def retry_dead(self, topic: str | None = None) -> list[Job]:
        """Retry every dead job (of one topic, or all): what to do once the cause of the failures is fixed."""
        wanted = sorted(
            job_id
            for job_id in self.store.ids_with_status(*DEAD)
            if topic is None or self.store.topic_of(job_id) == topic
        )
        retried: list[Job] = []
        for start in range(0, len(wanted), RETRY_BATCH):
            retried += self.retry_jobs(wanted[start : start + RETRY_BATCH])
        if retried:
            log.info("jobs: %d dead job(s)%s queued again", len(retried), f" of topic {topic}" if topic else "")
        return retried

    def bulk_jobs(
        self, action: str, job_ids: list[int] | None = None, filters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Retry, cancel or delete jobs, one bounded batch per call (bulk.py): the jobs named by `job_ids`
        (at most 500), or the next batch the `filters` match (the jobs list's filters, newest first; their
        `before` pages, `limit` sizes the batch). Each job goes through retry_job/cancel_job/delete_job's
        rules; one whose state does not allow it is skipped. Returns {action, done, skipped, skipped_ids,
        left: ids given not reached in time, next_before: the filter's `before` for the next batch or None}."""
        return run_bulk(self, action, job_ids, filters)

    def delete_job(self, job_id: int) -> None:
        """Remove a job from Redis and from the history. A running job must be canceled first."""
        job = self.get_job(job_id)
        if not self.wait_recorded(job_id):
            raise InvalidTransitionError(f"job {job_id}: the history has not recorded it yet; try again")
        if job.status.running:
            raise InvalidTransitionError(f"job {job_id}: cannot delete a running job; cancel it first")
        if job.status is JobStatus.NEW:
            self.queue.cancel(job.topic, job_id, time.time())
        part = self.queue.of_topic(job.topic)
        pipe = part.client.pipeline(transaction=True)
        pipe.delete(part.layout.job(job.topic, job_id))
        pipe.hdel(part.layout.JOB_TOPICS, str(job_id))
        pipe.execute()
        self.store.delete(job_id)
        self.client.delete(self.layout.joblog(job_id))
        self.logs.remove(job_id)
        if job.idempotency_key:  # the job it named is gone: the same create again makes a new one
            self.queue.forget_idempotency_keys({job.idempotency_key: job_id})


def _topic(topic: str) -> str:
    """A topic named by a caller (API path, CLI): checked like a job's topic."""
    if not isinstance(topic, str) or not re.fullmatch(TOPIC_PATTERN, topic):
        raise InvalidJobError(f"topic: {str(topic)[:80]!r} may only contain letters, digits, '_', '.' and '-' (1-128)")
    return topic


def _readable_type_defaults(defaults: Mapping[str, float | str]) -> dict[str, Any]:
    """A job type's defaults as people read them: priority a whole number, no_overlap true or false."""
    out: dict[str, Any] = dict(defaults)
    if "priority" in out:
        out["priority"] = int(out["priority"])
    if "no_overlap" in out:
        out["no_overlap"] = bool(out["no_overlap"])
    return out
