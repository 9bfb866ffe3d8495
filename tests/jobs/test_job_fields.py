"""Every edge offers every field of a job (issue 26, item 6): a field added to the job and missed by an
edge fails here. The rules of a new job (schema/job.py NEW_JOB) are the one description; the model,
the OpenAPI document, the CLI and the Python signatures are held to it."""

from __future__ import annotations

import inspect

from heroagent.cli import cli
from heroagent.jobs.live.operations import JobOperations
from heroagent.jobs.model import Job
from heroagent.schema.job import NEW_JOB
from heroagent.web.openapi import JOB_SCHEMA, NEW_JOB_SCHEMA

NEW_FIELDS = {f.name for f in NEW_JOB.fields}
# What a creator may not set from the CLI: `origin` is set by the hero intake (who made the job).
NOT_ON_THE_CLI = {"origin"}
CLI_NAMES = {"log": "keep_log"}  # the option's Python name where it differs from the field


def test_the_openapi_job_names_every_field_a_job_carries() -> None:
    carried = set(Job("t", "p").to_api()) | {"eta"}  # eta: a single job's read adds it
    assert carried == set(JOB_SCHEMA["properties"]), carried ^ set(JOB_SCHEMA["properties"])


def test_the_openapi_new_job_is_the_new_job_rules() -> None:
    assert set(NEW_JOB_SCHEMA["properties"]) == NEW_FIELDS


def test_job_submit_has_an_option_for_every_field_of_a_new_job() -> None:
    submit = cli.commands["job"].commands["submit"]  # type: ignore[attr-defined]
    options = {p.name for p in submit.params}
    missing = {f for f in NEW_FIELDS - NOT_ON_THE_CLI if CLI_NAMES.get(f, f) not in options}
    assert not missing, f"heroagent job submit has no option for {sorted(missing)}"


def test_create_job_takes_every_field_of_a_new_job_by_name() -> None:
    taken = set(inspect.signature(JobOperations.create_job).parameters) - {"self"}
    missing = NEW_FIELDS - taken - {"origin"}
    assert not missing, f"create_job has no argument for {sorted(missing)}"
