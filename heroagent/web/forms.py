"""Forms generated from the rules of input (`heroagent/schema/`): which control each field gets, how a posted
field's text becomes its value, and which field an error names.

The submit form (schema/job.py NEW_JOB) and the schedule form (schema/schedule.py SCHEDULE) are made from their
schema, so a field added to a job or a schedule is in its form too, with the same bounds and the same words.
A field's problem is shown beside it, never as a 500: the text a user types is parsed here, the schema checks
the value, and the operation's own error is mapped back to its field (`error_field`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from heroagent.schema.fields import Field

LONG_TEXT = 4096  # a string field allowed more bytes than this is a text area (params), not a one-line input
_PARSERS = {"number": float, "integer": int}


def control(f: Field) -> str:
    """The form control for a field: 'checkbox', 'select' (an enum), 'textarea' (long text) or 'input'."""
    if f.kind == "boolean":
        return "checkbox"
    if f.enum:
        return "select"
    if f.kind == "string" and f.max_bytes is not None and f.max_bytes > LONG_TEXT:
        return "textarea"
    return "input"


def label(f: Field) -> str:
    """The field's name as words ('max_retries' -> 'Max retries')."""
    return f.name.replace("_", " ").capitalize()


def parse(f: Field, raw: str) -> tuple[Any, str]:
    """(the value a field's text gives, '' or its problem): numbers parsed, an empty text is not given (None)."""
    if not raw:
        return None, ""
    parser = _PARSERS.get(f.kind)
    if parser is None:
        return raw, ""
    try:
        return parser(raw), ""
    except ValueError:
        whole = parser is int
        seconds = not whole and "seconds" in f.description
        return None, f"{raw!r} must be a {'whole number' if whole else 'number'}" + (" of seconds" if seconds else "")


def read(fields: Iterable[Field], posted: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The posted fields as (values to give the operation, what the form shows back, problems by field).

    A checkbox is true when sent as 'on' and false when left out (a browser sends nothing for it); texts are
    kept as typed (numbers stripped) so the form shows back what was typed beside its problem."""
    values: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        if f.kind == "boolean":
            shown[f.name] = values[f.name] = posted.get(f.name) == "on"
            continue
        raw = posted.get(f.name, "")
        shown[f.name] = raw if control(f) == "textarea" else raw.strip()
        value, problem = parse(f, shown[f.name])
        if problem:
            errors[f.name] = problem
        elif value is not None:
            values[f.name] = value
    return values, shown, errors


def error_field(message: str, names: Iterable[str]) -> tuple[str, str]:
    """(the field an operation's error names, the message for beside it), or ('', message) when it names none.

    Errors name their field as 'topic: ...', 'cron = ...: ...' or 'params (action a.b): ...', after a label
    such as "schedule 'nightly': "; a field's own message loses its name, the others are kept whole."""
    known = set(names)
    text = re.sub(r"^schedule( '[^']*')?: ", "", message)
    named = re.match(r"([a-z_]+)(: | = | \()", text)
    if not named or named.group(1) not in known:
        return "", message
    field = named.group(1)
    return field, text.removeprefix(f"{field}: ") if named.group(2) == ": " else text
