"""The job: its fields, statuses, validation, and its two encodings (JSON for OurDB, a flat hash for Redis).

Field names on the wire (OurDB, Redis) follow the Hero ecosystem (`jobid`, `sessionkey`, `circleid`), so a
job written here reads the same from redis-cli and another Hero tool. The JSON API and the CLI's `--json`
(`to_api`) name the fields as a create takes them (`job_id`, `session_key`, `circle_id`).
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from heroagent.errors import InvalidInputError
from heroagent.heroscript import HeroScriptError, parse_job_cached
from heroagent.jobs import fastjson
from heroagent.jobs.errors import InvalidJobError, InvalidTransitionError
from heroagent.schema.job import JSON_RESULT_TYPES, MAX_VALUE_BYTES, check_new_job, clip_encoded
from heroagent.schema.job import ParamsType as ParamsType  # re-exported: the job core's name for it
from heroagent.schema.json_params import json_object, looks_like_json

RESULT_JSON, RESULT_TEXT = "json", "text"  # a job's result_type


class JobStatus(enum.StrEnum):
    WAITING = "waiting"  # waits for the jobs it depends on (depends_on) to end; then new (or ends by its policy)
    NEW = "new"
    ACTIVE = "active"
    SUSPENDING = "suspending"  # asked to suspend; its worker has not paused it yet
    SUSPENDED = "suspended"  # paused by its worker (its process stopped, or its actor waiting at a checkpoint)
    RESUMING = "resuming"  # asked to resume; its worker has not let it go on yet
    CANCELING = "canceling"  # asked to cancel while running; its worker has not stopped it yet
    DONE = "done"
    ERROR = "error"
    CANCELED = "canceled"
    SKIPPED = "skipped"  # the job decided there was nothing to do (ctx.skip): final, not a failure
    TIMEOUT = "timeout"  # stopped by its timeout (after its retries): final, a failure like error

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def running(self) -> bool:
        """Held by a worker: active, or on its way to / in / out of a suspension."""
        return self in RUNNING


TERMINAL = frozenset({JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELED, JobStatus.SKIPPED, JobStatus.TIMEOUT})
DEAD = (JobStatus.ERROR, JobStatus.TIMEOUT)  # the failures a dead-jobs list shows and `retry_dead` retries
RUNNING = frozenset(
    {JobStatus.ACTIVE, JobStatus.SUSPENDING, JobStatus.SUSPENDED, JobStatus.RESUMING, JobStatus.CANCELING}
)
_ENDS = {JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELED, JobStatus.SKIPPED, JobStatus.TIMEOUT}

# Which status changes are allowed. A finished job only moves again through retry_job (-> new).
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.WAITING: frozenset({JobStatus.NEW, JobStatus.CANCELED, JobStatus.SKIPPED}),
    JobStatus.NEW: frozenset({JobStatus.ACTIVE, JobStatus.CANCELED, JobStatus.ERROR, JobStatus.DONE}),
    JobStatus.ACTIVE: frozenset({*_ENDS, JobStatus.NEW, JobStatus.SUSPENDING, JobStatus.CANCELING}),
    JobStatus.SUSPENDING: frozenset(
        {*_ENDS, JobStatus.NEW, JobStatus.SUSPENDED, JobStatus.ACTIVE, JobStatus.CANCELING}
    ),
    JobStatus.SUSPENDED: frozenset({*_ENDS, JobStatus.NEW, JobStatus.RESUMING, JobStatus.CANCELING}),
    JobStatus.RESUMING: frozenset({*_ENDS, JobStatus.NEW, JobStatus.ACTIVE, JobStatus.CANCELING}),
    JobStatus.CANCELING: frozenset({*_ENDS, JobStatus.NEW}),
    JobStatus.DONE: frozenset(),
    JobStatus.ERROR: frozenset(),
    JobStatus.CANCELED: frozenset(),
    JobStatus.SKIPPED: frozenset(),
    JobStatus.TIMEOUT: frozenset(),
}


# Python attribute -> wire name (JSON and Redis hash field).
WIRE_NAMES = {
    "job_id": "jobid",
    "session_key": "sessionkey",
    "circle_id": "circleid",
    "idempotency_key": "idempotencykey",
    "tenant_id": "tenantid",
    "user_id": "userid",
    "result_text": "result",
}
PY_NAMES = {wire: py for py, wire in WIRE_NAMES.items()}
# The JSON API (and the CLI's --json) names each field as a create takes it and Python calls it (`circle_id`),
# not by its wire name; the result is its value under "result". The wire names it used to give are sent
# beside them as deprecated aliases for one release (0.1.x) and go in 0.2.
API_NAMES = {"result_text": "result"}
API_ALIASES = {wire: py for py, wire in WIRE_NAMES.items() if py not in API_NAMES}  # old name -> its field


@dataclass
class Job:
    topic: str
    params: str
    params_type: ParamsType = ParamsType.HEROSCRIPT
    job_id: int = 0
    session_key: str = ""
    circle_id: str = ""
    status: JobStatus = JobStatus.NEW
    timeout: float = 60.0
    time_created: float = field(default_factory=time.time)
    time_scheduled: float = 0.0
    time_start: float = 0.0
    time_end: float = 0.0
    error: str = ""
    result_text: str = ""  # the result as stored: JSON text, or plain text (see result_type); `result` reads it
    log: bool = False
    retries: int = 0
    max_retries: int = 0
    retry_delay: float = 0.0
    attempts: int = 0
    worker: str = ""
    idempotency_key: str = ""  # a second create with the same key returns this job (see [jobs] idempotency_window)
    version: int = 0  # which state of the job this is (1 = created); the history records each version once
    origin: str = ""  # where it came from: "hero:<script_type>:<id>" for a job taken from a hero queue
    tenant_id: str = ""
    user_id: str = ""
    group: str = ""
    progress: float = 0.0  # 0..1, as the running job last reported it (ctx.progress, "::progress" lines)
    progress_details: str = ""
    priority: int = 0  # 0-9, 9 most urgent: in its topic's queue it waits behind higher priorities only
    no_overlap_key: str = ""  # jobs sharing it never run at once (a lock in Redis, held by lease)
    overlap_delay: float = 0.0  # seconds the key stays locked after this job ends
    updated_at: float = 0.0  # when this version was made (unix seconds): each state of the timeline has its own
    action: str = ""  # a json job's action (actor.action): given, or its topic's handler when it was created
    result_type: str = ""  # "json": result_text is a JSON value's text; "text": plain text ("" = by params_type)
    # The jobs this one waits for (ids); it starts when each has ended done (or skipped). When one ends
    # otherwise, on_parent_failure says what this one does: "cancel" (it ends canceled, naming that job),
    # "skip" (it ends skipped; its own dependents take that as done) or "run" (it runs all the same).
    depends_on: tuple[int, ...] = ()
    on_parent_failure: str = ""  # "" = no depends_on; else cancel | skip | run
    callback_url: str = ""  # receives the final state as JSON when the job ends (a signed webhook)

    # ------------------------------------------------------------ encodings

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the Hero wire names."""
        out: dict[str, Any] = {}
        for attr, wire in _WIRE_FIELDS:
            value = getattr(self, attr)
            out[wire] = value.value if isinstance(value, enum.Enum) else value
        out["depends_on"] = ",".join(map(str, self.depends_on))  # text on the wire, as a hash keeps it
        return out

    def to_json(self) -> bytes:
        return fastjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls._from_pairs(data.items())

    @classmethod
    def from_json(cls, raw: bytes | str) -> Job:
        return cls.from_dict(fastjson.loads(raw))

    def to_hash(self) -> dict[str, str]:
        """Flat string fields for a Redis hash (`HGET herojobs:<topic>:<id> status` works)."""
        return hash_fields(self.to_dict())

    @classmethod
    def from_hash(cls, data: Mapping[bytes, bytes] | Mapping[str, str]) -> Job:
        """A job from its Redis hash (bytes or text)."""
        return cls._from_pairs(data.items())

    @classmethod
    def from_hash_items(cls, items: Sequence[bytes]) -> Job:
        """`from_hash` of a flat [field, value, ...] reply (HGETALL as a script returns it)."""
        return cls._from_pairs(zip(items[::2], items[1::2], strict=True))

    @classmethod
    def _from_pairs(cls, pairs: Iterable[tuple[Any, Any]]) -> Job:
        """A job from (wire name, value) pairs: JSON values, or a hash's bytes or text. On every claim's
        path: each known field is converted by one lookup in a table built once; others are ignored."""
        kwargs: dict[str, Any] = {}
        for key, value in pairs:
            known = _FIELDS_BY_WIRE.get(key)
            if known is not None:
                kwargs[known[0]] = known[1](value)
        return cls(**kwargs)

    @property
    def result(self) -> Any:
        """The result as a value: what the actions returned (a JSON value) for HeroScript, json and
        OpenRPC jobs; the text a Rhai script printed, an AI answered or a skip gave; None when there is
        none. A JSON result cut to the value cap ([jobs] max_value_bytes) is text saying so."""
        text = self.result_text
        if not text:
            return None
        if self.result_is_json:
            try:
                return fastjson.loads(text)
            except ValueError:
                return text
        return text

    @property
    def result_is_json(self) -> bool:
        """Whether result_text holds a JSON value (jobs recorded before result_type: by their params type)."""
        if self.result_type:
            return self.result_type == RESULT_JSON
        return self.params_type in JSON_RESULT_TYPES and self.status is not JobStatus.SKIPPED

    def to_api(self) -> dict[str, Any]:
        """The job for the JSON API and the CLI's output: each field by the name a create takes (`circle_id`,
        not the wire's `circleid`), the result as its value, not its text, `locked_by` (the worker holding
        the job now, '' unless it runs), and the old wire names as aliases (API_ALIASES, until 0.2)."""
        out: dict[str, Any] = {}
        for attr, name in _API_FIELDS:
            value = getattr(self, attr)
            out[name] = value.value if isinstance(value, enum.Enum) else value
        out["result"] = self.result
        out["depends_on"] = list(self.depends_on)
        out["locked_by"] = self.locked_by
        for old, attr in API_ALIASES.items():
            out[old] = out[attr]
        return out

    @property
    def locked_by(self) -> str:
        """The worker holding the job now: its `worker` while it runs (or is suspended by it), else ''."""
        return self.worker if self.status.running else ""

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @property
    def scheduled(self) -> bool:
        """A delayed job still waiting for its time."""
        return self.status is JobStatus.NEW and self.time_scheduled > time.time()


