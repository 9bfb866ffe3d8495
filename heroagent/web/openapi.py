"""The OpenAPI 3.1 document of the JSON API (served at /api/openapi.json; a test checks it against the routes)."""

from __future__ import annotations

from typing import Any

from heroagent import __version__
from heroagent.jobs.model import JobStatus, ParamsType
from heroagent.jobs.server.manager import TOPIC_ACTIONS
from heroagent.schema.job import MAX_LOG_OFFSET, NEW_JOB
from heroagent.schema.schedule import SCHEDULE
from heroagent.schema.topic import TOPIC_LIMITS

JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "jobid": {"type": "integer"},
        "topic": {"type": "string"},
        "params": {"type": "string"},
        "params_type": {"type": "string", "enum": [p.value for p in ParamsType]},
        "sessionkey": {"type": "string"},
        "circleid": {"type": "string"},
        "status": {"type": "string", "enum": [s.value for s in JobStatus]},
        "timeout": {"type": "number"},
        "time_created": {"type": "number"},
        "time_scheduled": {"type": "number"},
        "time_start": {"type": "number"},
        "time_end": {"type": "number"},
        "error": {"type": "string"},
        "result": {"type": "string"},
        "log": {"type": "boolean"},
        "retries": {"type": "integer"},
        "max_retries": {"type": "integer"},
        "retry_delay": {"type": "number"},
        "attempts": {"type": "integer"},
        "worker": {"type": "string"},
        "idempotencykey": {"type": "string"},
        "version": {"type": "integer", "description": "which state of the job this is (1 = created)"},
        "origin": {"type": "string"},
        "tenantid": {"type": "string"},
        "userid": {"type": "string"},
        "group": {"type": "string"},
        "progress": {"type": "number", "minimum": 0, "maximum": 1},
        "progress_details": {"type": "string"},
    },
    "required": ["jobid", "topic", "params", "params_type", "status"],
}

NEW_JOB_SCHEMA: dict[str, Any] = NEW_JOB.json_schema()  # generated from the rules the manager enforces
NEW_SCHEDULE_SCHEMA: dict[str, Any] = SCHEDULE.json_schema()
NEW_SCHEDULE_SCHEMA["required"] = ["name", "topic", "params"]  # every run-time schedule makes jobs
_SCHEDULE_FIELDS: dict[str, Any] = NEW_SCHEDULE_SCHEMA["properties"]
SCHEDULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **_SCHEDULE_FIELDS,
        "source": {"type": "string", "enum": ["config", "runtime", "upkeep"]},
        "paused": {"type": "boolean"},
        "next_run": {"type": ["number", "null"]},
        "last_run": {"type": ["number", "null"]},
        "runs": {"type": "integer"},
        "last_job": {"type": ["integer", "null"]},
        "last_error": {"type": "string"},
        "last_result": {"type": "string"},
        "recent_jobs": {"type": "array", "items": {"type": "integer"}},
        "trigger": {"type": "string"},
    },
    "required": ["name", "source", "paused", "next_run", "last_run", "runs", "recent_jobs"],
}
SCHEDULE_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "bad input; the message names the field",
        401: "missing or wrong bearer token",
        404: "no such job or schedule",
        409: "the job's status does not allow this, or its topic is draining (takes no new jobs), or the "
        "idempotency_key names a job deleted meanwhile",
        503: "Redis or the job system is down",
    }
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}
LOG_OFFSET = {"type": "integer", "minimum": 0, "maximum": MAX_LOG_OFFSET}
# A topic in a path: the same rule as a new job's topic (schema.job), so a client can check it first.
TOPIC_IN_PATH = {"name": "topic", "in": "path", "required": True, "schema": NEW_JOB_SCHEMA["properties"]["topic"]}


