"""The dashboard's pages and the htmx partials that keep them live.

Each page renders its partial once inline; the partial then re-fetches itself (`hx-trigger="every
…"`) and swaps in place, so a page follows the appliance without a reload and without any script of
ours. Buttons post with the session's CSRF token (sent by htmx from the `hx-headers` on <body>).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from heroagent.heroscript import HeroScriptError, parse_job
from heroagent.jobs.errors import InvalidJobError, TopicNotEmptyError
from heroagent.jobs.model import DEAD, JobStatus, ParamsType
from heroagent.jobs.server.bulk import count_matching
from heroagent.schema.job import NEW_JOB
from heroagent.web import forms
from heroagent.web.charts import throughput_svg, utilisation_svg
from heroagent.web.context import current_agent, current_manager
from heroagent.web.jobquery import JobQuery
from heroagent.web.present import is_htmx, worker_rows
from heroagent.web.share_pages import SCRIPT_TOPIC
from heroagent.web.value_pages import following, log_view
from heroagent.web.values import job_values
from heroagent.webdav.share import SCRIPTS_FOLDER, list_files, script_job_params

bp = Blueprint("pages", __name__)

MATCHING_CAP = 100_000  # a filtered list counts the jobs it matches up to this many (a label filter reads ids)


# ------------------------------------------------------------------ overview


def overview_data() -> dict[str, Any]:
    running = current_agent()
    jm = current_manager()
    states = running.health()
    data: dict[str, Any] = {"states": states, "addresses": running.addresses(), "now": time.time()}
    data["counts"] = jm.store.count_by_status()
    data["chart"] = throughput_svg(jm.stats.throughput())
    data["utilisation"] = utilisation_svg(jm.stats.utilisation())
    data["redis_up"] = states.get("redis") == "running"
    if data["redis_up"]:
        data["queues"] = sorted(jm.queue_stats().items())
        data["limits"] = jm.topic_limits()
        data["paused_why"] = jm.paused_why()
        data["workers"] = worker_rows(running)
        data["redis"] = running.redis_facts()
    return data


@bp.get("/")
def overview() -> str:
    return render_template("overview.html", **overview_data())


@bp.get("/partials/overview")
def overview_partial() -> str:
    return render_template("_overview.html", **overview_data())


QUEUE_DONE = {
    "pause": "Paused",
    "resume": "Resumed",
    "drain": "Draining",
    "clear": "Cleared",
    "cancel-all": "Canceled all of",
}


@bp.post("/queues/<topic>/remove")
def remove_queue(topic: str) -> str | tuple[str, int] | BaseResponse:
    """An empty topic's Remove button (JobManager.remove_topic): a topic that got jobs meanwhile stays, and the
    overview says why (in its partial, as htmx swaps no error page in)."""
    try:
        current_manager().remove_topic(topic)
    except TopicNotEmptyError as exc:
        if is_htmx():
            return render_template("_overview.html", problem=str(exc), **overview_data())
        raise
    if is_htmx():
        return render_template("_overview.html", message=f"Removed {topic}.", **overview_data())
    return redirect(url_for("pages.overview"), code=303)


@bp.post("/queues/<topic>/<action>")
def queue_action(topic: str, action: str) -> str | BaseResponse:
    """The queue rows' buttons: pause, resume, drain, clear, cancel-all (see JobManager.control_topic)."""
    result = current_manager().control_topic(topic, action)
    message = f"{QUEUE_DONE.get(action, action)} {topic}."
    if result.get("canceled") or result.get("stopping"):
        message += (
            f" {result.get('canceled', 0)} waiting job(s) canceled, {result.get('stopping', 0)} running asked to stop."
        )
    if is_htmx():
        return render_template("_overview.html", message=message, **overview_data())
    return redirect(url_for("pages.overview"), code=303)


