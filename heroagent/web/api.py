"""The JSON API under /api: jobs, queues, workers, health, and the OpenAPI document that describes them.

Each route declares its OpenAPI operation under its route decorator (`documented`); the document is built from
those declarations (`openapi.openapi_document`), and a route without one makes that fail. The bodies' schemas
are named in openapi.py.

A body may be up to 3 x [jobs] max_value_bytes + 64 KiB (web/__init__.py api_body_limit): params of
max_value_bytes fit however JSON escapes them; a larger one is a 413 naming the setting.

Job JSON names each field as a create takes it (`job_id`, `session_key`, `circle_id`, ...; `Job.to_api`), with
the old wire names (`jobid`, `circleid`, ...) as deprecated aliases until 0.2. Errors are
`{"error": "..."}` with 400 (bad input, naming the field), 401, 404, 409 (a transition not allowed)
or 503 (Redis or the job system down); see `errors.py`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import MethodNotAllowed

from heroagent.errors import ServiceError
from heroagent.jobs.errors import InvalidJobError
from heroagent.jobs.model import DEAD
from heroagent.jobs.server.bulk import check_action, check_filters, check_ids
from heroagent.schema.job import HERO_ORIGIN, MAX_LOG_OFFSET
from heroagent.schema.topic import TOPIC_LIMITS
from heroagent.web.apidoc import documented
from heroagent.web.context import current_agent, current_manager, current_schedules
from heroagent.web.events import event_stream_response
from heroagent.web.jobquery import JobQuery
from heroagent.web.openapi import (
    BLUEPRINT,
    BULK_BODY,
    BULK_DONE,
    CREATE_TOPIC,
    DEAD_JOB_FILTERS,
    DEAD_JOB_PAGE,
    EVENT_PARAMS,
    EVENT_STREAM,
    GROUP_SUMMARY,
    JOB_FILTERS,
    JOB_GROUPS,
    JOB_HISTORY,
    JOB_LINKS,
    JOB_LOG,
    JOB_PAGE,
    JOB_TYPES,
    LOG_OFFSET,
    NEW_CHAIN,
    NEW_GROUP,
    QUEUES,
    RETRIED,
    RETRY_DEAD,
    SCHEDULE_LINKS,
    SCHEDULE_LIST,
    SCHEDULE_RUN,
    STREAMS_BUSY,
    TOPIC_ACTION,
    TOPIC_IN_PATH,
    TOPIC_LIMITS_BODY,
    TOPIC_LIMITS_STATE,
    TOPIC_STATE,
    WORKER_DRAIN,
    WORKERS,
    WORKFLOW,
    json_response,
    openapi_document,
    ref,
)
from heroagent.web.present import worker_rows

bp = Blueprint(BLUEPRINT, __name__, url_prefix="/api")
THE_JOB = json_response(ref("Job"), "the job")
THE_SCHEDULE = json_response(ref("Schedule"), "the schedule")
LOOKUP_ERRORS = (401, 404, 503)  # a route naming one job, schedule or worker pool
CHANGE_ERRORS = (401, 404, 409, 503)  # one changing a job, which its status may not allow
LIST_ERRORS = (401, 503)  # a list without filters
DRAIN_STATE = json_response(WORKER_DRAIN, "the pool's new drain state (it acts on it at its next heartbeat)")


@bp.before_request
def one_value_per_parameter() -> None:
    """A query parameter given twice is refused: which value counts would be a guess."""
    for name, values in request.args.lists():
        if len(values) > 1:
            raise InvalidJobError(f"{name[:80]}: given {len(values)} times; give it once")


NO_BODY = object()  # what `parsed_body` gives for an empty body
NOT_JSON = object()  # and for a body that is not JSON


def parsed_body() -> Any:
    """The request's JSON, NO_BODY or NOT_JSON. Deep nesting ([[[[...) is not JSON we take: the
    parser's RecursionError is a bad body, not a 500."""
    raw = request.get_data(cache=True)
    if not raw:
        return NO_BODY
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return NOT_JSON


def json_body() -> dict[str, Any]:
    body = parsed_body()
    if not isinstance(body, dict):
        raise InvalidJobError('body: must be a JSON object, like {"topic": "demo", "params": "!!fake.sleep seconds:1"}')
    return body


