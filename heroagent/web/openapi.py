"""The OpenAPI 3.1 document of the JSON API (served at /api/openapi.json): its components, and the schemas of
the routes' bodies that the routes in api.py name in their declarations (`apidoc.documented`).

`openapi_document()` builds `paths` from those declarations through the url_map of the app serving the
request, so a route and its documentation change together. Importing this module needs no app or request.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, get_type_hints

from flask import Flask, current_app, has_app_context
from werkzeug.routing import Map

from heroagent import __version__
from heroagent.jobs.live.workflows import COUNTED
from heroagent.jobs.model import API_ALIASES, API_NAMES, Job, JobStatus
from heroagent.jobs.server.bulk import BULK_ACTIONS, BULK_BATCH
from heroagent.jobs.server.manager import TOPIC_ACTIONS
from heroagent.schema.fields import Field
from heroagent.schema.filters import DEAD_FILTERS, EVENT_FILTERS
from heroagent.schema.filters import JOB_FILTERS as FILTERS
from heroagent.schema.job import MAX_LOG_OFFSET, NEW_JOB
from heroagent.schema.schedule import SCHEDULE
from heroagent.schema.topic import TOPIC_LIMITS
from heroagent.web.apidoc import paths

BLUEPRINT = "api"  # the blueprint whose routes the document describes (api.py's)

# What a stored job's fields say beyond their names (the new job's own fields are described by NEW_JOB).
_JOB_NOTES = {
    "version": "which state of the job this is (1 = created)",
    "updated_at": "when this version was made (unix seconds)",
    "result": "what the job returned: a JSON value (HeroScript: the list of its actions' results; json: its "
    "action's; OpenRPC: the call's), or text (rhaiscript, ai, a skip's reason, a hero actor's answer); null: none",
    "result_type": "json or text: how result was stored ('' for jobs recorded before it was kept)",
    "action": "a json job's action (actor.action): the one it named, or its topic's handler when it was created",
    "progress": "0..1, as the running job last reported it",
    "worker": "the worker running it, or that ran it last",
    "depends_on": "the ids of the jobs it waits for (it starts when each has ended done or skipped)",
    "on_parent_failure": "what it does when a job it depends on ends otherwise: cancel, skip or run ('' = none)",
}
_KINDS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _job_schema() -> dict[str, Any]:
    """The OpenAPI `Job`, generated from the Job dataclass (every field, by its API name and type; the old
    wire names as deprecated aliases)."""
    hints = get_type_hints(Job)
    described = {f.name: f.description for f in NEW_JOB.fields}
    properties: dict[str, Any] = {}
    for item in fields(Job):
        wire = API_NAMES.get(item.name, item.name)
        hint = hints[item.name]
        prop: dict[str, Any]
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            prop = {"type": "string", "enum": [v.value for v in hint]}
        elif item.name == "depends_on":
            prop = {"type": "array", "items": {"type": "integer"}}
        else:
            prop = {"type": _KINDS[hint]}
        if wire == "result":
            prop = {}  # any JSON value
        note = _JOB_NOTES.get(wire) or described.get(item.name, "")
        if note:
            prop["description"] = note
        properties[wire] = prop
    properties["locked_by"] = {"type": "string", "description": "the worker holding the job now ('' unless it runs)"}
    properties["eta"] = {
        "type": ["number", "null"],
        "description": "GET /api/jobs/<id> only: when a waiting job is expected to start (unix seconds), an estimate "
        "from its place in its topic's queue, the topic's mean run time and the worker slots serving it; null "
        "when it does not wait or nothing says",
    }
    for old, name in API_ALIASES.items():
        properties[old] = {
            **{k: v for k, v in properties[name].items() if k != "description"},
            "deprecated": True,
            "description": f"the old name of {name} (the same value), sent until 0.2",
        }
    properties["progress"].update(minimum=0, maximum=1)
    properties["priority"].update(minimum=0, maximum=9)
    return {
        "type": "object",
        "properties": properties,
        "required": ["job_id", "topic", "params", "params_type", "status"],
    }


JOB_SCHEMA: dict[str, Any] = _job_schema()

NEW_JOB_SCHEMA: dict[str, Any] = NEW_JOB.json_schema()  # generated from the rules the manager enforces
NEW_SCHEDULE_SCHEMA: dict[str, Any] = SCHEDULE.json_schema()
NEW_SCHEDULE_SCHEMA["required"] = ["name", "topic", "params"]  # every run-time schedule makes jobs
_SCHEDULE_FIELDS: dict[str, Any] = NEW_SCHEDULE_SCHEMA["properties"]
# PUT /api/schedules/<name>: the whole new description; the name is the path's (given, it must be the same).
SCHEDULE_CHANGE_SCHEMA: dict[str, Any] = {**NEW_SCHEDULE_SCHEMA, "required": ["topic", "params"]}
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


def ref(name: str) -> dict[str, str]:
    """A reference to one of the document's component schemas."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A response with a JSON body of `schema`."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    400: "bad input; the message names the field",
    401: "missing or wrong bearer token",
    403: "refused: a browser page of another site (its Origin is not this server's)",
    404: "no such job, schedule, worker or topic (a topic action on one that has never had a job)",
    409: "the job's status does not allow this, or its topic is draining (takes no new jobs), or the "
    "idempotency_key names a job deleted meanwhile, or a topic to remove still has jobs",
    413: "the body is over the API's limit: 3 x [jobs] max_value_bytes + 64 KiB (params of max_value_bytes fit)",
    503: "Redis or the job system is down",
}