@bp.post("/workers/<path:worker_id>/<any(drain, resume):action>")
def worker_action(worker_id: str, action: str) -> str | BaseResponse:
    """The worker rows' buttons: drain a pool (no new jobs, finish what runs), or let it serve again."""
    jm = current_manager()
    if action == "drain":
        jm.drain_worker(worker_id)
        message = f"Draining {worker_id}: it takes no new job and finishes what runs."
    else:
        jm.resume_worker(worker_id)
        message = f"{worker_id} serves again."
    if is_htmx():
        return render_template("_overview.html", message=message, **overview_data())
    return redirect(url_for("pages.overview"), code=303)


# ------------------------------------------------------------------ jobs list


def jobs_data() -> dict[str, Any]:
    query = JobQuery.from_args(request.args)
    jm = current_manager()
    jobs, next_before = query.run(jm)
    topic = query.topic or None
    matching = None if query.text else count_matching(jm, query.args(), cap=MATCHING_CAP)
    return {
        "back": urlencode(query.args(before=None)),
        "dead_status": ",".join(DEAD),
        "query": query,
        "jobs": jobs,
        "next_before": next_before,
        "matching": matching,
        "statuses": [s.value for s in JobStatus],
        "topics": jm.topics(),
        "dead_count": jm.store.count(tuple(DEAD), topic),
    }


@bp.get("/jobs")
def jobs() -> str | BaseResponse:
    given = list(request.args.items(multi=True))
    if any(value == "" for _, value in given):  # a GET form sends its empty fields too: the URL drops them
        kept = urlencode([(name, value) for name, value in given if value != ""])
        return redirect(request.path + (f"?{kept}" if kept else ""))
    return render_template("jobs.html", **jobs_data())


@bp.get("/partials/jobs")
def jobs_partial() -> str:
    return render_template("_jobs_table.html", **jobs_data())


# ------------------------------------------------------------------ one job


MAX_CHILDREN_SHOWN = 50  # the jobs waiting for one job that its page links


def job_data(job_id: int, notice: str = "") -> dict[str, Any]:
    jm = current_manager()
    job = jm.get_job(job_id)
    history = jm.get_history(job_id)
    recorded = jm.store.status_of(job_id)
    # Keep polling until the final state is in the history too, so the timeline ends complete.
    live = not (job.terminal and recorded is not None and recorded.terminal)
    return {
        "job": job,
        "history": history,
        "values": job_values(job),
        "live": live,
        "notice": notice,
        "suspendable": job.status is not JobStatus.ACTIVE or not jm.why_not_suspendable(job),
        "eta": jm.eta(job),
        "children": jm.children(job_id, limit=MAX_CHILDREN_SHOWN + 1),
    }


@bp.get("/jobs/<int:job_id>")
def job(job_id: int) -> str:
    """The job page: its partial (refreshed while the job runs) and its log (followed by its own element)."""
    data = job_data(job_id)
    log = log_view(job_id)
    return render_template("job.html", log=log, log_following=following(job_id, log), **data)


@bp.get("/partials/jobs/<int:job_id>")
def job_partial(job_id: int) -> str:
    return render_template("_job.html", **job_data(job_id))


def _after_action(job_id: int, notice: str, *, follow_from: int | None = None) -> str | BaseResponse:
    """The job's partial for htmx (else back to its page). `follow_from` (a retry): the page's log follower,
    stopped when the job ended, starts again (out of band) from that byte, the log's end before the retry."""
    if is_htmx():
        data = job_data(job_id, notice)
        if follow_from is not None and data["job"].log:
            data["log_follow_from"] = follow_from
        return render_template("_job.html", **data)
    return redirect(url_for("pages.job", job_id=job_id))


@bp.post("/jobs/<int:job_id>/cancel")
def cancel(job_id: int) -> str | BaseResponse:
    job = current_manager().cancel_job(job_id)
    return _after_action(job_id, "Canceled." if job.status is JobStatus.CANCELED else "Cancel requested.")


@bp.post("/jobs/<int:job_id>/suspend")
def suspend(job_id: int) -> str | BaseResponse:
    current_manager().suspend_job(job_id)
    return _after_action(job_id, "Suspend requested: its worker pauses it within a few seconds.")