def _refuse_hero_origin(spec: Any) -> None:
    origin = spec.get("origin") if isinstance(spec, dict) else None
    if isinstance(origin, str) and origin.startswith(HERO_ORIGIN):
        raise InvalidJobError(
            f"origin: {origin[:80]!r}: origins starting with {HERO_ORIGIN!r} are reserved for jobs the hero intake "
            "takes from a hero queue (their answers go back to that queue); name your own origin"
        )


@bp.post("/jobs")
@documented(
    "Create a job (saved in the history, then queued)",
    body=ref("NewJob"),
    responses={
        201: {**json_response(ref("Job"), "the new job"), "links": JOB_LINKS},
        200: json_response(ref("Job"), "the job created earlier with the same idempotency_key"),
    },
    errors=(400, 401, 409, 413, 503),
)
def create_job() -> tuple[Response, int]:
    body = json_body()
    _refuse_hero_origin(body)
    job, created = current_manager().submit([body])[0]  # checked against schema.job.NEW_JOB
    response = jsonify(job.to_api())
    response.headers["Location"] = f"/api/jobs/{job.job_id}"
    return response, 201 if created else 200  # 200: its idempotency_key named an earlier job


@bp.get("/jobs")
@documented(
    "List jobs, newest first",
    params=JOB_FILTERS,
    responses={200: json_response(JOB_PAGE, "one page of jobs")},
    errors=(400, 401, 503),
)
def list_jobs() -> Response:
    query = JobQuery.from_args(request.args)
    jobs, next_before = query.run(current_manager())
    return jsonify({"jobs": [j.to_api() for j in jobs], "next_before": next_before})


@bp.get("/jobs/<int:job_id>")
@documented("A job's current state", responses={200: THE_JOB}, errors=LOOKUP_ERRORS)
def get_job(job_id: int) -> Response:
    manager = current_manager()
    job = manager.get_job(job_id)
    return jsonify({**job.to_api(), "eta": manager.eta(job)})


@bp.get("/jobs/by-key/<path:key>")
@documented("The job created with this idempotency_key", responses={200: THE_JOB}, errors=LOOKUP_ERRORS)
def get_job_by_key(key: str) -> Response:
    return jsonify(current_manager().get_job_by_idempotency_key(key).to_api())


@bp.get("/jobs/<int:job_id>/result")
@documented(
    "The job's whole result as a download: JSON (application/json) or text (text/plain); 204 when it has none",
    responses={
        200: {"description": "the result", "content": {"application/json": {}, "text/plain": {}}},
        204: {"description": "the job has no result (yet)"},
    },
    errors=LOOKUP_ERRORS,
)
def job_result(job_id: int) -> Response:
    job = current_manager().get_job(job_id)
    if not job.result_text:
        return Response(status=204)
    kind, suffix = ("application/json", "json") if job.result_is_json else ("text/plain; charset=utf-8", "txt")
    response = Response(job.result_text, mimetype=kind.split(";")[0], content_type=kind)
    response.headers["Content-Disposition"] = f'attachment; filename="job-{job_id}-result.{suffix}"'
    return response


@bp.get("/jobs/<int:job_id>/history")
@documented(
    "Every stored version of the job, oldest first",
    responses={200: json_response(JOB_HISTORY, "the timeline")},
    errors=LOOKUP_ERRORS,
)
def job_history(job_id: int) -> Response:
    return jsonify(
        {"job_id": job_id, "jobid": job_id, "history": [j.to_api() for j in current_manager().get_history(job_id)]}
    )


@bp.get("/jobs/<int:job_id>/log")
@documented(
    "The job's log from a byte offset (poll with next_offset to follow it)",
    params=[LOG_OFFSET],
    responses={200: json_response(JOB_LOG, "log text")},
    errors=(400, 401, 404, 503),
)
def job_log(job_id: int) -> Response:
    raw = request.args.get("offset", "0")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_LOG_OFFSET)):
        raise InvalidJobError(f"offset: {raw[:40]!r} must be a whole number from 0 to {MAX_LOG_OFFSET}")
    offset = int(raw)
    text = current_manager().get_log(job_id, offset)
    return jsonify(
        {"job_id": job_id, "jobid": job_id, "offset": offset, "next_offset": offset + len(text.encode()), "log": text}
    )


