"""Creating jobs: check each spec against the job schema, fill in the defaults, create them in Redis.

The same code runs in the server (JobManager), in any other process (JobClient, `heroagent job
submit`) and for schedules: a job is created by one Lua script (lua/create.lua) that gives it its id,
writes it and queues it; the server's recorder then writes it to the history. The defaults a job gets
are the server's `[jobs]` settings, which the server publishes in Redis so that creators in other
processes use the same ones.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import redis

from heroagent.config import JobsConfig, RedisConfig
from heroagent.jobs import keys
from heroagent.jobs.errors import IdempotencyKeyGoneError, InvalidJobError, JobNotFoundError, ParentsGoneError
from heroagent.jobs.live.contract import ACCEPT, REFUSE, check_contract, type_defaults
from heroagent.jobs.live.jobtypes import Contract
from heroagent.jobs.live.queue import JobQueue
from heroagent.jobs.model import Job, ParamsType, check_job_spec_and_type, scheduled_time
from heroagent.schema.job import TOPIC_PATTERN, TYPE_DEFAULT_FIELDS

_BUILT_IN = JobsConfig()  # a client with no config and no server-published defaults gets `[jobs]`'s own
_BUILT_IN_REDIS = RedisConfig()


@dataclass(frozen=True)
class JobDefaults:
    """What a new job gets when its spec leaves a field out (the server's `[jobs]` settings)."""

    timeout: float = _BUILT_IN.default_timeout
    max_retries: int = _BUILT_IN.max_retries
    retry_delay: float = _BUILT_IN.retry_delay
    retry_delay_min: float = _BUILT_IN.retry_delay_min
    max_value_bytes: int = _BUILT_IN.max_value_bytes
    idempotency_window: float = _BUILT_IN.idempotency_window
    unknown_actors: str = _BUILT_IN.unknown_actors  # "refuse" | "accept" (contract.py)
    # Job type (the actor a HeroScript job calls first) -> its defaults (timeout, max_retries, retry_delay,
    # priority, no_overlap as 1/0)
    types: Mapping[str, Mapping[str, float | str]] = field(default_factory=dict)
    # The server's [redis] min_replicas and replica_timeout: a creator in another process waits for as
    # many replicas (JobClient follows these when stricter than its own).
    min_replicas: int = _BUILT_IN_REDIS.min_replicas
    replica_timeout: float = _BUILT_IN_REDIS.replica_timeout
    # The server's [redis] partitions: a process that counts other partitions would put jobs where no one looks.
    partitions: int = _BUILT_IN_REDIS.partitions

    def partitions_problem(self, mine: int) -> str:
        """What is wrong when this process has [redis] partitions = `mine` ('' = the server's)."""
        if mine == self.partitions:
            return ""
        return (
            f"[redis] partitions = {mine} here, but the server has {self.partitions}: every process of a HeroAgent "
            "needs the same (its topics' keys are where the server's partitions put them)"
        )

    @classmethod
    def from_config(
        cls,
        jobs: JobsConfig,
        types: Mapping[str, Mapping[str, float | str]] | None = None,
        redis_config: RedisConfig | None = None,
    ) -> JobDefaults:
        return cls(
            min_replicas=(redis_config or _BUILT_IN_REDIS).min_replicas,
            replica_timeout=(redis_config or _BUILT_IN_REDIS).replica_timeout,
            partitions=(redis_config or _BUILT_IN_REDIS).partitions,
            timeout=jobs.default_timeout,
            max_retries=jobs.max_retries,
            retry_delay=jobs.retry_delay,
            retry_delay_min=jobs.retry_delay_min,
            max_value_bytes=jobs.max_value_bytes,
            idempotency_window=jobs.idempotency_window,
            unknown_actors=jobs.unknown_actors,
            types=dict(types or {}),
        )

    def publish(self, client: redis.Redis, layout: keys.KeyLayout) -> None:
        """Put these in Redis for creators in other processes (the server does this at start)."""
        values = {k: repr(v) for k, v in asdict(self).items() if k not in ("types", "unknown_actors")}
        values["unknown_actors"] = self.unknown_actors
        values["types"] = json.dumps({name: dict(d) for name, d in self.types.items()})
        client.hset(layout.JOB_DEFAULTS, mapping=values)  # type: ignore[arg-type]

    def for_type(self, type_name: str) -> Mapping[str, float | str]:
        return self.types.get(type_name, {})

    @classmethod
    def read(cls, client: redis.Redis, layout: keys.KeyLayout) -> JobDefaults | None:
        """The defaults a server published (None = none did, or they are unreadable)."""
        raw: Any = client.hgetall(layout.JOB_DEFAULTS)
        if not raw:
            return None
        given = {k.decode(): v.decode() for k, v in raw.items()}
        values: dict[str, Any] = {}
        try:
            types = json.loads(given.pop("types", "{}"))
            values["types"] = {str(name): type_defaults_of(d) for name, d in types.items() if isinstance(d, dict)}
            unknown_actors = given.pop("unknown_actors", REFUSE)
            values["unknown_actors"] = unknown_actors if unknown_actors in (REFUSE, ACCEPT) else REFUSE
            for f in fields(cls):
                if f.name in given:
                    number = float(given[f.name])
                    if not math.isfinite(number) or number < 0:
                        return None
                    values[f.name] = int(number) if f.type in (int, "int") else number
        except (ValueError, TypeError, AttributeError):
            return None
        return cls(**values)


def type_defaults_of(given: Mapping[str, Any]) -> dict[str, float | str]:
    """A job type's published defaults, keeping only what is well formed (numbers finite, a topic valid)."""
    out: dict[str, float | str] = {}
    for key, value in given.items():
        if key == "topic":
            if isinstance(value, str) and re.fullmatch(TOPIC_PATTERN, value):
                out[key] = value
        elif key in TYPE_DEFAULT_FIELDS and isinstance(value, int | float) and math.isfinite(value):
            out[key] = float(value)
    return out


def build_job(spec: Mapping[str, Any], defaults: JobDefaults, contract: Contract | None = None) -> Job:
    """`build_job_and_refs`'s job (its depends_on: the ids it names; '@N' references are left out)."""
    return build_job_and_refs(spec, defaults, contract)[0]


def build_job_and_refs(
    spec: Mapping[str, Any], defaults: JobDefaults, contract: Contract | None = None
) -> tuple[Job, list[int | str]]:
    """A new Job from a spec as `create_jobs` takes it, and the jobs it depends on as given (ids, and '@N':
    the Nth spec of the same call); InvalidJobError names the bad field. A HeroScript
    or json job is checked against the contract: the job types the live pools serve (contract.py). Fields the
    spec leaves out come from its job type's defaults (the actor it calls first: `[job_types]` of the
    server, then what the pools serving it declared), then from `[jobs]`."""
    clean, job_type = check_job_spec_and_type(spec)
    size = len(clean["params"].encode())
    if size > defaults.max_value_bytes:
        raise InvalidJobError(
            f"params: {size} bytes is over the limit of {defaults.max_value_bytes} bytes ([jobs] max_value_bytes)"
        )
    contract = contract or Contract()
    job_type = check_contract(clean, job_type, contract, defaults.unknown_actors)  # a json job's action resolved
    typed = (
        {**type_defaults_of(type_defaults(contract.types, job_type)), **defaults.for_type(job_type)} if job_type else {}
    )
    topic = clean.get("topic") or typed.get("topic")
    if not topic:
        raise InvalidJobError("topic: required (give one, or call an actor whose job type names a topic)")
    max_retries = clean.get("max_retries", typed.get("max_retries"))
    retry_delay = clean.get("retry_delay", typed.get("retry_delay"))
    timeout = clean.get("timeout", typed.get("timeout"))
    priority = clean.get("priority", typed.get("priority", 0))
    no_overlap_key = clean.get("no_overlap_key", "")
    if not no_overlap_key and typed.get("no_overlap"):
        no_overlap_key = f"type:{job_type}"
    job = Job(
        topic=str(topic),
        params=clean["params"],
        params_type=ParamsType(clean.get("params_type", "heroscript")),
        action=clean.get("action", ""),
        timeout=float(timeout if timeout is not None else defaults.timeout),
        circle_id=clean.get("circle_id", ""),
        session_key=clean.get("session_key", ""),
        log=clean.get("log", False),
        max_retries=int(max_retries if max_retries is not None else defaults.max_retries),
        retry_delay=max(  # with [jobs] retry_delay_min, a failing job cannot retry in a hot loop
            defaults.retry_delay_min, float(retry_delay if retry_delay is not None else defaults.retry_delay)
        ),
        time_scheduled=scheduled_time(clean.get("run_at"), clean.get("delay")),
        idempotency_key=clean.get("idempotency_key", ""),
        origin=clean.get("origin", ""),
        tenant_id=clean.get("tenant_id", ""),
        user_id=clean.get("user_id", ""),
        group=clean.get("group", ""),
        priority=int(priority),
        no_overlap_key=no_overlap_key,
        overlap_delay=float(clean.get("overlap_delay", 0.0)),
        callback_url=clean.get("callback_url", ""),
    )
    refs: list[int | str] = clean.get("depends_on") or []
    if refs:
        job.depends_on = tuple(ref for ref in refs if isinstance(ref, int))
        job.on_parent_failure = clean.get("on_parent_failure") or "cancel"
    elif clean.get("on_parent_failure"):
        raise InvalidJobError("on_parent_failure: only a job with depends_on has parents to fail")
    # Its first version is made as it is created; in ms, as the scripts write the later versions' times,
    # so a timeline never goes back (a claim in the same millisecond would seem to come first).
    job.updated_at = math.floor(job.time_created * 1000) / 1000
    return job, refs


def submit(
    queue: JobQueue,
    specs: Iterable[Mapping[str, Any]],
    defaults: JobDefaults,
    earlier_job: Callable[[int], Job],
    contract: Contract | None = None,
) -> list[tuple[Job, bool]]:
    """Check and create jobs, all or none, in one Redis call; per spec (the job, created now?).

    A spec whose idempotency key was used within the window gets the earlier job (`earlier_job(id)`
    reads it) and False. Nothing is created if one spec is bad (InvalidJobError names it): against the
    schema of a new job, and against the contract (the live job types, contract.py)."""
    built = [build_job_and_refs(spec, defaults, contract) for spec in specs]
    jobs = [job for job, _ in built]
    if not jobs:
        return []
    made: dict[int, Job] = {}
    answers: list[tuple[Job, bool]] = []
    for job, (job_id, created) in zip(jobs, _create(queue, built, defaults, earlier_job), strict=True):
        if created:
            job.job_id = job_id
            if job.status.terminal:  # a parent had failed: it ended at once (its error says why)
                job = _earlier(earlier_job, job, job_id)
            made[job_id] = job
            answers.append((job, True))
        else:  # the same key earlier in this batch, or in an earlier call
            answers.append((made.get(job_id) or _earlier(earlier_job, job, job_id), False))
    return answers


def _create(
    queue: JobQueue,
    built: list[tuple[Job, list[int | str]]],
    defaults: JobDefaults,
    read_job: Callable[[int], Job],
) -> list[tuple[int, bool]]:
    """The create call; parents that have left Redis are read (`read_job`: from the history, in the server,
    or through it) and given with how they ended. A parent that exists nowhere is an InvalidJobError."""
    jobs = [job for job, _ in built]
    known: dict[int, str] = {}
    for _ in range(3):  # a parent may leave Redis between the calls (recorded): read it too, and go again
        parents = [[(ref, known.get(ref, "") if isinstance(ref, int) else "") for ref in refs] for _, refs in built]
        try:
            return queue.create(jobs, defaults.idempotency_window, parents if any(parents) else None)
        except ParentsGoneError as gone:
            for parent_id in gone.ids:
                known[parent_id] = _outcome(read_job, parent_id)
    raise InvalidJobError("depends_on: the jobs it names kept changing; try again")


def _outcome(read_job: Callable[[int], Job], parent_id: int) -> str:
    """How a parent that left Redis ended, as the create script takes it (JSON: status, result, result_type)."""
    try:
        parent = read_job(parent_id)
    except JobNotFoundError:
        raise InvalidJobError(f"depends_on: job {parent_id} does not exist (nothing was created)") from None
    if not parent.status.terminal:  # in the history but not in Redis: Redis lost it and it is being put back
        raise InvalidJobError(f"depends_on: job {parent_id} is being put back in Redis; try again in a second")
    return json.dumps({"status": parent.status.value, "result": parent.result_text, "result_type": parent.result_type})


def _earlier(earlier_job: Callable[[int], Job], job: Job, job_id: int) -> Job:
    """The job an idempotency key names. Deleting a job frees its key, so it is there, unless it was
    deleted between the create and this read, or the key was written by hand: then say so."""
    try:
        return earlier_job(job_id)
    except JobNotFoundError:
        raise IdempotencyKeyGoneError(
            f"idempotency_key {job.idempotency_key!r}: it names job {job_id}, which is gone (deleted); "
            "nothing was created: send the create again (a deleted job's key is free) or use a new key"
        ) from None