@bp.post("/jobs/<int:job_id>/resume")
def resume(job_id: int) -> str | BaseResponse:
    current_manager().resume_job(job_id)
    return _after_action(job_id, "Resume requested.")


@bp.post("/jobs/<int:job_id>/retry")
def retry(job_id: int) -> str | BaseResponse:
    shown = log_view(job_id).size  # what the page has: the new attempt's lines come after it
    current_manager().retry_job(job_id)
    return _after_action(job_id, "Queued again as a new attempt.", follow_from=shown)


@bp.post("/jobs/<int:job_id>/delete")
def delete(job_id: int) -> BaseResponse:
    current_manager().delete_job(job_id)
    target = url_for("pages.jobs")
    if is_htmx():
        response = Response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


# ------------------------------------------------------------------ submit


def _scripts() -> list[str]:
    root = current_agent().config.share_root
    return [f.path for f in list_files(root, SCRIPTS_FOLDER)] if root else []


# The submit form's fields beyond topic, params and its type: generated from the rules of a new job
# (schema/job.py NEW_JOB), so a field added to a job is in the form too. `origin` is the hero intake's.
FORM_FIELDS = tuple(f for f in NEW_JOB.fields if f.name not in ("topic", "params", "params_type", "origin"))
FIRST_FIELDS = ("timeout", "delay", "max_retries", "priority", "retry_delay", "log")  # shown open; the rest folded


@bp.route("/submit", methods=["GET", "POST"])
def submit() -> str | tuple[str, int] | BaseResponse:
    form: dict[str, Any] = {f.name: "" for f in FORM_FIELDS}
    form.update(
        topic="default",
        params_type="heroscript",
        params="",
        log=True,
        script=request.args.get("script", ""),
        args="",
    )
    context = {
        "form": form,
        "errors": {},
        "params_types": [p.value for p in ParamsType],
        "scripts": _scripts(),
        "first_fields": [f for f in FORM_FIELDS if f.name in FIRST_FIELDS],
        "more_fields": [f for f in FORM_FIELDS if f.name not in FIRST_FIELDS],
    }
    if request.method == "GET":
        return render_template("submit.html", **context)
    form.update(topic=request.form.get("topic", "").strip(), params_type=request.form.get("params_type", "").strip())
    form.update(params=request.form.get("params", ""), script=request.form.get("script", ""))
    form.update(args=request.form.get("args", ""))
    spec: dict[str, Any] = {"topic": form["topic"], "params_type": form["params_type"]}
    values, shown, errors = forms.read(FORM_FIELDS, request.form)
    form.update(shown)
    spec.update(values)
    if form["script"]:
        if form["params"].strip():
            errors["params"] = "leave params empty when you pick a script (or pick no script)"
        elif form["script"] not in context["scripts"]:
            errors["script"] = f"{form['script']!r} is not in the share's {SCRIPTS_FOLDER}/ folder"
        spec.update(params=script_job_params(form["script"], form["args"]), params_type="heroscript")
        if form["topic"] in ("", "default"):
            spec["topic"] = SCRIPT_TOPIC
    else:
        spec["params"] = form["params"]
        if not form["params"].strip():
            errors["params"] = "must not be empty: write the job's params, or pick a script"
    # Every field's problem at once: the schema's rules per field, then the HeroScript itself.
    errors.update({k: v for k, v in NEW_JOB.errors(spec).items() if k not in errors})
    if "params" not in errors and spec.get("params_type") == "heroscript" and spec.get("params"):
        try:
            parse_job(spec["params"])
        except HeroScriptError as exc:
            errors["params"] = str(exc)
    if not errors:
        try:
            job = current_manager().create_jobs([spec])[0]
        except InvalidJobError as exc:
            field, message = forms.error_field(str(exc), NEW_JOB.names())
            errors[field or "form"] = message
        else:
            return redirect(url_for("pages.job", job_id=job.job_id), code=303)
    context["errors"] = errors
    return render_template("submit.html", **context), 400