@bp.post("/jobs/<int:job_id>/cancel")
@documented("Cancel a queued or running job", responses={200: THE_JOB}, errors=CHANGE_ERRORS)
def cancel_job(job_id: int) -> Response:
    return jsonify(current_manager().cancel_job(job_id).to_api())


@bp.post("/jobs/<int:job_id>/suspend")
@documented(
    "Pause a running job (suspending, then suspended once its worker paused it: its processes stopped, or its "
    "actor at ctx.checkpoint()); its timeout clock stops",
    responses={200: THE_JOB},
    errors=CHANGE_ERRORS,
)
def suspend_job(job_id: int) -> Response:
    return jsonify(current_manager().suspend_job(job_id).to_api())


@bp.post("/jobs/<int:job_id>/resume")
@documented("Let a suspended job go on (resuming, then active)", responses={200: THE_JOB}, errors=CHANGE_ERRORS)
def resume_job(job_id: int) -> Response:
    return jsonify(current_manager().resume_job(job_id).to_api())


@bp.post("/jobs/<int:job_id>/retry")
@documented(
    "Run a finished job again as a new attempt",
    responses={200: json_response(ref("Job"), "the job, new again")},
    errors=CHANGE_ERRORS,
)
def retry_job(job_id: int) -> Response:
    return jsonify(current_manager().retry_job(job_id).to_api())


@bp.delete("/jobs/<int:job_id>")
@documented(
    "Delete a job from Redis and the history (cancel a running job first)",
    responses={204: {"description": "deleted"}},
    errors=CHANGE_ERRORS,
)
def delete_job(job_id: int) -> tuple[str, int]:
    current_manager().delete_job(job_id)
    return "", 204


@bp.get("/jobs/dead")
@documented(
    "Dead jobs: failed for good (error or timeout) with no retries left, newest first",
    params=DEAD_JOB_FILTERS,
    responses={200: json_response(DEAD_JOB_PAGE, "one page of dead jobs and how many there are")},
    errors=(400, 401, 503),
)
def dead_jobs() -> Response:
    """Jobs that failed for good (out of retries), newest first; `topic`, `limit` and `before` as for /jobs."""
    query = dataclasses.replace(JobQuery.from_args(request.args), status=",".join(DEAD))
    manager = current_manager()
    jobs, next_before = query.run(manager)
    total = manager.store.count(tuple(DEAD), query.topic or None)
    return jsonify({"jobs": [j.to_api() for j in jobs], "total": total, "next_before": next_before})


@bp.post("/jobs/dead/retry")
@documented(
    "Queue every dead job again (or those of one topic)",
    body=RETRY_DEAD,
    body_required=False,
    responses={200: json_response(RETRIED, "the ids queued again")},
    errors=(400, 401, 503),
)
def retry_dead_jobs() -> Response:
    """Queue every dead job again (of one topic, with {"topic": ...}): once the cause is fixed."""
    body = parsed_body()  # only no body or {} means every dead job: a garbled body is refused, not widened
    body = {} if body is NO_BODY else body
    if not isinstance(body, dict) or set(body) - {"topic"} or not isinstance(body.get("topic", ""), str):
        raise InvalidJobError('body: give {} for every dead job, or {"topic": "name"} for one topic')
    retried = current_manager().retry_dead(topic=body.get("topic") or None)
    return jsonify({"retried": [j.job_id for j in retried], "count": len(retried)})


@bp.post("/jobs/bulk")
@documented(
    "Retry, cancel or delete jobs in bulk, one batch per call: up to 500 ids, or the next 500 jobs a filter "
    "matches (call again with the answer's next_before as the filter's before until it is null); a job whose "
    "state does not allow the action is skipped and counted",
    body=BULK_BODY,
    responses={200: json_response(BULK_DONE, "what this batch did, and where to go on")},
    errors=(400, 401, 503),
)
def bulk_jobs() -> Response:
    body = json_body()
    unknown = sorted(str(k)[:40] for k in set(body) - {"action", "ids", "filter"})
    if unknown:
        raise InvalidJobError(f"{', '.join(unknown)}: unknown field(s); allowed: action, ids, filter")
    if ("ids" in body) == ("filter" in body):
        raise InvalidJobError('give either "ids": [job ids] or "filter": {...} (the jobs list\'s filters)')
    ids, filters = body.get("ids"), body.get("filter")
    if "ids" in body:
        ids = check_ids(ids)  # here too, so a null is refused rather than taken for "no ids"
    else:
        filters = check_filters(filters)
    return jsonify(current_manager().bulk_jobs(check_action(body.get("action")), ids, filters))


