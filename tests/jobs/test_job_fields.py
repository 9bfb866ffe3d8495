"""Every edge offers every field of a job (issue 26, item 6): a field added to the job and missed by an
edge fails here. The rules of a new job (schema/job.py NEW_JOB) are the one description; the model,
the OpenAPI document, the CLI and the Python signatures are held to it."""

from __future__ import annotations

import inspect
from pathlib import Path

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


# A new job's fields that are not kept under their own name: when the job runs is `time_scheduled`.
INPUT_ONLY = {"delay", "run_at"}
# The names job JSON had before it took the create's names, sent beside them for one release (0.1.x).
OLD_NAMES = {
    "jobid": "job_id",
    "sessionkey": "session_key",
    "circleid": "circle_id",
    "idempotencykey": "idempotency_key",
    "tenantid": "tenant_id",
    "userid": "user_id",
}


def squashed(name: str) -> str:
    return name.replace("_", "").lower()


def test_a_job_read_back_has_the_names_a_create_takes() -> None:
    """Issue 30, item 6: what GET /api/jobs/<id>, the lists, `--json` and Job.to_api() give has each field under
    the name a create takes it by; a read name that is another spelling of a create name fails here."""
    read = Job("t", "p").to_api()
    missing = sorted(NEW_FIELDS - INPUT_ONLY - set(read))
    assert not missing, f"job JSON has no {missing}: read them back under the name a create takes"
    by_squashed = {squashed(name): name for name in NEW_FIELDS | {"job_id"}}
    spelled_otherwise = {
        key: by_squashed[squashed(key)]
        for key in read
        if squashed(key) in by_squashed and key != by_squashed[squashed(key)] and key not in OLD_NAMES
    }
    assert not spelled_otherwise, f"read name -> create name: {spelled_otherwise}"


def test_the_old_names_are_aliases_of_the_new_for_one_release() -> None:
    job = Job("t", "p", job_id=7, session_key="s", circle_id="c", idempotency_key="k", tenant_id="a", user_id="u")
    read = job.to_api()
    assert {old: read[old] for old in OLD_NAMES} == {old: read[new] for old, new in OLD_NAMES.items()}
    assert read["job_id"] == 7 and read["circle_id"] == "c" and read["idempotency_key"] == "k"
    for old, new in OLD_NAMES.items():
        alias = JOB_SCHEMA["properties"][old]
        assert alias.get("deprecated") is True and new in alias["description"], old
        assert JOB_SCHEMA["properties"][new].get("deprecated") is not True


def test_the_readme_documents_the_aliases() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    note = readme[readme.index("**Deprecated aliases:**") :][:600]
    assert all(f"`{old}`" in note for old in OLD_NAMES if old != "jobid") and "`jobid`" in note and "0.2" in note