# One status, or several comma-separated: what a jobs list's `status` filter takes.
_ONE_STATUS = "(" + "|".join(s.value for s in JobStatus) + ")"
STATUS_LIST = f"^{_ONE_STATUS}(,{_ONE_STATUS})*$"


def error_response(status: int) -> dict[str, Any]:
    """The response of an error status a route declares (`errors=`): `{"error": "..."}`, see errors.py."""
    return json_response(ref("Error"), ERRORS[status])


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


LOG_OFFSET = query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_LOG_OFFSET}, "byte offset")
# Path parameters a route's converter cannot describe (the others come from the rule, see apidoc.openapi_path).
# A topic in a path: the same rule as a new job's topic (schema.job), so a client can check it first.
TOPIC_IN_PATH = {"name": "topic", "in": "path", "required": True, "schema": NEW_JOB_SCHEMA["properties"]["topic"]}
CREATE_TOPIC = query(
    "create",
    {"type": "boolean"},
    "act on a topic that has never had a job (to pause it before its first one); without it that is a 404",
)
TOPIC_ACTION = {
    "name": "action",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "enum": list(TOPIC_ACTIONS)},
}


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
    "job_id",
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
        "ReplaceSchedule": ("/api/schedules/{name}", "put"),
        "RunSchedule": ("/api/schedules/{name}/run", "post"),
    },
)
# POST /api/schedules/<name>/run: the job made now, and the schedule with it among its runs.
SCHEDULE_RUN = {
    "type": "object",
    "properties": {"job_id": {"type": "integer"}, "schedule": {"$ref": "#/components/schemas/Schedule"}},
    "required": ["job_id", "schedule"],
}


def _filter_parameter(f: Field) -> dict[str, Any]:
    schema = {k: v for k, v in f.json_schema().items() if k != "description"}
    if f.name == "status":
        schema["pattern"] = STATUS_LIST
    return query(f.name, schema, f.description)


# GET /api/jobs's parameters: the jobs list's filters (schema/filters.py), generated.
JOB_FILTERS = tuple(_filter_parameter(f) for f in FILTERS.fields)
DEAD_JOB_FILTERS = tuple(_filter_parameter(f) for f in FILTERS.fields if f.name in DEAD_FILTERS)  # GET /api/jobs/dead
# GET /api/events: its filters (schema/filters.py EVENT_FILTERS), and where to resume (what EventSource sends).
EVENT_PARAMS = (
    *(_filter_parameter(f) for f in EVENT_FILTERS.fields),
    query(
        "last_event_id",
        {"type": "string", "maxLength": 200},
        "where to start, as Last-Event-ID says (for a first connection that cannot send the header: a browser's "
        "EventSource); the header wins",
    ),
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": 200},
        "description": "the id of the last event seen (`<token>-<seq>`): the stream goes on right after it. An id "
        "of an earlier run of the server starts with a `reset` event, then every event still held",
    },
)
EVENT_STREAM = {
    "description": "text/event-stream, open until the server ends it (after 120 s; an EventSource connects again "
    "with Last-Event-ID by itself). Frames: `event: job` with data {job_id, version, topic, status, group, "
    "attempts, updated_at, error} (error: its first 200 characters, for error, timeout and canceled), one per "
    "recorded state change, in the history's order; `event: reset` with data {reason, missed} when events may "
    "have been missed (missed: how many, null when not known); a comment every 15 s; `id:` lines naming the place",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}