@bp.get("/events")
@documented(
    "Job state changes as the history records them, live, as Server-Sent Events; filtered by topic, job, group "
    "and status; resumed after a dropped connection with Last-Event-ID. At most half the server's threads "
    "stream at once: one more stream is a 503 with Retry-After",
    params=EVENT_PARAMS,
    responses={200: EVENT_STREAM, 503: STREAMS_BUSY},
    errors=(400, 401, 403),
)
def events() -> Response | tuple[Response, int]:
    """The live event stream (web/events.py)."""
    return event_stream_response()


@bp.get("/schedules")
@documented(
    "Every schedule (config, run time, upkeep) with next and last run and its jobs",
    responses={200: json_response(SCHEDULE_LIST, "schedules")},
    errors=LIST_ERRORS,
)
def list_schedules() -> Response:
    book = current_schedules()
    return jsonify({"schedules": [info.to_dict() for info in book.list()], "leader": book.leader()})


@bp.post("/schedules")
@documented(
    "Add a schedule (stored as JSON; survives restarts)",
    body=ref("NewSchedule"),
    responses={201: {**json_response(ref("Schedule"), "the new schedule"), "links": SCHEDULE_LINKS}},
    errors=(400, 401, 413, 503),
)
def add_schedule() -> tuple[Response, int]:
    info = current_schedules().add_from(json_body())  # checked against schema.schedule.SCHEDULE
    response = jsonify(info.to_dict())
    response.headers["Location"] = f"/api/schedules/{info.schedule.name}"
    return response, 201


@bp.get("/schedules/<name>")
@documented("One schedule", responses={200: THE_SCHEDULE}, errors=LOOKUP_ERRORS)
def get_schedule(name: str) -> Response:
    return jsonify(current_schedules().get(name).to_dict())


@bp.put("/schedules/<name>")
@documented(
    "Edit a schedule made at run time: the body is its whole new description (a field left out takes its default); "
    "its state (paused, runs, its jobs) stays. Config and upkeep schedules are refused (400)",
    body=ref("ScheduleChange"),
    responses={200: THE_SCHEDULE},
    errors=(400, 401, 404, 413, 503),
)
def replace_schedule(name: str) -> Response:
    return jsonify(current_schedules().replace(name, json_body()).to_dict())


@bp.post("/schedules/<name>/run")
@documented(
    "Run a schedule now: the job it would make, made now and recorded as one of its runs (the next run stays)",
    responses={201: {**json_response(SCHEDULE_RUN, "the job made and the schedule"), "links": JOB_LINKS}},
    errors=(400, 401, 404, 409, 503),
)
def run_schedule(name: str) -> tuple[Response, int]:
    schedules = current_schedules()
    job_id = schedules.run_now(name)
    response = jsonify({"job_id": job_id, "schedule": schedules.get(name).to_dict()})
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return response, 201


@bp.post("/schedules/<name>/pause")
@documented("Pause a schedule: it makes no jobs until resumed", responses={200: THE_SCHEDULE}, errors=LOOKUP_ERRORS)
def pause_schedule(name: str) -> Response:
    return jsonify(current_schedules().pause(name).to_dict())


@bp.post("/schedules/<name>/resume")
@documented("Resume a paused schedule", responses={200: THE_SCHEDULE}, errors=LOOKUP_ERRORS)
def resume_schedule(name: str) -> Response:
    return jsonify(current_schedules().resume(name).to_dict())


@bp.delete("/schedules/<name>")
@documented(
    "Remove a schedule made at run time (config and upkeep ones can only be paused)",
    responses={204: {"description": "removed"}},
    errors=(400, 401, 404, 503),
)
def remove_schedule(name: str) -> tuple[str, int]:
    current_schedules().remove(name)
    return "", 204


