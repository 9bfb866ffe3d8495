"""How things are presented, shared by the blueprints: values on the pages (times, durations, sizes,
pretty JSON; registered as Jinja filters), and whether a request came from htmx (a partial is its answer)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, request

from heroagent.jobs.model import Job
from heroagent.web import forms
from heroagent.web.context import Agent


def is_htmx() -> bool:
    """Whether this request came from htmx (it wants a fragment, not a page or a redirect)."""
    return request.headers.get("HX-Request") == "true"


def when(ts: float) -> str:
    """A unix time as UTC wall-clock text ('' for 0, the job system's 'not yet')."""
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def ago(ts: float, now: float | None = None) -> str:
    if not ts:
        return ""
    seconds = (time.time() if now is None else now) - ts
    if seconds < 0:
        return "in " + _span(-seconds)
    return _span(seconds) + " ago"


def duration(seconds: float) -> str:
    """A span of time in words ("42 s", "3 min", "1.5 h")."""
    return _span(max(0.0, float(seconds)))


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def run_time(job: Job) -> str:
    """How long the job ran, or has been running."""
    if not job.time_start:
        return ""
    end = job.time_end or (time.time() if job.status.running else 0)
    if not end:
        return ""
    seconds = max(0.0, end - job.time_start)
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


PAGE_VALUE_LIMIT = 64 * 1024  # a job page shows this much of a params or result; the API has all of it


def pretty(text: str, as_json: bool = True) -> str:
    """JSON indented for reading (a JSON value of any kind when `as_json`; else only what looks like an
    object or a list); a text as it is. A long value is cut for the page, saying so."""
    if len(text) > PAGE_VALUE_LIMIT:
        return text[:PAGE_VALUE_LIMIT] + f"\n... [{len(text) - PAGE_VALUE_LIMIT} more characters: download it]"
    stripped = text.strip()
    if as_json and stripped[:1] in ("{", "["):
        try:
            return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return text


def outputs(text: str) -> list[str]:
    """The output texts of a result that holds programs' output (`script.run` gives a JSON list of
    {"exit_code", "output"}), so the page shows them as text, not as a JSON string; [] otherwise."""
    stripped = text.strip()
    if not stripped.startswith("[") or len(text) > PAGE_VALUE_LIMIT:
        return []
    try:
        results = json.loads(stripped)
    except ValueError:
        return []
    found = [r["output"] for r in results if isinstance(r, dict) and isinstance(r.get("output"), str)]
    return found if found and len(found) == len(results) else []


def size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


SHORT_PARSE_LIMIT = 4096  # a list's cell looks inside a script's JSON output only up to this size


def _texts(text: str) -> list[str] | None:
    """The texts a small JSON result holds (a string, a list of strings: one per action, a script's
    outputs), or None when it holds none (or is too long to look inside)."""
    if len(text) > SHORT_PARSE_LIMIT or text.strip()[:1] not in ("[", '"'):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    return outputs(text) or None


def short(text: str, width: int = 60) -> str:
    """A value on one line for a list's cell: the texts a JSON result holds rather than its JSON, whitespace
    folded, cut to `width` characters (with an ellipsis)."""
    texts = _texts(text)
    one = " ".join((" | ".join(t for t in texts if t.strip()) if texts is not None else text[: 4 * width + 1]).split())
    return one if len(one) <= width else one[: width - 1].rstrip() + "…"


def register_filters(app: Flask) -> None:
    app.jinja_env.filters.update(
        when=when,
        ago=ago,
        duration=duration,
        run_time=run_time,
        pretty=pretty,
        size=size,
        outputs=outputs,
        short=short,
        control=forms.control,
        field_label=forms.label,
    )


def worker_rows(running: Agent) -> list[dict[str, Any]]:
    """The registered worker pools, typed for JSON, with `local` true for this process's own pool."""
    local_id = running.local_pool_id()
    rows = []
    for w in running.get_job_manager().list_workers():
        rows.append(
            {
                "id": w["id"],
                "local": w["id"] == local_id,
                "host": w.get("host", ""),
                "pid": int(w.get("pid", 0) or 0),
                "topics": [t for t in w.get("topics", "").split(",") if t],
                "concurrency": int(w.get("concurrency", 0) or 0),
                "running": [int(j) for j in w.get("running", "").split(",") if j],
                "jobs_done": int(w.get("jobs_done", 0) or 0),
                "last_seen": float(w.get("last_seen", 0) or 0),
                "state": w.get("state", "serving"),
            }
        )
    return rows