def hash_fields(doc: Mapping[str, Any]) -> dict[str, str]:
    """A job's `to_dict()` (or part of it) as the text values of its Redis hash."""
    out: dict[str, str] = {}
    for key, value in doc.items():
        if value is True or value is False:
            out[key] = "1" if value else "0"
        elif type(value) is float:
            out[key] = repr(value)
        else:
            out[key] = str(value)
    return out


# (attribute, wire name) of every field, computed once: to_dict/from_dict are on the hot path.
_WIRE_FIELDS = tuple((f.name, WIRE_NAMES.get(f.name, f.name)) for f in fields(Job))
_API_FIELDS = tuple((f.name, API_NAMES.get(f.name, f.name)) for f in fields(Job))
_INT_FIELDS = {"job_id", "retries", "max_retries", "attempts", "version", "priority"}
_FLOAT_FIELDS = {
    "timeout",
    "time_created",
    "time_scheduled",
    "time_start",
    "time_end",
    "retry_delay",
    "progress",
    "overlap_delay",
    "updated_at",
}
# Wire names of the job's number fields, and with them the counters only its Redis hash holds (`lost`: attempts
# whose worker stopped renewing the lease, counted by lua/reap.lua). The events' JSON carries these as numbers:
# lua/common.lua's `emit` types a hash's fields by HASH_NUMBER_FIELDS, which scripts.py fills in from here.
NUMBER_FIELDS = frozenset(WIRE_NAMES.get(name, name) for name in _INT_FIELDS | _FLOAT_FIELDS)
HASH_NUMBER_FIELDS = NUMBER_FIELDS | {"lost", "parents_left"}


