"""The Hero ecosystem's Redis queue layout, both ways: HeroAgent as a hero actor (`HeroActor`) and as a
hero supervisor handing topics to external hero actors (`HeroDispatcher`, at the end).

A hero supervisor writes a job as the hash `hero:job:{id}` (fields `id`, `script`, `script_type`,
`timeout`, others kept as they are) and LPUSHes its id to `hero:q:work:type:{script_type}`. For each
script type in `[hero] serve`, an intake loop here takes ids from that queue, reads the hash and creates a
HeroAgent job (topic `hero.<script_type>`, params = the script, params type from `serve`, timeout from
the hash, `origin` = `hero:<script_type>:<id>`, idempotency key `hero-<script_type>-<id>` so a job
pushed twice runs once). Each script type has its own intake loop, so a busy or empty queue never
holds up another. From then on it is an ordinary job: history, dashboard, timeout, cancel,
retries. As the recorder records its states, `recorded` answers the hero way: the hash gets `status` =
`started` when it starts, then `finished` with `output` or `error` with `error`, and `updated_at` each
time; the final answer is also LPUSHed to `hero:q:reply:{id}` as JSON `{"id", "status", "output",
"error"}`. A `stop` message on `hero:q:ctl:type:{script_type}` stops the intake of that type.

Hero's own actors take an id with BLPOP, and an id taken by an actor killed before it made the job is
lost. HeroAgent's intake moves the id (BLMOVE, one atomic step) into `hero:q:taking:type:{script_type}`,
makes the job, then lets go of the id (LREM). Ids a killed server left there are taken again at the next
start; the idempotency key makes a job that was already made come back instead of a second one (within
`[jobs] idempotency_window`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from heroagent.jobs import keys
from heroagent.jobs.errors import JobError
from heroagent.jobs.history.store import RecordedEvent
from heroagent.jobs.live.queue import JobQueue
from heroagent.jobs.model import RESULT_TEXT, Job, JobStatus
from heroagent.jobs.server.manager import JobManager
from heroagent.schema.job import HERO_ORIGIN

log = logging.getLogger(__name__)

HERO_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
ORIGIN_MARK = b'"origin":"' + HERO_ORIGIN.encode()
WAIT_SECONDS = 1  # seconds an intake loop blocks (a whole number: BLMOVE takes one)


class HeroActor:
    def __init__(self, client: redis.Redis, manager: JobManager, serve: Mapping[str, str]) -> None:
        self.client = client  # blocks in BLPOP: not the request path's client
        self.manager = manager
        self.layout = manager.layout  # the hero queue layout's keys carry [redis] key_prefix too
        self.serve = dict(serve)
        self.stopped: set[str] = set()
        self._unfinished: dict[str, str] = {}  # script type -> the id its loop was taking when Redis failed

    # ------------------------------------------------------------ intake

    def recover(self) -> int:
        """Take again the ids a server killed mid-take left in the taking lists (at start, before the
        intake loops run); returns how many."""
        taken = 0
        for script_type in self.serve:
            for raw in self.client.lrange(self.layout.hero_taking(script_type), 0, -1):
                hero_id = _text(raw)
                log.warning(
                    "hero: %s job %s was taken by a server that stopped before it let go; taking it again",
                    script_type,
                    hero_id[:100],
                )
                self._take_and_let_go(script_type, hero_id)
                taken += 1
        return taken

    def step(self, script_type: str) -> None:
        """Wait up to a second for a hero job id of this script type (or a control message) and take it."""
        unfinished = self._unfinished.get(script_type)
        if unfinished is not None:
            self._take_and_let_go(script_type, unfinished)
            return
        message: Any = self.client.lpop(self.layout.hero_ctl(script_type))
        if message is not None:
            self._control(script_type, _text(message))
            return
        if script_type in self.stopped:
            item: Any = self.client.blpop([self.layout.hero_ctl(script_type)], timeout=WAIT_SECONDS)
            if item is not None:
                self._control(script_type, _text(item[1]))
            return
        moved: Any = self.client.blmove(
            self.layout.hero_work(script_type), self.layout.hero_taking(script_type), WAIT_SECONDS, "LEFT", "LEFT"
        )
        if moved is not None:
            self._take_and_let_go(script_type, _text(moved))

    def _take_and_let_go(self, script_type: str, hero_id: str) -> None:
        """Make the job, then drop the id from the taking list (a job HeroAgent refuses is answered as an
        error). If Redis fails on the way, the id stays in the list and this loop's next step takes it
        again before anything new."""
        self._unfinished[script_type] = hero_id
        try:
            self.take(script_type, hero_id)
        except redis.RedisError:
            raise
        except Exception as exc:  # a bug, not the job: answered, so the id cannot block the intake or a start
            log.exception("hero: %s job %s could not be taken", script_type, hero_id[:100])
            self._answer(hero_id, "error", "", f"HeroAgent could not take the job: {type(exc).__name__}: {exc}")
        self.client.lrem(self.layout.hero_taking(script_type), 1, hero_id)
        del self._unfinished[script_type]

    def _control(self, script_type: str, message: str) -> None:
        if message.strip().lower() == "stop":
            self.stopped.add(script_type)
            log.info(
                "hero: stopped taking %s jobs (a stop message on %s)", script_type, self.layout.hero_ctl(script_type)
            )
        else:
            log.warning("hero: ignored control message %r for %s", message[:100], script_type)

    def take(self, script_type: str, hero_id: str) -> Job | None:
        """Make the HeroAgent job for hero job `hero_id`; a job that cannot be made is answered as an error."""
        if not HERO_ID.fullmatch(hero_id):
            log.warning("hero: ignored a %s queue entry that is not a job id: %r", script_type, hero_id[:100])
            return None
        fields = {_text(k): _text(v) for k, v in self.client.hgetall(self.layout.hero_job(hero_id)).items()}
        if not fields:
            log.warning(
                "hero: job %s was queued for %s but %s does not exist",
                hero_id,
                script_type,
                self.layout.hero_job(hero_id),
            )
            return None
        spec: dict[str, Any] = {
            "topic": f"hero.{script_type}",
            "params": fields.get("script", ""),
            "params_type": self.serve[script_type],
            "origin": f"{HERO_ORIGIN}{script_type}:{hero_id}",
            "idempotency_key": f"hero-{script_type}-{hero_id}",
        }
        try:
            timeout = float(fields.get("timeout", "") or 0)
        except ValueError:
            timeout = 0.0
        if 0 < timeout < 1e9:
            spec["timeout"] = timeout
        try:
            ((job, _),) = self.manager.submit([spec])
        except JobError as exc:  # a script HeroAgent refuses (empty, a syntax error, too large): answer so
            self._answer(hero_id, "error", "", f"HeroAgent refused the job: {exc}")
            return None
        log.info("hero: %s job %s is HeroAgent job %d", script_type, hero_id, job.job_id)
        return job

    # ------------------------------------------------------------ answers

    def recorded(self, events: Iterable[RecordedEvent]) -> None:
        """Called by the recorder with the events it wrote: answer hero jobs' starts and ends."""
        for event in events:
            if ORIGIN_MARK not in event.json:
                continue
            if event.status is JobStatus.ACTIVE:
                job = Job.from_json(event.json)
                self._set(job, status="started")
            elif event.status.terminal:
                job = Job.from_json(event.json)
                if event.status in (JobStatus.DONE, JobStatus.SKIPPED):  # skipped: it ended well, with nothing to do
                    self._finish(job, "finished", job.result_text, "")
                else:
                    self._finish(job, "error", "", job.error or event.status.value)

    def _set(self, job: Job, **fields: str) -> None:
        hero_id = _hero_id(job)
        if hero_id:
            values = {**fields, "updated_at": str(int(time.time()))}
            self.client.hset(self.layout.hero_job(hero_id), mapping=values)  # type: ignore[arg-type]

    def _finish(self, job: Job, status: str, output: str, error: str) -> None:
        hero_id = _hero_id(job)
        if hero_id:
            self._answer(hero_id, status, output, error)

    def _answer(self, hero_id: str, status: str, output: str, error: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(
            self.layout.hero_job(hero_id),
            mapping={"status": status, "output": output, "error": error, "updated_at": str(int(time.time()))},
        )
        reply = json.dumps({"id": hero_id, "status": status, "output": output, "error": error})
        pipe.lpush(self.layout.hero_reply(hero_id), reply)
        pipe.execute()


def _hero_id(job: Job) -> str:
    """The hero id in a job's origin (`hero:<script_type>:<id>`), or ''."""
    parts = job.origin.split(":", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "hero" else ""


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class HeroDispatcher:
    """HeroAgent as a hero supervisor: jobs of the topics in `[hero] dispatch` go to external hero actors.

    One loop, no worker thread held while an actor works: it claims jobs of those topics (under a lease
    it renews, like a worker), writes each as `hero:job:<id>` (id `heroagent-<jobid>`, `script` = the
    params, `script_type` = the topic, `timeout`, `status` = `dispatched`, `created_at`) and LPUSHes the id
    to `hero:q:work:type:<topic>`. It finishes the HeroAgent job from the actor's answer, the reply
    list or the hash's `status` (`finished` with `output`, `error` with `error`), or fails it when the
    job's timeout passes first. Local and `*` workers never claim these topics (`hero:dispatched`). A job
    whose hero hash already holds an answer (the server restarted meanwhile) takes it without
    dispatching again."""

    def __init__(self, queue: JobQueue, topics: Iterable[str], lease_seconds: float) -> None:
        self.queue = queue
        self.client = queue.client
        self.layout = queue.layout
        self.topics = list(topics)
        self.lease_ms = int(lease_seconds * 1000)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:hero-dispatch"
        self.outstanding: dict[str, tuple[Job, float]] = {}  # hero id -> (job, its deadline in monotonic time)
        self._renewed = 0.0

    def start(self) -> None:
        if self.topics:
            self.client.sadd(self.layout.HERO_DISPATCHED, *self.topics)

    def step(self) -> None:
        """Claim and hand over new jobs, renew leases, take answers, time out the late."""
        for job in self.queue.claim(self.topics, self.worker_id, self.lease_ms, max_jobs=50):
            self._dispatch(job)
        now = time.monotonic()
        if self.outstanding and now - self._renewed > self.lease_ms / 3000:
            members = [keys.inflight_member(job.topic, job.job_id) for job, _ in self.outstanding.values()]
            for canceled in self.queue.heartbeat(members, self.lease_ms)[0]:
                self._cancel(canceled)
            self._renewed = now
        self._collect(wait=0.2 if self.outstanding else 0.0)
        if not self.outstanding:
            self.queue.wait(self.topics, timeout=0.5)

    def _dispatch(self, job: Job) -> None:
        hero_id = f"heroagent-{job.job_id}"
        answered = self._hash_answer(hero_id)
        deadline = time.monotonic() + job.timeout
        self.outstanding[hero_id] = (job, deadline)
        if answered is not None:
            self._finish(hero_id, *answered)
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.layout.hero_reply(hero_id))
        pipe.hset(
            self.layout.hero_job(hero_id),
            mapping={
                "id": hero_id,
                "script": job.params,
                "script_type": job.topic,
                "timeout": str(int(job.timeout) or 1),
                "status": "dispatched",
                "created_at": str(int(time.time())),
            },
        )
        pipe.lpush(self.layout.hero_work(job.topic), hero_id)
        pipe.execute()
        log.info("hero: job %d handed to a %s actor as hero job %s", job.job_id, job.topic, hero_id)

    def _collect(self, wait: float) -> None:
        if not self.outstanding:
            return
        if wait:
            item: Any = self.client.blpop([self.layout.hero_reply(h) for h in self.outstanding], timeout=wait)
            if item is not None:
                try:
                    reply = json.loads(item[1])
                    hero_id = _text(item[0]).rsplit(":", 1)[1]
                    self._finish(
                        hero_id,
                        str(reply.get("status", "")),
                        str(reply.get("output") or ""),
                        str(reply.get("error") or ""),
                    )
                except (ValueError, AttributeError, IndexError):
                    log.warning("hero: ignored an unreadable reply on %s: %r", _text(item[0]), item[1][:200])
        pipe = self.client.pipeline(transaction=False)
        ids = list(self.outstanding)
        for hero_id in ids:
            pipe.hmget(self.layout.hero_job(hero_id), "status", "output", "error")
        for hero_id, (status, output, error) in zip(ids, pipe.execute(), strict=True):
            if hero_id in self.outstanding and _text(status or b"") in ("finished", "error"):
                self._finish(hero_id, _text(status), _text(output or b""), _text(error or b""))
        now = time.monotonic()
        for hero_id, (job, deadline) in list(self.outstanding.items()):
            if now > deadline:
                self.outstanding.pop(hero_id)
                message = (
                    f"timed out after {job.timeout:g} seconds: no hero {job.topic} actor answered hero job {hero_id}"
                )
                self._report(job, "timeout", {"error": message})

    def _hash_answer(self, hero_id: str) -> tuple[str, str, str] | None:
        status, output, error = self.client.hmget(self.layout.hero_job(hero_id), "status", "output", "error")
        if _text(status or b"") in ("finished", "error"):
            return _text(status), _text(output or b""), _text(error or b"")
        return None

    def _finish(self, hero_id: str, status: str, output: str, error: str) -> None:
        entry = self.outstanding.pop(hero_id, None)
        if entry is None:
            return
        job, _ = entry
        if status == "finished":
            self._report(job, "done", {"result": output, "result_type": RESULT_TEXT})  # a hero actor answers text
        else:
            self._report(job, "error", {"error": error or f"the hero actor answered {status!r}"})

    def _report(self, job: Job, status: str, fields: dict[str, str]) -> None:
        fields = {**fields, "time_end": f"{time.time():.3f}"}
        self.queue.transition(job, status, fields, expect="running", expect_worker=self.worker_id, retry=True)

    def _cancel(self, job_id: int) -> None:
        for hero_id, (job, _) in list(self.outstanding.items()):
            if job.job_id == job_id:
                self.outstanding.pop(hero_id)
                self._report(job, "canceled", {"error": "canceled while a hero actor had it"})
