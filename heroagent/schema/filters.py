"""The filters of a jobs list: one vocabulary for every edge (issue 26, item 6).

`JobManager.list_jobs` and `JobClient.list_jobs` take these names as keyword arguments, `GET /api/jobs`
and the jobs page as query parameters, `heroagent job list` as options (`--circle-id`...), and the
OpenAPI document's parameters are generated from here. A job's labels are filtered by the names the job
carries them under (`circle_id`, not `circle`); tests/schema/test_filters.py holds every edge to it.
"""

from __future__ import annotations

from heroagent.schema.fields import Field, Schema

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

JOB_FILTERS = Schema(
    "filter",
    (
        Field("status", "string", "only this status, or these: comma-separated (error,timeout)", max_bytes=200),
        Field("topic", "string", "only this topic", max_bytes=128),
        Field("text", "string", 'words of the id, params, result or error; "a phrase"', max_bytes=1000),
        # A page over HTTP and the CLI is at most MAX_LIMIT jobs; Python's list_jobs takes any size.
        Field("limit", "integer", "page size", minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT),
        Field("before", "integer", "page: only jobs with a smaller id (the last page's next_before)"),
        Field("circle_id", "string", "only jobs of this circle", max_bytes=256),
        Field("tenant_id", "string", "only jobs of this tenant", max_bytes=256),
        Field("user_id", "string", "only jobs of this user", max_bytes=256),
        Field("group", "string", "only jobs of this group", max_bytes=256),
    ),
)
FILTER_NAMES = tuple(JOB_FILTERS.names())
LABEL_FILTERS = ("circle_id", "tenant_id", "user_id", "group")  # the job's own labels
DEAD_FILTERS = ("topic", "limit", "before")  # what the dead jobs' list takes (its status is set)

# The live event stream's filters (`GET /api/events`, `heroagent job watch`): the jobs list's words where
# they mean the same, and `job` for one job's events. An event is kept when it matches every one given.
EVENT_FILTERS = Schema(
    "filter",
    (
        JOB_FILTERS.field("topic"),
        Field("job", "integer", "only this job's events (its id)", minimum=1, maximum=2**63 - 1),
        JOB_FILTERS.field("group"),
        JOB_FILTERS.field("status"),
    ),
)
