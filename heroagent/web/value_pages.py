"""A job's values beyond what its page shows: each whole value as a download, and its log followed line by line.

The job page shows at most 64 KiB of a value (web/values.py) and of its log; `download` serves all of it as a
file (auth as the pages: a session, not the API's token). The log is followed by its own element (the
follower): it asks for the lines after the byte it has read up to, its answer appends them to the page's log
(an htmx out-of-band swap) and puts a new follower in its place, until the job has ended and every line is
shown. A log that grew by more than a page between two asks is shown again from its last 64 KiB, so the page
never holds more than what it can show.
"""

from __future__ import annotations

import redis
from flask import Blueprint, Response, render_template, request, send_file

from heroagent.errors import InvalidInputError, NotFoundError
from heroagent.jobs.live.joblog import LogPart
from heroagent.schema.job import MAX_LOG_OFFSET
from heroagent.web.context import current_manager
from heroagent.web.values import PAGE_VALUE_LIMIT

bp = Blueprint("values", __name__)

LOG_PAGE_BYTES = PAGE_VALUE_LIMIT  # the log a page shows at most, from a line's start
SUFFIXES = {"heroscript": "hero", "rhaiscript": "rhai", "openrpc": "json", "json": "json", "ai": "txt"}


@bp.get("/jobs/<int:job_id>/download/<any(params, result, error):what>")
def download(job_id: int, what: str) -> Response:
    """The job's whole params, result or error as a file (JSON as application/json, the rest as text)."""
    job = current_manager().get_job(job_id)
    if what == "params":
        text, suffix = job.params, SUFFIXES.get(job.params_type.value, "txt")
    elif what == "result":
        text, suffix = job.result_text, "json" if job.result_is_json else "txt"
    else:
        text, suffix = job.error, "txt"
    if not text:
        raise NotFoundError(f"job {job_id} has no {what} (yet)")
    mimetype = "application/json" if suffix == "json" else "text/plain"
    response = Response(text, mimetype=mimetype, content_type=f"{mimetype}; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="job-{job_id}-{what}.{suffix}"'
    return response


@bp.get("/jobs/<int:job_id>/download/log")
def download_log(job_id: int) -> Response:
    """The job's whole log file (lines remote workers left in Redis are filed first)."""
    jm = current_manager()
    jm.get_log_lines(job_id, 0)  # NotFoundError for no such job; files the remote lines
    path = jm.logs.path(job_id)
    if not path.is_file():
        raise NotFoundError(f"job {job_id} has no log (yet)")
    return send_file(path, mimetype="text/plain", as_attachment=True, download_name=f"job-{job_id}.log")


def log_view(job_id: int) -> LogPart:
    """The log a job page starts with: its last lines in LOG_PAGE_BYTES, from a line's start."""
    return current_manager().get_log_lines(job_id, LOG_PAGE_BYTES)


def following(job_id: int, part: LogPart) -> bool:
    """Whether the page keeps asking for lines: until the job has ended (its final state recorded) and the
    page has every line. The history's index answers while the job runs; at the end, Redis is asked too: a
    job retried a moment ago is back there before the history has recorded it."""
    jm = current_manager()
    recorded = jm.store.status_of(job_id)
    if recorded is None or not recorded.terminal or part.end < part.size:
        return True
    topic = jm.store.topic_of(job_id)
    try:
        live = jm.queue.get(topic, job_id) if topic else None
    except redis.RedisError:  # Redis away: the history's word stands, and the page still works
        return False
    return live is not None and not live.terminal


@bp.get("/partials/jobs/<int:job_id>/log")
def follow_log(job_id: int) -> str:
    """The follower's answer: the lines after byte `from` (appended to the page's log), or the last 64 KiB again
    when more than that came meanwhile (in place of the page's log), and the next follower, or none."""
    raw = request.args.get("from", "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_LOG_OFFSET)):
        raise InvalidInputError(f"from: {raw[:40]!r} must be a whole number from 0 to {MAX_LOG_OFFSET}")
    jm = current_manager()
    part = jm.get_log_lines(job_id, LOG_PAGE_BYTES, int(raw))
    replace = part.size - part.start > LOG_PAGE_BYTES
    if replace:
        part = log_view(job_id)
    return render_template(
        "_log_follow.html", job_id=job_id, part=part, replace=replace, following=following(job_id, part), answer=True
    )
