"""The jobs list's filters are one vocabulary (issue 26, item 6): Python's keyword arguments, the API's
query parameters, the CLI's options and the OpenAPI document all take schema/filters.py's names."""

from __future__ import annotations

import inspect

import pytest

from heroagent.cli import cli
from heroagent.jobs.errors import InvalidJobError
from heroagent.jobs.live.operations import JobOperations
from heroagent.schema.filters import DEAD_FILTERS, FILTER_NAMES
from heroagent.web.jobquery import PARAMETERS, JobQuery
from heroagent.web.openapi import DEAD_JOB_FILTERS, JOB_FILTERS


def test_python_the_api_the_cli_and_the_document_take_the_same_filter_names() -> None:
    python = set(inspect.signature(JobOperations.list_jobs).parameters) - {"self"}
    api = set(PARAMETERS)
    document = {p["name"] for p in JOB_FILTERS}
    listing = cli.commands["job"].commands["list"]  # type: ignore[attr-defined]
    options = {p.name for p in listing.params} - {"config_path", "as_json"}
    assert python == api == document == options == set(FILTER_NAMES), (python, api, document, options)
    assert {p.opts[0] for p in listing.params if p.name == "circle_id"} == {"--circle-id"}


def test_the_dead_jobs_list_takes_the_same_names_for_what_it_takes() -> None:
    python = set(inspect.signature(JobOperations.list_dead).parameters) - {"self"}
    dead = cli.commands["job"].commands["dead"].commands["list"]  # type: ignore[attr-defined]
    options = {p.name for p in dead.params} - {"config_path", "as_json"}
    assert python == options == {p["name"] for p in DEAD_JOB_FILTERS} == set(DEAD_FILTERS)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({"limit": "0"}, "limit: 0 must be at least 1"),
        ({"limit": "501"}, "limit: 501 must be at most 500"),
        ({"limit": "ten"}, "limit: 'ten' must be a whole number"),
        ({"circle": "a"}, "circle: not a filter of the jobs list"),
        ({"q": "a"}, "q: not a filter of the jobs list"),
        ({"status": "dead"}, "status: 'dead' is not one of"),
        ({"tenant_id": "t" * 300}, "tenant_id: 300 bytes is over the limit of 256 bytes"),
    ],
)
def test_a_bad_filter_is_refused_naming_it(args: dict[str, str], says: str) -> None:
    with pytest.raises(InvalidJobError) as refused:
        JobQuery.from_args(args)
    assert says in str(refused.value)


def test_a_query_string_round_trips() -> None:
    query = JobQuery.from_args({"status": "error,timeout", "text": "disk", "before": "40", "circle_id": "c"})
    assert query.args() == {"status": "error,timeout", "text": "disk", "before": 40, "circle_id": "c"}
    assert JobQuery.from_args({k: str(v) for k, v in query.args().items()}) == query
