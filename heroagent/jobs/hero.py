"""HeroAgent as a hero actor: jobs of the Hero ecosystem's Redis queue layout, run as HeroAgent jobs.

A hero supervisor writes a job as the hash `hero:job:{id}` (fields `id`, `script`, `script_type`,
`timeout`, others kept as they are) and LPUSHes its id to `hero:q:work:type:{script_type}`. For each
script type in `[hero] serve`, the intake loop here BLPOPs those queues, reads the hash and creates a
HeroAgent job (topic `hero.<script_type>`, params = the script, params type from `serve`, timeout from
the hash, `origin` = `hero:<script_type>:<id>`, idempotency key `hero-<script_type>-<id>` so a job
pushed twice runs once). From then on it is an ordinary job: history, dashboard, timeout, cancel,
retries. As the recorder records its states, `recorded` answers the hero way: the hash gets `status` =
`started` when it starts, then `finished` with `output` or `error` with `error`, and `updated_at` each
time; the final answer is also LPUSHed to `hero:q:reply:{id}` as JSON `{"id", "status", "output",
"error"}`. A `stop` message on `hero:q:ctl:type:{script_type}` stops the intake of that type.

Like hero's own actors, the intake takes an id with BLPOP: an id taken by a server killed before it
created the job is lost to the queue (the hash stays, unanswered).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from heroagent.jobs import keys
from heroagent.jobs.errors import JobError
from heroagent.jobs.manager import JobManager
from heroagent.jobs.model import Job, JobStatus
from heroagent.jobs.store import RecordedEvent

log = logging.getLogger(__name__)

HERO_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
ORIGIN_MARK = b'"origin":"hero:'
WAIT_SECONDS = 1.0


class HeroActor:
    def __init__(self, client: redis.Redis, manager: JobManager, serve: Mapping[str, str]) -> None:
        self.client = client  # blocks in BLPOP: not the request path's client
        self.manager = manager
        self.serve = dict(serve)
        self.stopped: set[str] = set()

    # ------------------------------------------------------------ intake

    def step(self) -> None:
        """Wait up to a second for a hero job id (or a control message) and take it."""
        active = [t for t in self.serve if t not in self.stopped]
        queues = [keys.hero_ctl(t) for t in self.serve] + [keys.hero_work(t) for t in active]
        item: Any = self.client.blpop(queues, timeout=WAIT_SECONDS)
        if item is None:
            return
        key, value = _text(item[0]), _text(item[1])
        for script_type in self.serve:
            if key == keys.hero_ctl(script_type):
                self._control(script_type, value)
                return
            if key == keys.hero_work(script_type):
                self.take(script_type, value)
                return

    def _control(self, script_type: str, message: str) -> None:
        if message.strip().lower() == "stop":
            self.stopped.add(script_type)
            log.info("hero: stopped taking %s jobs (a stop message on %s)", script_type, keys.hero_ctl(script_type))
        else:
            log.warning("hero: ignored control message %r for %s", message[:100], script_type)

    def take(self, script_type: str, hero_id: str) -> Job | None:
        """Make the HeroAgent job for hero job `hero_id`; a job that cannot be made is answered as an error."""
        if not HERO_ID.fullmatch(hero_id):
            log.warning("hero: ignored a %s queue entry that is not a job id: %r", script_type, hero_id[:100])
            return None
        fields = {_text(k): _text(v) for k, v in self.client.hgetall(keys.hero_job(hero_id)).items()}  # type: ignore[union-attr]
        if not fields:
            log.warning("hero: job %s was queued for %s but %s does not exist", hero_id, script_type,
                        keys.hero_job(hero_id))  # fmt: skip
            return None
        spec: dict[str, Any] = {
            "topic": f"hero.{script_type}",
            "params": fields.get("script", ""),
            "params_type": self.serve[script_type],
            "origin": f"hero:{script_type}:{hero_id}",
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
                if event.status is JobStatus.DONE:
                    self._finish(job, "finished", job.result, "")
                else:
                    self._finish(job, "error", "", job.error or event.status.value)

    def _set(self, job: Job, **fields: str) -> None:
        hero_id = _hero_id(job)
        if hero_id:
            values = {**fields, "updated_at": str(int(time.time()))}
            self.client.hset(keys.hero_job(hero_id), mapping=values)  # type: ignore[arg-type]

    def _finish(self, job: Job, status: str, output: str, error: str) -> None:
        hero_id = _hero_id(job)
        if hero_id:
            self._answer(hero_id, status, output, error)

    def _answer(self, hero_id: str, status: str, output: str, error: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(
            keys.hero_job(hero_id),
            mapping={"status": status, "output": output, "error": error, "updated_at": str(int(time.time()))},
        )
        reply = json.dumps({"id": hero_id, "status": status, "output": output, "error": error})
        pipe.lpush(keys.hero_reply(hero_id), reply)
        pipe.execute()


def _hero_id(job: Job) -> str:
    """The hero id in a job's origin (`hero:<script_type>:<id>`), or ''."""
    parts = job.origin.split(":", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "hero" else ""


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
