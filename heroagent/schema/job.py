"""The rules of a new job, one table for every edge: the Python API, the JSON API, the CLI, requests over
Redis, schedules. The OpenAPI document's `NewJob` is generated from `NEW_JOB`.

Every stored version of a job must fit one OurDB record (65,535 bytes) as Redis's cjson writes it, and
cjson escapes `/` as `\\/` and control characters as `\\u00XX`: 40,000 slashes are 80,000 bytes stored.
So the *encoded* size of what a job carries is checked at creation (`check_stored_size`), with room
kept for the result and the error a worker adds later (each cut to `MAX_RESULT_BYTES` encoded).
"""

from __future__ import annotations

import enum
from typing import Any

from heroagent.errors import InvalidInputError
from heroagent.schema.fields import Field, Schema

MAX_SECONDS = 366 * 86400.0  # a year: a longer timeout or retry delay is a mistake
MAX_DELAY = 10 * 366 * 86400.0  # a delayed job may wait ten years
MAX_UNIX_TIME = 253402300799.0  # 9999-12-31T23:59:59Z
MAX_RETRIES = 1000
TOPIC_PATTERN = r"[A-Za-z0-9_.-]{1,128}"

OURDB_RECORD_MAX = 65535
MAX_RESULT_BYTES = 8 * 1024  # result and error are each cut to this, encoded (the full output is in the log)
RECORD_OVERHEAD = 2048  # field names, numbers, worker id, status, the retry note, an idempotency key
MAX_CARRIED_BYTES = OURDB_RECORD_MAX - 2 * MAX_RESULT_BYTES - RECORD_OVERHEAD  # params + circle + session


class ParamsType(enum.StrEnum):
    HEROSCRIPT = "heroscript"
    RHAISCRIPT = "rhaiscript"
    OPENRPC = "openrpc"
    AI = "ai"


NEW_JOB = Schema(
    "job",
    (
        Field(
            "topic",
            "string",
            "the queue; letters, digits, '_', '.', '-'",
            required=True,
            min_length=1,
            pattern=TOPIC_PATTERN,
            pattern_hint="may only contain letters, digits, '_', '.' and '-' (1-128 chars)",
        ),
        Field(
            "params",
            "string",
            "HeroScript, Rhai script, OpenRPC JSON or a prompt",
            required=True,
            min_length=1,
            max_bytes=MAX_CARRIED_BYTES,
        ),
        Field("params_type", "string", enum=tuple(p.value for p in ParamsType), default="heroscript"),
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
        Field("circle_id", "string", "the circle the job belongs to", max_bytes=256),
        Field("session_key", "string", "the caller's session", max_bytes=1024),
        Field(
            "idempotency_key",
            "string",
            "a second create with the same key within [jobs] idempotency_window returns the first job (200)",
            min_length=1,
            max_bytes=200,
            pattern=r"[\x21-\x7e]{1,200}",
            pattern_hint="must be 1-200 printable ASCII characters without spaces",
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


def check_stored_size(params: str, circle_id: str = "", session_key: str = "") -> None:
    """InvalidInputError if the job's versions might not fit one OurDB record once encoded."""
    carried = cjson_size(params) + cjson_size(circle_id) + cjson_size(session_key)
    if carried > MAX_CARRIED_BYTES:
        raise InvalidInputError(
            f"params: {carried} bytes once stored (JSON-escaped, with circle_id and session_key) is over the "
            f"limit of {MAX_CARRIED_BYTES} bytes; put large inputs in a file on the share and pass its path"
        )


def clip_encoded(text: str, limit: int = MAX_RESULT_BYTES) -> str:
    """`text` cut so that it takes at most `limit` bytes encoded, with a note of what was cut."""
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
    clean = NEW_JOB.check(spec)
    check_stored_size(clean["params"], clean.get("circle_id", ""), clean.get("session_key", ""))
    return clean