STREAMS_BUSY = {
    **json_response(
        ref("Error"),
        "every event stream slot is taken (Retry-After says when to try again), or Redis or the job system is down",
    ),
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds (when the slots are taken)"}},
}

# The bodies of the routes' answers (and of one request), named by the routes' declarations in api.py.
JOB_PAGE = {
    "type": "object",
    "properties": {"jobs": {"type": "array", "items": ref("Job")}, "next_before": {"type": ["integer", "null"]}},
    "required": ["jobs", "next_before"],
}
OLD_JOB_ID = {"type": "integer", "deprecated": True, "description": "the old name of job_id, sent until 0.2"}
JOB_HISTORY = {
    "type": "object",
    "properties": {
        "job_id": {"type": "integer"},
        "jobid": OLD_JOB_ID,
        "history": {"type": "array", "items": ref("Job")},
    },
}
JOB_LOG = {
    "type": "object",
    "properties": {
        "job_id": {"type": "integer"},
        "jobid": OLD_JOB_ID,
        "offset": {"type": "integer"},
        "next_offset": {"type": "integer"},
        "log": {"type": "string"},
    },
}
DEAD_JOB_PAGE = {
    "type": "object",
    "properties": {
        "jobs": {"type": "array", "items": ref("Job")},
        "total": {"type": "integer"},
        "next_before": {"type": ["integer", "null"]},
    },
    "required": ["jobs", "total", "next_before"],
}
RETRY_DEAD = {"type": "object", "additionalProperties": False, "properties": {"topic": {"type": "string"}}}
RETRIED = {
    "type": "object",
    "properties": {"retried": {"type": "array", "items": {"type": "integer"}}, "count": {"type": "integer"}},
    "required": ["retried", "count"],
}

# POST /api/jobs/bulk: the jobs by id, or by a filter of the jobs list (the same fields as GET /api/jobs's).
BULK_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["action"],
    "properties": {
        "action": {"type": "string", "enum": list(BULK_ACTIONS)},
        "ids": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1},
            "minItems": 1,
            "maxItems": BULK_BATCH,
            "description": "these jobs (give ids or filter)",
        },
        "filter": {
            "type": "object",
            "additionalProperties": False,
            "properties": {p["name"]: p["schema"] for p in JOB_FILTERS},
            "description": "the jobs this filter matches, newest first; `before` pages (the answer's "
            "next_before), `limit` sizes the batch",
        },
    },
}
BULK_DONE = {
    "type": "object",
    "properties": {
        "action": {"type": "string"},
        "done": {"type": "integer"},
        "skipped": {"type": "integer", "description": "jobs whose state did not allow the action (now)"},
        "skipped_ids": {"type": "array", "items": {"type": "integer"}},
        "left": {"type": "array", "items": {"type": "integer"}, "description": "ids given that time did not reach"},
        "next_before": {"type": ["integer", "null"], "description": "for a filter: its before for the next batch"},
    },
    "required": ["action", "done", "skipped", "skipped_ids", "left", "next_before"],
}


def _list_of(key: str, properties: dict[str, Any]) -> dict[str, Any]:
    """`{key: [{...properties}]}`: the body of a route listing things."""
    items = {"type": "object", "properties": properties}
    return {"type": "object", "properties": {key: {"type": "array", "items": items}}}