def _text_of(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def _log_of(value: Any) -> bool:
    return value in (True, b"1", "1", b"true", "true", b"True", "True")


def _converter(name: str) -> Callable[[Any], Any]:
    """How a field's value (from JSON, or a hash's bytes or text) becomes the attribute `name`."""
    if name in _INT_FIELDS:
        return int  # int() and float() take bytes as they take text
    if name in _FLOAT_FIELDS:
        return float
    if name == "log":
        return _log_of
    if name == "status":
        return lambda value: JobStatus(_text_of(value))
    if name == "params_type":
        return lambda value: ParamsType(_text_of(value))
    if name == "depends_on":
        return _ids_of
    return _text_of


def _ids_of(value: Any) -> tuple[int, ...]:
    """depends_on from the wire ('1,2,3', as a hash and the events keep it) or from a list."""
    if isinstance(value, list | tuple):
        return tuple(int(v) for v in value)
    text = _text_of(value)
    return tuple(int(part) for part in text.split(",") if part.strip()) if text else ()


# Wire name (as text and as bytes) -> (attribute, converter).
_FIELDS_BY_WIRE: dict[bytes | str, tuple[str, Callable[[Any], Any]]] = {}
for _attr, _wire in _WIRE_FIELDS:
    _FIELDS_BY_WIRE[_wire] = _FIELDS_BY_WIRE[_wire.encode()] = (_attr, _converter(_attr))


def check_job_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check a new job as `create_jobs` takes it against `schema.job.NEW_JOB` (HeroScript parsed too).

    Returns the fields given (None = not given). InvalidJobError names the field. Used by the manager
    and by schedules, whose jobs are checked when the schedule is added, not when it first fires."""
    return check_job_spec_and_type(spec)[0]


def check_job_spec_and_type(spec: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """`check_job_spec`, and the job's type: the actor its HeroScript calls first ('' for other params
    types), from the same parse."""
    given_type = spec.get("params_type")
    if (given_type in (None, "") and looks_like_json(spec.get("params"))) or given_type == ParamsType.JSON:
        spec = {**spec, "params_type": ParamsType.JSON.value, "params": _json_text(spec.get("params"))}
    try:
        clean = check_new_job(spec)
    except InvalidInputError as exc:
        raise InvalidJobError(str(exc)) from None
    kind = clean.get("params_type", "heroscript")
    if kind == ParamsType.JSON:
        return clean, clean.get("action", "").partition(".")[0]
    if clean.get("action"):
        raise InvalidJobError(
            f"action: only a json job names its action; a {kind} job's params say what it runs (leave action out)"
        )
    if kind != ParamsType.HEROSCRIPT:
        return clean, ""
    try:
        return clean, parse_job_cached(clean["params"])[0].actor
    except HeroScriptError as exc:
        raise InvalidJobError(f"params: {exc}") from None


def _json_text(params: Any) -> Any:
    """A json job's params as the text it keeps (checked: json_params.py); InvalidJobError if bad. Text
    that is not a string is left for the schema to name (a missing or empty params)."""
    if params is None or params == "":
        return params
    try:
        return json_object(params)[0]
    except InvalidInputError as exc:
        raise InvalidJobError(str(exc)) from None


def scheduled_time(run_at: Any, delay: Any, now: float | None = None) -> float:
    """`time_scheduled` for a new job: 0 (run now), or unix seconds from `run_at` or `delay`.

    `run_at` is a datetime (naive = local time), unix seconds, or an ISO 8601 string (from JSON);
    InvalidJobError names the field when a value is bad.
    """
    if run_at is not None and delay is not None:
        raise InvalidJobError("run_at: give run_at or delay, not both")
    now = time.time() if now is None else now
    if delay is not None:
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise InvalidJobError(f"delay: {delay!r} must be a number of seconds >= 0")
        return _whole_ms(now + float(delay)) if delay > 0 else 0.0
    if run_at is None:
        return 0.0
    if isinstance(run_at, str):
        try:
            run_at = datetime.fromisoformat(run_at.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidJobError(f"run_at: {run_at!r} is not an ISO 8601 time like 2026-12-01T08:00:00Z") from None
    if isinstance(run_at, datetime):
        return _whole_ms(run_at.timestamp())
    if isinstance(run_at, bool) or not isinstance(run_at, int | float) or run_at < 0:
        raise InvalidJobError(f"run_at: {run_at!r} must be a datetime, unix seconds or an ISO 8601 time")
    return _whole_ms(float(run_at))


def _whole_ms(when: float) -> float:
    """Rounded up to the millisecond: the promoter and the start time count in whole milliseconds, so a
    job never shows a start a fraction of a millisecond before its due time."""
    return math.ceil(when * 1000) / 1000


def parse_status(status: str | JobStatus) -> JobStatus:
    """A status given by a caller; InvalidJobError naming the allowed ones."""
    try:
        return JobStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in JobStatus)
        raise InvalidJobError(f"status: {str(status)[:80]!r} is not one of {allowed}") from None


def parse_statuses(given: str | JobStatus | tuple[JobStatus, ...]) -> tuple[JobStatus, ...]:
    """A status filter: one status, or several as `a,b` (a list filter keeps a job in any of them)."""
    if isinstance(given, tuple):
        return given
    if isinstance(given, JobStatus):
        return (given,)
    found = tuple(dict.fromkeys(parse_status(part.strip()) for part in given.split(",") if part.strip()))
    if not found:
        raise InvalidJobError(f"status: {given[:80]!r} names no status")
    return found


def check_transition(job_id: int, current: JobStatus, new: JobStatus) -> None:
    if new != current and new not in TRANSITIONS[current]:
        raise InvalidTransitionError(
            f"job {job_id}: cannot change status from {current.value} to {new.value}"
            + ("; use retry_job to run a finished job again" if current.terminal else "")
        )


def clip(text: str, limit: int = MAX_VALUE_BYTES) -> str:
    """A result or error cut to the value cap ([jobs] max_value_bytes), saying how much was cut."""
    return clip_encoded(text, limit)