@bp.get("/job-types")
@documented(
    "Every job type (actor) with the defaults its jobs get, how many jobs called it, its actions' param schemas "
    "and whether a live worker serves it",
    responses={200: json_response(JOB_TYPES, "job types")},
    errors=LIST_ERRORS,
)
def job_types() -> Response:
    """Every job type with the defaults its jobs get and how many jobs called it."""
    return jsonify({"types": current_manager().job_types()})


def _specs_and_group(body: dict[str, Any], names: tuple[str, ...]) -> tuple[Any, str | None]:
    unknown = sorted(str(k)[:40] for k in body if k not in names)
    if unknown:
        raise InvalidJobError(f"{', '.join(unknown)}: unknown field(s); allowed: {', '.join(names)}")
    group = body.get("group")
    if group is not None and not isinstance(group, str):
        raise InvalidJobError("group: must be a string")
    specs = body.get("jobs")
    for spec in specs if isinstance(specs, list) else []:
        _refuse_hero_origin(spec)
    return specs, group


@bp.post("/chains")
@documented(
    "Create jobs that run one after the other (each waits until the one before has ended done)",
    body=NEW_CHAIN,
    responses={201: json_response(WORKFLOW, "the chain's jobs")},
    errors=(400, 401, 409, 413, 503),
)
def create_chain() -> tuple[Response, int]:
    specs, group = _specs_and_group(json_body(), ("jobs", "group"))
    return jsonify(current_manager().chain(specs, group=group).to_api()), 201


@bp.post("/groups")
@documented(
    "Create jobs that run side by side, and a callback job that runs once when all of them have ended",
    body=NEW_GROUP,
    responses={201: json_response(WORKFLOW, "the group's jobs and its callback")},
    errors=(400, 401, 409, 413, 503),
)
def create_group() -> tuple[Response, int]:
    body = json_body()
    specs, group = _specs_and_group(body, ("jobs", "on_complete", "group"))
    on_complete = body.get("on_complete")
    if on_complete is not None:
        _refuse_hero_origin(on_complete)
    return jsonify(current_manager().group(specs, on_complete=on_complete, group=group).to_api()), 201


@bp.get("/groups/<path:group>")
@documented(
    "A chain's or group's jobs counted by status, and its callback",
    responses={200: json_response(GROUP_SUMMARY, "the counts")},
    errors=LOOKUP_ERRORS,
)
def get_group(group: str) -> Response:
    return jsonify(current_manager().get_group(group))


@bp.get("/job-groups")
@documented(
    "Every group a job names, with its jobs counted by status",
    responses={200: json_response(JOB_GROUPS, "groups")},
    errors=LIST_ERRORS,
)
def job_groups() -> Response:
    """Every group a job names, with its jobs counted by status (and in all)."""
    groups = current_manager().job_groups()
    rows = [{"group": g, "jobs": sum(c.values()), "by_status": c} for g, c in sorted(groups.items())]
    return jsonify({"groups": rows})


@bp.get("/queues")
@documented(
    "Per topic: jobs waiting and in flight", responses={200: json_response(QUEUES, "queues")}, errors=LIST_ERRORS
)
def queues() -> Response:
    manager = current_manager()
    stats = manager.queue_stats()
    limits = manager.topic_limits()
    why = manager.paused_why()
    rows = [
        {
            "topic": topic,
            **figures,
            "paused": bool(figures["paused"]),
            "paused_why": why.get(topic, "") if figures["paused"] else "",
            "draining": bool(figures["draining"]),
            **limits.get(topic, {"max_running": None, "rate": None}),
        }
        for topic, figures in sorted(stats.items())
    ]
    return jsonify({"queues": rows})


@bp.put("/queues/<topic>/limits")
@documented(
    "Limit a topic over every worker: jobs over a limit wait in the queue, never fail (absent or null = no such "
    "limit). A topic that has never had a job is a 404 unless create=true",
    params=[TOPIC_IN_PATH, CREATE_TOPIC],
    body=TOPIC_LIMITS_BODY,
    responses={200: json_response(TOPIC_LIMITS_STATE, "the topic's state and limits after the change")},
    errors=(400, 401, 404, 503),
)
def set_queue_limits(topic: str) -> Response:
    """{max_running, rate}: the topic's limits over every worker (absent or null = no such limit). A topic that
    has never had a job is a 404 unless create=true, as for the other queue actions."""
    body = json_body()
    unknown = sorted(set(body) - set(TOPIC_LIMITS.names()))
    if unknown:
        raise InvalidJobError(f"{', '.join(unknown)[:80]}: unknown field(s); allowed: max_running, rate")
    limits = {"max_running": body.get("max_running"), "rate": body.get("rate")}
    return jsonify(current_manager().set_topic_limits(topic, **limits, create=_flag("create")))


