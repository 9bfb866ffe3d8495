"""The rules of a new job, one table for every edge: the Python API, the JSON API, the CLI, requests over
Redis, schedules. The OpenAPI document's `NewJob` is generated from `NEW_JOB`.

Params, results and errors may be large (up to MAX_VALUE_BYTES, lowered by `[jobs] max_value_bytes`):
a stored version that would not fit one OurDB record has them moved beside it (jobs/history/spill.py). The
other text fields are small and bounded here, so every version fits once those are moved.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from heroagent.errors import InvalidInputError
from heroagent.schema.fields import Field, Schema

MAX_SECONDS = 366 * 86400.0  # a year: a longer timeout or retry delay is a mistake
MAX_DELAY = 10 * 366 * 86400.0  # a delayed job may wait ten years
MAX_UNIX_TIME = 253402300799.0  # 9999-12-31T23:59:59Z
MAX_RETRIES = 1000
MAX_PRIORITY = 9  # priorities are 0 (the default, least urgent) to 9 (most urgent)
TOPIC_PATTERN = r"[A-Za-z0-9_.-]{1,128}"
MAX_LOG_OFFSET = 10**15 - 1  # the largest byte offset a job log is read from (GET /api/jobs/<id>/log)

HERO_ORIGIN = "hero:"  # the origin of jobs the hero intake takes: reserved to it (the API refuses it)
MAX_VALUE_BYTES = 16 * 1024 * 1024  # params, results and errors up to this ([jobs] max_value_bytes lowers it)


# What a dependent job does when a job it depends on ends in another way than done (model.py explains).
PARENT_FAILURE_POLICIES = ("cancel", "skip", "run")


class ParamsType(enum.StrEnum):
    HEROSCRIPT = "heroscript"
    RHAISCRIPT = "rhaiscript"
    OPENRPC = "openrpc"
    AI = "ai"
    JSON = "json"


# The params types whose result is a JSON value (what the actions returned); the others' is text.
JSON_RESULT_TYPES = frozenset({ParamsType.HEROSCRIPT, ParamsType.JSON, ParamsType.OPENRPC})
ACTION_PATTERN = r"[a-z0-9_]{1,128}\.[a-z0-9_]{1,128}"


NEW_JOB = Schema(
    "job",
    (
        Field(
            "topic",
            "string",
            "the queue; letters, digits, '_', '.', '-' (may be left out when the job's type names one)",
            min_length=1,
            pattern=TOPIC_PATTERN,
            pattern_hint="may only contain letters, digits, '_', '.' and '-' (1-128 chars)",
        ),
        Field(
            "params",
            "string",
            "HeroScript, a JSON object (its keys are the handler's arguments; from Python and the JSON API "
            "give the object itself), a Rhai script, OpenRPC JSON or a prompt",
            required=True,
            min_length=1,
            max_bytes=MAX_VALUE_BYTES,
            or_object=True,
        ),
        Field(
            "params_type",
            "string",
            "how params are read; default json when params is an object or text starting with '{', else heroscript",
            enum=tuple(p.value for p in ParamsType),
            default="heroscript",
        ),
        Field(
            "action",
            "string",
            "for a json job: the action it calls (actor.action); default the handler its topic has",
            max_bytes=257,
            pattern=ACTION_PATTERN,
            pattern_hint="must be actor.action: lowercase letters, digits and '_' on each side of one '.'",
        ),
        Field(
            "timeout",
            "number",
            "seconds; default [jobs] default_timeout",
            minimum=0,
            exclusive_minimum=True,
            maximum=MAX_SECONDS,
        ),
        Field("log", "boolean", "keep a log of the job", default=False),
        Field(
            "max_retries",
            "integer",
            "retries after a failed attempt; default [jobs] max_retries",
            minimum=0,
            maximum=MAX_RETRIES,
        ),
        Field(
            "retry_delay",
            "number",
            "seconds before the first retry, doubled each time; default [jobs] retry_delay",
            minimum=0,
            maximum=MAX_SECONDS,
        ),
        Field(
            "priority",
            "integer",
            "0-9, 9 most urgent; a waiting job of a higher priority starts before lower ones of its topic",
            minimum=0,
            maximum=MAX_PRIORITY,
        ),
        Field(
            "no_overlap_key",
            "string",
            "jobs with the same key never run at the same time, across all workers and machines",
            min_length=1,
            max_bytes=200,
            pattern=r"[\x21-\x7e]{1,200}",
            pattern_hint="must be 1-200 printable ASCII characters without spaces",
        ),
        Field(
            "overlap_delay",
            "number",
            "with no_overlap_key: seconds the next job of the key waits after this one ends",
            minimum=0,
            maximum=MAX_SECONDS,
        ),
        Field("circle_id", "string", "the circle the job belongs to", max_bytes=256),
        Field("session_key", "string", "the caller's session", max_bytes=1024),
        Field("tenant_id", "string", "the tenant the job is for (filterable)", max_bytes=256),
        Field("user_id", "string", "the user who made the job (filterable)", max_bytes=256),
        Field("group", "string", "a group of jobs that belong together, such as a batch (filterable)", max_bytes=256),
        Field(
            "origin",
            "string",
            "where the job came from, kept as given (hero:<script_type>:<id> for a job from a hero queue)",
            max_bytes=256,
        ),
        Field(
            "idempotency_key",
            "string",
            "a second create with the same key within [jobs] idempotency_window returns the first job (200)",
            min_length=1,
            max_bytes=200,
            pattern=r"[\x21-\x7e]{1,200}",
            pattern_hint="must be 1-200 printable ASCII characters without spaces",
        ),
        Field(
            "depends_on",
            "refs",
            "jobs that must end done first: ids, or '@N' for the Nth job of the same call; until then the job is "
            "waiting",
        ),
        Field(
            "on_parent_failure",
            "string",
            "when a job it depends on ends in another way than done: cancel (it ends canceled), skip (it ends "
            "skipped, and its own dependents go on) or run (it runs anyway)",
            enum=PARENT_FAILURE_POLICIES,
            default="cancel",
        ),
        Field(
            "callback_url",
            "string",
            "an http(s) URL that receives the job's final state as JSON when it ends (a signed webhook)",
            min_length=1,
            max_bytes=2048,
            pattern=r"https?://[\x21-\x7e]{1,2040}",
            pattern_hint="must be an http:// or https:// URL of printable ASCII characters without spaces",
        ),
        Field("delay", "number", "run it this many seconds from now", minimum=0, maximum=MAX_DELAY),
        Field(
            "run_at",
            "time",
            "run it at this time: ISO 8601 (2026-12-01T08:00:00Z) or unix seconds",
            minimum=0,
            maximum=MAX_UNIX_TIME,
            max_bytes=64,
        ),
    ),
)


def cjson_size(text: str) -> int:
    """Bytes `text` takes as a JSON string written by Redis's cjson (quotes excluded)."""
    size = 0
    for char in text:
        code = ord(char)
        if char in '"\\/\b\f\n\r\t':
            size += 2
        elif code < 0x20 or code == 0x7F:
            size += 6
        elif code < 0x80:
            size += 1
        elif code < 0x800:
            size += 2
        elif code < 0x10000:
            size += 3
        else:
            size += 4
    return size