JOB_TYPES = _list_of(
    "types",
    {
        "name": {"type": "string"},
        "defaults": {"type": "object"},
        "own_defaults": {"type": "object"},
        "jobs": {"type": "integer"},
        "served": {"type": "boolean", "description": "a live worker pool serves it now"},
        "actions": {
            "type": "object",
            "description": "action name -> the JSON Schema of its params (from the actor's signature)",
            "additionalProperties": {"type": "object"},
        },
        "isolation": {"type": "string", "enum": ["thread", "process"]},
        "suspendable": {"type": "boolean"},
    },
)
WORKFLOW = {
    "type": "object",
    "properties": {
        "group": {"type": "string", "description": "the chain's or group's id (its jobs' group label)"},
        "jobs": {"type": "array", "items": ref("Job")},
        "on_complete": {"anyOf": [ref("Job"), {"type": "null"}], "description": "a group's callback job"},
    },
    "required": ["group", "jobs", "on_complete"],
}
NEW_CHAIN = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "jobs": {"type": "array", "items": ref("NewJob"), "minItems": 1, "description": "run in this order"},
        "group": {"type": "string", "description": "its id (default: a new one, g-<hex>)"},
    },
    "required": ["jobs"],
}
NEW_GROUP = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "jobs": {"type": "array", "items": ref("NewJob"), "minItems": 1, "description": "run side by side"},
        "on_complete": {**ref("NewJob"), "description": "runs once, when every job has ended (after retries)"},
        "group": {"type": "string", "description": "its id (default: a new one, g-<hex>)"},
    },
    "required": ["jobs"],
}
_COUNT = {"type": "integer"}
GROUP_SUMMARY = {
    "type": "object",
    "properties": {
        "group": {"type": "string"},
        "total": _COUNT,
        "running": _COUNT,
        "ended": _COUNT,
        **{status: _COUNT for status in COUNTED},
        "on_complete": {
            "type": ["object", "null"],
            "properties": {"job_id": _COUNT, "status": {"type": "string"}},
        },
    },
    "required": ["group", "total", "running", "ended", "on_complete"],
}
JOB_GROUPS = _list_of(
    "groups", {"group": {"type": "string"}, "jobs": {"type": "integer"}, "by_status": {"type": "object"}}
)
QUEUES = _list_of(
    "queues",
    {
        "topic": {"type": "string"},
        "queued": {"type": "integer"},
        "inflight": {"type": "integer"},
        "scheduled": {"type": "integer"},
        "paused": {"type": "boolean"},
        "draining": {"type": "boolean"},
        "max_running": {"type": ["integer", "null"]},
        "rate": {"type": ["string", "null"]},
        "oldest_wait": {"type": "integer", "description": "seconds its oldest queued job has waited (0: none queued)"},
        "paused_why": {"type": "string", "description": "why it paused itself (pause_on_error); '' otherwise"},
        "finished": {"type": "integer", "description": "jobs that ended in the last 10 minutes (as this server saw)"},
        "failed": {"type": "integer", "description": "of those, ended in error or timeout"},
    },
)
TOPIC_STATE = {
    "type": "object",
    "properties": {
        "topic": {"type": "string"},
        "paused": {"type": "boolean"},
        "draining": {"type": "boolean"},
        "canceled": {"type": "integer"},
        "stopping": {"type": "integer"},
    },
    "required": ["topic", "paused", "draining"],
}
TOPIC_LIMITS_BODY = TOPIC_LIMITS.json_schema()
TOPIC_LIMITS_STATE = {
    "type": "object",
    "properties": {
        "topic": {"type": "string"},
        "paused": {"type": "boolean"},
        "draining": {"type": "boolean"},
        "max_running": {"type": ["integer", "null"]},
        "rate": {"type": ["string", "null"]},
    },
}
WORKERS = _list_of(
    "workers",
    {
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
)
WORKER_DRAIN = {"type": "object", "properties": {"id": {"type": "string"}, "draining": {"type": "string"}}}
SCHEDULE_LIST = {
    "type": "object",
    "properties": {
        "schedules": {"type": "array", "items": ref("Schedule")},
        "leader": {"type": "string", "description": "the process firing schedules"},
    },
    "required": ["schedules", "leader"],
}


def openapi_document(job_types: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The document, its `paths` from the declarations of the routes the current app serves; outside an app
    context (a script, a test), from the API blueprint's routes alone. `job_types` (actor -> its published
    type) add each action's params schema as `JobType.<actor>.<action>`: what a job's HeroScript may pass."""
    url_map, views = _routes()
    document: dict[str, Any] = {
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
                "ScheduleChange": SCHEDULE_CHANGE_SCHEMA,
            },
        },
        "paths": paths(url_map, views, BLUEPRINT, error_response),
    }
    schemas = document["components"]["schemas"]
    for actor, info in sorted((job_types or {}).items()):
        for action, schema in sorted(info.get("actions", {}).items()):
            if isinstance(schema, dict):
                described = f"the params of !!{actor}.{action} (from its signature)"
                schemas[f"JobType.{actor}.{action}"] = {"description": described, **schema}
    return document


def _routes() -> tuple[Map, Mapping[str, Callable[..., Any]]]:
    """The url_map and views of the current app, or of an app holding only the API blueprint."""
    if has_app_context():
        return current_app.url_map, current_app.view_functions
    from heroagent.web.api import bp  # here, not at the top: api.py imports this module for its declarations

    app = Flask(__name__)
    app.register_blueprint(bp)
    return app.url_map, app.view_functions


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