@bp.post("/queues/<topic>/<action>")
@documented(
    "Control a topic: pause, resume (also ends a drain), drain (no new jobs: creates get 409), clear (cancel its "
    "waiting jobs), cancel-all (and ask its running ones to stop). A topic that has never had a job is a 404 "
    "unless create=true",
    params=[TOPIC_IN_PATH, TOPIC_ACTION, CREATE_TOPIC],
    responses={200: json_response(TOPIC_STATE, "the topic's state after the action")},
    errors=(400, 401, 404, 503),
)
def control_queue(topic: str, action: str) -> Response:
    """pause | resume | drain | clear | cancel-all: the topic's state after it (and what was canceled)."""
    if action == "limits":  # the limits resource, which takes PUT: a 405 naming it, not "no such action"
        raise MethodNotAllowed(valid_methods=["PUT"])
    return jsonify(current_manager().control_topic(topic, action, create=_flag("create")))


@bp.delete("/queues/<topic>")
@documented(
    "Remove a topic with nothing left (nothing queued, running or scheduled): its queue, pause, drain and limits "
    "go and it leaves the queue list; its finished jobs stay in the history",
    params=[TOPIC_IN_PATH],
    responses={204: {"description": "removed"}},
    errors=(400, 401, 404, 409, 503),
)
def remove_queue(topic: str) -> tuple[str, int]:
    current_manager().remove_topic(topic)
    return "", 204


def _flag(name: str) -> bool:
    """A true/false query parameter (absent or empty: false); anything else is a 400 naming it."""
    raw = request.args.get(name, "")
    if raw.lower() in ("", "false", "0"):
        return False
    if raw.lower() in ("true", "1"):
        return True
    raise InvalidJobError(f"{name}: {raw[:40]!r} must be true or false")


@bp.get("/workers")
@documented(
    "Worker pools seen in the last 30 s, here and in other processes",
    responses={200: json_response(WORKERS, "workers")},
    errors=LIST_ERRORS,
)
def workers() -> Response:
    return jsonify({"workers": worker_rows(current_agent())})


@bp.post("/workers/<path:worker_id>/drain")
@documented(
    "Drain a worker pool: it claims nothing more and finishes what runs",
    responses={200: DRAIN_STATE},
    errors=LOOKUP_ERRORS,
)
def drain_worker(worker_id: str) -> Response:
    """The pool claims nothing more and finishes what runs (a `heroagent worker` process then exits)."""
    return jsonify(current_manager().drain_worker(worker_id))


@bp.post("/workers/<path:worker_id>/resume")
@documented("A draining worker pool serves again", responses={200: DRAIN_STATE}, errors=LOOKUP_ERRORS)
def resume_worker(worker_id: str) -> Response:
    return jsonify(current_manager().resume_worker(worker_id))


@bp.get("/health")
@documented(
    "Each service's state (no auth needed)",
    security=[],
    responses={
        200: json_response(ref("Health"), "all services up"),
        503: json_response(ref("Health"), "a service is down or a background loop is failing"),
    },
)
def health() -> tuple[Response, int]:
    agent = current_agent()
    states = agent.health()
    healthy = all(state in ("running", "disabled") for state in states.values())
    body = {
        "status": "ok" if healthy else "degraded",
        "services": states,
        "problems": agent.problems(),
        "notices": agent.notices(),
    }
    return jsonify(body), 200 if healthy else 503


@bp.get("/openapi.json")
@documented("This document", responses={200: {"description": "OpenAPI 3.1", "content": {"application/json": {}}}})
def openapi() -> Response:
    """The document, with the job types the live worker pools serve now (none while the job system is off)."""
    try:
        job_types = current_manager().types.get().types
    except (ServiceError, redis.RedisError):
        job_types = {}
    return jsonify(openapi_document(job_types))