def clip_encoded(text: str, limit: int = MAX_VALUE_BYTES) -> str:
    """`text` cut so that it takes at most `limit` bytes as JSON text, with a note of what was cut."""
    if cjson_size(text) <= limit:
        return text
    note_room = 80
    size, end = 0, 0
    for end, char in enumerate(text):  # noqa: B007 - end is used after the loop
        size += cjson_size(char)
        if size > limit - note_room:
            break
    cut = len(text[end:].encode(errors="replace"))
    return text[:end] + f"\n... [cut: {cut} more bytes in the job log]"


def check_new_job(spec: Any) -> dict[str, Any]:
    """The fields of a new job, checked (None = not given); InvalidInputError naming the field."""
    return NEW_JOB.check(spec)


# What a job type may set for its jobs. `no_overlap = true` gives each of its jobs the no_overlap_key
# "type:<name>" unless the job names its own: one job of the type runs at a time.
TYPE_DEFAULT_FIELDS = ("timeout", "max_retries", "retry_delay", "priority", "no_overlap", "topic")
TypeDefaults = dict[str, float | str]  # a job type's defaults: numbers (no_overlap 1 or 0), and its topic
NO_OVERLAP = Field("no_overlap", "boolean", "one job of this type runs at a time (across all workers)")


def check_type_defaults(name: str, given: Mapping[str, Any]) -> TypeDefaults:
    """A job type's defaults (`[job_types.<name>]`, `@actor(..., timeout=...)`), checked by the same rules
    as a job's own fields; InvalidInputError names the type and the field. Kept as numbers (no_overlap
    as 1 or 0) and a topic, as they are published in Redis for creators in other processes."""
    unknown = sorted(set(given) - set(TYPE_DEFAULT_FIELDS))
    if unknown:
        raise InvalidInputError(
            f"job type {name}: {', '.join(unknown)}: unknown; a type sets {', '.join(TYPE_DEFAULT_FIELDS)}"
        )
    clean: TypeDefaults = {}
    for key, value in given.items():
        if value is None:
            continue
        try:
            if key == "no_overlap":
                clean[key] = 1.0 if NO_OVERLAP.check(value) else 0.0
            else:
                clean[key] = NEW_JOB.field(key).check(value)
        except InvalidInputError as exc:
            raise InvalidInputError(f"job type {name}: {exc}") from None
    return clean
