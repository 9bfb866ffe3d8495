"""The dashboard's schedules page and its buttons, and the dead-jobs bulk retry.

Kept apart from pages.py because schedules are their own concern (heroagent/schedules); the page polls
its partial like the others.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from heroagent.schema.filters import FILTER_NAMES
from heroagent.web.context import current_manager, current_schedules
from heroagent.web.present import is_htmx

bp = Blueprint("schedules", __name__)


def schedules_data() -> dict[str, Any]:
    book = current_schedules()
    schedules = book.list()
    return {
        "schedules": schedules,
        "leader": book.leader(),
        "now": time.time(),
        "job_status": (statuses := _recent_statuses(schedules)),
        "failing": {
            info.schedule.name for info in schedules if _newest_finished(info.recent_jobs, statuses) == "error"
        },
    }


def _newest_finished(recent: list[int], statuses: dict[int, str]) -> str:
    """The status of the newest finished job among a schedule's recent ones (newest first), or ''."""
    return next((statuses[i] for i in recent[:8] if statuses.get(i) in ("done", "error", "canceled", "skipped")), "")


def _recent_statuses(schedules: list[Any]) -> dict[int, str]:
    """The status of each schedule's recent jobs (from the history's index: no record is read), so the
    page can say which runs failed and flag a schedule whose newest finished job failed."""
    store = current_manager().store
    statuses: dict[int, str] = {}
    for info in schedules:
        for job_id in info.recent_jobs[:8]:
            status = store.status_of(job_id)
            statuses[job_id] = status.value if status is not None else "new"
    return statuses


@bp.get("/schedules")
def index() -> str:
    return render_template("schedules.html", **schedules_data())


@bp.get("/partials/schedules")
def partial() -> str:
    return render_template("_schedules.html", **schedules_data())


def _after(message: str) -> str | BaseResponse:
    if is_htmx():
        return render_template("_schedules.html", message=message, **schedules_data())
    return redirect(url_for("schedules.index"), code=303)


@bp.post("/schedules/<name>/pause")
def pause(name: str) -> str | BaseResponse:
    current_schedules().pause(name)
    return _after(f"Paused {name}.")


@bp.post("/schedules/<name>/resume")
def resume(name: str) -> str | BaseResponse:
    current_schedules().resume(name)
    return _after(f"Resumed {name}.")


@bp.post("/schedules/<name>/remove")
def remove(name: str) -> str | BaseResponse:
    current_schedules().remove(name)
    return _after(f"Removed {name}.")


@bp.post("/jobs/dead/retry")
def retry_dead() -> BaseResponse:
    """Queue every dead job again (of the topic the jobs page is filtered to, if any)."""
    topic = request.form.get("topic", "").strip() or None
    current_manager().retry_dead(topic=topic)
    target = _jobs_list_shown() or url_for("pages.jobs", status="error", topic=topic)
    if is_htmx():
        return Response("", 200, headers={"HX-Redirect": target})
    return redirect(target, code=303)


def _jobs_list_shown() -> str | None:
    """The jobs list (path and filters) the request was sent from: htmx's HX-Current-URL, else the Referer,
    when it is this dashboard's jobs page (same host); None otherwise. Only the list's filters are kept."""
    jobs_path = url_for("pages.jobs")
    for sent_from in (request.headers.get("HX-Current-URL"), request.referrer):
        if not sent_from:
            continue
        url = urlsplit(sent_from)
        if url.netloc != request.host or url.path != jobs_path:
            continue
        kept = urlencode([(k, v) for k, v in parse_qsl(url.query) if k in FILTER_NAMES and k != "before" and v])
        return jobs_path + (f"?{kept}" if kept else "")
    return None
