"""The dashboard's schedules: the list and its buttons, a schedule's page (its description and its last runs),
the Add and Edit forms (web/schedule_form.py), Run now; and the dead-jobs bulk retry.

Kept apart from pages.py because schedules are their own concern (heroagent/schedules); the list polls its
partial like the other pages. Every change goes through `Schedules`, the operations the JSON API and the CLI
use, so the page can do nothing they would refuse.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint, Response, flash, get_flashed_messages, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from heroagent.errors import NotFoundError
from heroagent.schedules.book import ScheduleInfo
from heroagent.schema.filters import FILTER_NAMES
from heroagent.schema.schedule import ScheduleError
from heroagent.web.context import current_agent, current_manager, current_schedules
from heroagent.web.present import is_htmx
from heroagent.web.schedule_form import ScheduleForm

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


def _after(message: str, name: str = "") -> str | BaseResponse:
    """The list's partial for htmx; else back to the page the form was on (a schedule's page says `back`)."""
    if is_htmx():
        return render_template("_schedules.html", message=message, **schedules_data())
    if name and request.form.get("back") == "schedule":
        flash(message)
        return redirect(url_for("schedules.show", name=name), code=303)
    return redirect(url_for("schedules.index"), code=303)


@bp.route("/schedules/new", methods=["GET", "POST"])
def new() -> str | tuple[str, int] | BaseResponse:
    """Add a schedule: the form generated from its description; saved by `Schedules.add_from`."""
    form = ScheduleForm.blank()
    if request.method == "GET":
        return render_template("schedule_form.html", form=form)
    schedules = current_schedules()
    if form.submit(request.form, schedules.add_from):
        name = form.shown["name"]
        flash(f"Added {name}.")
        return redirect(url_for("schedules.show", name=name), code=303)
    return render_template("schedule_form.html", form=form), 400


@bp.get("/schedules/<name>")
def show(name: str) -> str:
    """One schedule: what it makes and when, its buttons (Edit only for run-time ones), and its last runs."""
    info = current_schedules().get(name)
    return render_template(
        "schedule.html",
        info=info,
        runs=last_runs(info),
        now=time.time(),
        config_file=str(current_agent().config.source or "the config file"),
        notices=get_flashed_messages(),
    )


def last_runs(info: ScheduleInfo) -> list[dict[str, Any]]:
    """The jobs the schedule made (`hero:schedule:jobs:<name>`, newest first) with their outcomes: each job's
    row of the history's index (one query for them all, no record read); a job not there yet is asked of the
    job system (it may still be new), one not there either has been deleted."""
    jm = current_manager()
    rows = jm.store.index.rows(info.recent_jobs)
    out: list[dict[str, Any]] = []
    for job_id in info.recent_jobs:
        row = rows.get(job_id)
        if row is not None:
            out.append({"id": job_id, "status": row.status, "created": row.time_created, "ended": row.time_end})
            continue
        try:
            job = jm.get_job(job_id)
        except NotFoundError:
            out.append({"id": job_id, "status": "deleted", "created": 0.0, "ended": 0.0})
        else:
            out.append({"id": job_id, "status": job.status.value, "created": job.time_created, "ended": job.time_end})
    return out


@bp.route("/schedules/<name>/edit", methods=["GET", "POST"])
def edit(name: str) -> str | tuple[str, int] | BaseResponse:
    """Edit a run-time schedule (config and upkeep ones are read-only here: their source is the place to edit
    them). Its name and paused state stay; its runs and jobs are kept (`Schedules.replace`)."""
    schedules = current_schedules()
    info = schedules.get(name)
    if info.schedule.source != "runtime":
        where = "the config file" if info.schedule.source == "config" else "the appliance's upkeep"
        raise ScheduleError(f"schedule {name!r} comes from {where}: it is read-only here; pause it or run it instead")
    form = ScheduleForm.of(info)
    if request.method == "GET":
        return render_template("schedule_form.html", form=form)
    enabled = info.schedule.enabled
    if form.submit(request.form, lambda values: schedules.replace(name, {**values, "enabled": enabled})):
        flash(f"Saved {name}.")
        return redirect(url_for("schedules.show", name=name), code=303)
    return render_template("schedule_form.html", form=form), 400


@bp.post("/schedules/<name>/run")
def run(name: str) -> str | BaseResponse:
    """Run now: the job the schedule would make, made now and counted among its runs (`Schedules.run_now`)."""
    job_id = current_schedules().run_now(name)
    message = f"Ran {name} now: job #{job_id}."
    if is_htmx():
        return render_template("_schedules.html", message=message, **schedules_data())
    flash(message)
    return redirect(url_for("schedules.show", name=name), code=303)


@bp.post("/schedules/<name>/pause")
def pause(name: str) -> str | BaseResponse:
    current_schedules().pause(name)
    return _after(f"Paused {name}.", name)


@bp.post("/schedules/<name>/resume")
def resume(name: str) -> str | BaseResponse:
    current_schedules().resume(name)
    return _after(f"Resumed {name}.", name)


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