def _links(param: str, field: str, routes: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """OpenAPI links: what a new job's id or schedule's name opens (clients and API testers follow them
    to real objects). `routes`: link name -> (path, method); `field`: the response's field for `param`."""
    return {
        name: {
            "operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method,
            "parameters": {param: f"$response.body#/{field}"},
        }
        for name, (path, method) in routes.items()
    }


JOB_LINKS = _links(
    "job_id",
    "jobid",
    {
        "GetJob": ("/api/jobs/{job_id}", "get"),
        "GetHistory": ("/api/jobs/{job_id}/history", "get"),
        "GetLog": ("/api/jobs/{job_id}/log", "get"),
        "CancelJob": ("/api/jobs/{job_id}/cancel", "post"),
        "SuspendJob": ("/api/jobs/{job_id}/suspend", "post"),
        "ResumeJob": ("/api/jobs/{job_id}/resume", "post"),
        "RetryJob": ("/api/jobs/{job_id}/retry", "post"),
        "DeleteJob": ("/api/jobs/{job_id}", "delete"),
    },
)
SCHEDULE_LINKS = _links(
    "name",
    "name",
    {
        "GetSchedule": ("/api/schedules/{name}", "get"),
        "PauseSchedule": ("/api/schedules/{name}/pause", "post"),
        "ResumeSchedule": ("/api/schedules/{name}/resume", "post"),
        "DeleteSchedule": ("/api/schedules/{name}", "delete"),
    },
)


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def openapi_document() -> dict[str, Any]:
    job_ops = _errors(401, 404, 503)
    schedule_ops = _errors(401, 404, 503)
    return {
        "openapi": "3.1.0",
        "info": {"title": "HeroAgent API", "version": __version__},
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "[ui] api_token"}},
            "schemas": {
                "Job": JOB_SCHEMA,
                "NewJob": NEW_JOB_SCHEMA,
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
                "Health": _health_schema(),
                "Schedule": SCHEDULE_SCHEMA,
                "NewSchedule": NEW_SCHEDULE_SCHEMA,
            },
        },
        "paths": {
            "/api/jobs": {
                "post": {
                    "summary": "Create a job (saved in the history, then queued)",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewJob")}}},
                    "responses": {
                        "201": {**_json(_ref("Job"), "the new job"), "links": JOB_LINKS},
                        "200": _json(_ref("Job"), "the job created earlier with the same idempotency_key"),
                        **_errors(400, 401, 409, 503),
                    },
                },
                "get": {
                    "summary": "List jobs, newest first",
                    "parameters": [
                        _query("status", {"type": "string", "enum": [s.value for s in JobStatus]}, "only this status"),
                        _query("topic", {"type": "string"}, "only this topic"),
                        _query("circle_id", {"type": "string"}, "only jobs of this circle"),
                        _query("tenant_id", {"type": "string"}, "only jobs of this tenant"),
                        _query("user_id", {"type": "string"}, "only jobs of this user"),
                        _query("group", {"type": "string"}, "only jobs of this group"),
                        _query("q", {"type": "string"}, "text in the id, params, result or error"),
                        _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "page size"),
                        _query("before", {"type": "integer"}, "page: only jobs with a smaller id (next_before)"),
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "jobs": {"type": "array", "items": _ref("Job")},
                                    "next_before": {"type": ["integer", "null"]},
                                },
                                "required": ["jobs", "next_before"],
                            },
                            "one page of jobs",
                        ),
                        **_errors(400, 401, 503),
                    },
                },
            },
            "/api/jobs/{job_id}": {
                "get": {
                    "summary": "A job's current state",
                    "parameters": [JOB_ID],
                    "responses": {"200": _json(_ref("Job"), "the job"), **job_ops},
                },
                "delete": {
                    "summary": "Delete a job from Redis and the history (cancel a running job first)",
                    "parameters": [JOB_ID],
                    "responses": {"204": {"description": "deleted"}, **_errors(401, 404, 409, 503)},
                },
            },
            "/api/jobs/{job_id}/history": {
                "get": {
                    "summary": "Every stored version of the job, oldest first",
                    "parameters": [JOB_ID],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "jobid": {"type": "integer"},
                                    "history": {"type": "array", "items": _ref("Job")},
                                },
                            },
                            "the timeline",
                        ),
                        **job_ops,
                    },
                }
            },
            "/api/jobs/{job_id}/log": {
                "get": {
                    "summary": "The job's log from a byte offset (poll with next_offset to follow it)",
                    "parameters": [JOB_ID, _query("offset", LOG_OFFSET, "byte offset")],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "jobid": {"type": "integer"},
                                    "offset": {"type": "integer"},
                                    "next_offset": {"type": "integer"},
                                    "log": {"type": "string"},
                                },
                            },
                            "log text",
                        ),
                        **_errors(400, 401, 404, 503),
                    },
                }
            },
            "/api/jobs/{job_id}/cancel": {
                "post": {
                    "summary": "Cancel a queued or running job",
                    "parameters": [JOB_ID],
                    "responses": {"200": _json(_ref("Job"), "the job"), **_errors(401, 404, 409, 503)},
                }
            },
            "/api/jobs/{job_id}/suspend": {
                "post": {
                    "summary": "Pause a running job (suspending, then suspended once its worker paused it: its "
                    "processes stopped, or its actor at ctx.checkpoint()); its timeout clock stops",
                    "parameters": [JOB_ID],
                    "responses": {"200": _json(_ref("Job"), "the job"), **_errors(401, 404, 409, 503)},
                }
            },
            "/api/jobs/{job_id}/resume": {
                "post": {
                    "summary": "Let a suspended job go on (resuming, then active)",
                    "parameters": [JOB_ID],
                    "responses": {"200": _json(_ref("Job"), "the job"), **_errors(401, 404, 409, 503)},
                }
            },
            "/api/jobs/{job_id}/retry": {
                "post": {
                    "summary": "Run a finished job again as a new attempt",
                    "parameters": [JOB_ID],
                    "responses": {"200": _json(_ref("Job"), "the job, new again"), **_errors(401, 404, 409, 503)},
                }
            },
            "/api/job-types": {
                "get": {
                    "summary": "Every job type (actor) with the defaults its jobs get and how many jobs called it",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "types": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "name": {"type": "string"},
                                                "defaults": {"type": "object"},
                                                "own_defaults": {"type": "object"},
                                                "jobs": {"type": "integer"},
                                            },
                                        },
                                    }
                                },
                            },
                            "job types",
                        ),
                        **_errors(401, 503),
                    },
                }
            },
            "/api/job-groups": {
                "get": {
                    "summary": "Every group a job names, with its jobs counted by status",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "groups": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "group": {"type": "string"},
                                                "jobs": {"type": "integer"},
                                                "by_status": {"type": "object"},
                                            },
                                        },
                                    }
                                },
                            },
                            "groups",
                        ),
                        **_errors(401, 503),
                    },
                }
            },
            "/api/queues": {
                "get": {
                    "summary": "Per topic: jobs waiting and in flight",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "queues": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "topic": {"type": "string"},
                                                "queued": {"type": "integer"},
                                                "inflight": {"type": "integer"},
                                                "scheduled": {"type": "integer"},
                                                "paused": {"type": "boolean"},
                                                "draining": {"type": "boolean"},
                                                "max_running": {"type": ["integer", "null"]},
                                                "rate": {"type": ["string", "null"]},
                                            },
                                        },
                                    }
                                },
                            },
                            "queues",
                        ),
                        **_errors(401, 503),
                    },
                }
            },
            "/api/queues/{topic}/{action}": {
                "post": {
                    "summary": "Control a topic: pause, resume (also ends a drain), drain (no new jobs: creates get "
                    "409), clear (cancel its waiting jobs), cancel-all (and ask its running ones to stop)",
                    "parameters": [
                        TOPIC_IN_PATH,
                        {
                            "name": "action",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(TOPIC_ACTIONS)},
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "topic": {"type": "string"},
                                    "paused": {"type": "boolean"},
                                    "draining": {"type": "boolean"},
                                    "canceled": {"type": "integer"},
                                    "stopping": {"type": "integer"},
                                },
                                "required": ["topic", "paused", "draining"],
                            },
                            "the topic's state after the action",
                        ),
                        **_errors(400, 401, 503),
                    },
                }
            },
            "/api/queues/{topic}/limits": {
                "put": {
                    "summary": "Limit a topic over every worker: jobs over a limit wait in the queue, never fail "
                    "(absent or null = no such limit)",
                    "parameters": [TOPIC_IN_PATH],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": TOPIC_LIMITS.json_schema()}},
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "topic": {"type": "string"},
                                    "paused": {"type": "boolean"},
                                    "draining": {"type": "boolean"},
                                    "max_running": {"type": ["integer", "null"]},
                                    "rate": {"type": ["string", "null"]},
                                },
                            },
                            "the topic's state and limits after the change",
                        ),
                        **_errors(400, 401, 503),
                    },
                }
            },
            "/api/workers": {
                "get": {
                    "summary": "Worker pools seen in the last 30 s, here and in other processes",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "workers": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "id": {"type": "string"},
                                                "local": {"type": "boolean"},
                                                "host": {"type": "string"},
                                                "pid": {"type": "integer"},
                                                "topics": {"type": "array", "items": {"type": "string"}},
                                                "concurrency": {"type": "integer"},
                                                "running": {"type": "array", "items": {"type": "integer"}},
                                                "jobs_done": {"type": "integer"},
                                                "last_seen": {"type": "number"},
                                                "state": {"type": "string", "enum": ["serving", "draining", "drained"]},
                                            },
                                        },
                                    }
                                },
                            },
                            "workers",
                        ),
                        **_errors(401, 503),
                    },
                }
            },
            **{
                f"/api/workers/{{worker_id}}/{action}": {
                    "post": {
                        "summary": summary,
                        "parameters": [
                            {"name": "worker_id", "in": "path", "required": True, "schema": {"type": "string"}}
                        ],
                        "responses": {
                            "200": _json(
                                {
                                    "type": "object",
                                    "properties": {"id": {"type": "string"}, "draining": {"type": "string"}},
                                },
                                "the pool's new drain state (it acts on it at its next heartbeat)",
                            ),
                            **_errors(401, 404, 503),
                        },
                    }
                }
                for action, summary in (
                    ("drain", "Drain a worker pool: it claims nothing more and finishes what runs"),
                    ("resume", "A draining worker pool serves again"),
                )
            },
            "/api/jobs/dead": {
                "get": {
                    "summary": "Dead jobs: ended in error with no retries left, newest first",
                    "parameters": [
                        _query("topic", {"type": "string"}, "only this topic"),
                        _query("circle_id", {"type": "string"}, "only jobs of this circle"),
                        _query("tenant_id", {"type": "string"}, "only jobs of this tenant"),
                        _query("user_id", {"type": "string"}, "only jobs of this user"),
                        _query("group", {"type": "string"}, "only jobs of this group"),
                        _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "page size"),
                        _query("before", {"type": "integer"}, "page: only jobs with a smaller id (next_before)"),
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "jobs": {"type": "array", "items": _ref("Job")},
                                    "total": {"type": "integer"},
                                    "next_before": {"type": ["integer", "null"]},
                                },
                                "required": ["jobs", "total", "next_before"],
                            },
                            "one page of dead jobs and how many there are",
                        ),
                        **_errors(400, 401, 503),
                    },
                }
            },
            "/api/jobs/dead/retry": {
                "post": {
                    "summary": "Queue every dead job again (or those of one topic)",
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {"topic": {"type": "string"}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "retried": {"type": "array", "items": {"type": "integer"}},
                                    "count": {"type": "integer"},
                                },
                                "required": ["retried", "count"],
                            },
                            "the ids queued again",
                        ),
                        **_errors(400, 401, 503),
                    },
                }
            },
            "/api/schedules": {
                "get": {
                    "summary": "Every schedule (config, run time, upkeep) with next and last run and its jobs",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "schedules": {"type": "array", "items": _ref("Schedule")},
                                    "leader": {"type": "string", "description": "the process firing schedules"},
                                },
                                "required": ["schedules", "leader"],
                            },
                            "schedules",
                        ),
                        **_errors(401, 503),
                    },
                },
                "post": {
                    "summary": "Add a schedule (stored as JSON; survives restarts)",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewSchedule")}}},
                    "responses": {
                        "201": {**_json(_ref("Schedule"), "the new schedule"), "links": SCHEDULE_LINKS},
                        **_errors(400, 401, 503),
                    },
                },
            },
            "/api/schedules/{name}": {
                "get": {
                    "summary": "One schedule",
                    "parameters": [SCHEDULE_NAME],
                    "responses": {"200": _json(_ref("Schedule"), "the schedule"), **schedule_ops},
                },
                "delete": {
                    "summary": "Remove a schedule made at run time (config and upkeep ones can only be paused)",
                    "parameters": [SCHEDULE_NAME],
                    "responses": {"204": {"description": "removed"}, **_errors(400, 401, 404, 503)},
                },
            },
            "/api/schedules/{name}/pause": {
                "post": {
                    "summary": "Pause a schedule: it makes no jobs until resumed",
                    "parameters": [SCHEDULE_NAME],
                    "responses": {"200": _json(_ref("Schedule"), "the schedule"), **schedule_ops},
                }
            },
            "/api/schedules/{name}/resume": {
                "post": {
                    "summary": "Resume a paused schedule",
                    "parameters": [SCHEDULE_NAME],
                    "responses": {"200": _json(_ref("Schedule"), "the schedule"), **schedule_ops},
                }
            },
            "/api/health": {
                "get": {
                    "summary": "Each service's state (no auth needed)",
                    "security": [],
                    "responses": {
                        "200": _json(_ref("Health"), "all services up"),
                        "503": _json(_ref("Health"), "a service is down or a background loop is failing"),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
                }
            },
        },
    }


def _health_schema() -> dict[str, Any]:
    states = {"type": "string", "enum": ["running", "stopped", "disabled", "down", "degraded"]}
    lines = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "services": {"type": "object", "additionalProperties": states},
            "problems": {**lines, "description": "why status is degraded: the part, the error, since when"},
            "notices": {**lines, "description": "worth a look, though all runs (events set aside, ...)"},
        },
        "required": ["status", "services", "problems", "notices"],
    }
