"""Chains and groups: several new jobs made into one create call whose jobs depend on each other.

Nothing here runs anything: a chain is specs where each depends on the one before ('@N' references, see
lua/create.lua), a group is specs and a callback job that depends on every member with
on_parent_failure = "run". Redis does the rest in the scripts that end jobs (common.lua's
settle_dependents): the callback is released once, when the last member has ended after its retries, with
every member's outcome in its ctx.parent_results. No loop polls; a crash of any process changes nothing,
because the waiting is state in Redis, written in the same script as the members' ends.

The jobs of a chain or group carry its id in their `group` label (a chain's or group's counts, the
dashboard's graph); a group's callback carries `<group>:on_complete`, so it is not counted as a member.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from heroagent.jobs.errors import InvalidJobError
from heroagent.jobs.model import RUNNING, TERMINAL, Job, JobStatus
from heroagent.schema.fields import MAX_REFS

ON_COMPLETE = ":on_complete"  # the callback's group label: "<group>:on_complete"
MAX_GROUP_ID_BYTES = 200


@dataclass
class Workflow:
    """A chain or group as made: its id (the jobs' group label), its jobs in order, and a group's callback."""

    group: str
    jobs: list[Job]
    on_complete: Job | None = None
    created: list[bool] = field(default_factory=list)  # per job: made now (False: its idempotency key's job)

    def to_api(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "jobs": [job.to_api() for job in self.jobs],
            "on_complete": self.on_complete.to_api() if self.on_complete else None,
        }


def new_group_id() -> str:
    return "g-" + secrets.token_hex(8)


def _group_id(group: str | None) -> str:
    if group is None or group == "":
        return new_group_id()
    if not isinstance(group, str) or len(group.encode()) > MAX_GROUP_ID_BYTES or not group.isprintable():
        raise InvalidJobError(
            f"group: {str(group)[:80]!r} must be printable text of at most {MAX_GROUP_ID_BYTES} bytes"
        )
    if group.endswith(ON_COMPLETE):
        raise InvalidJobError(f"group: {group[:80]!r}: names ending in {ON_COMPLETE!r} are kept for group callbacks")
    return group


def _specs(specs: Any, what: str) -> list[dict[str, Any]]:
    if isinstance(specs, str | bytes) or not isinstance(specs, Sequence) or not specs:
        raise InvalidJobError(f"{what}: must be a non-empty list of jobs (each as create_job takes it)")
    if len(specs) > MAX_REFS:
        raise InvalidJobError(f"{what}: {len(specs)} jobs is over the limit of {MAX_REFS}")
    out = []
    for index, spec in enumerate(specs):
        if not isinstance(spec, Mapping):
            raise InvalidJobError(f"{what}[{index}]: must be a job (an object with topic, params...)")
        if spec.get("group") not in (None, ""):
            raise InvalidJobError(
                f"{what}[{index}].group: a chain's or group's jobs carry its id as their group; leave it out "
                "(to name the chain or group, give group=... to chain() or group())"
            )
        out.append(dict(spec))
    return out


def chain_specs(specs: Sequence[Mapping[str, Any]], group: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """A chain's specs: each waits for the one before it (besides what it names itself)."""
    gid = _group_id(group)
    out = _specs(specs, "jobs")
    for index, spec in enumerate(out):
        spec["group"] = gid
        if index:
            spec["depends_on"] = [*_given_refs(spec, index), f"@{index - 1}"]
    return gid, out


def group_specs(
    specs: Sequence[Mapping[str, Any]], on_complete: Mapping[str, Any] | None, group: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """A group's specs: the members, then (when given) the callback, which waits for every member and runs
    whatever they ended as."""
    gid = _group_id(group)
    out = _specs(specs, "jobs")
    for index, spec in enumerate(out):
        spec["group"] = gid
        _given_refs(spec, index)
    if on_complete is not None:
        callback = _specs([on_complete], "on_complete")[0]
        for name in ("depends_on", "on_parent_failure"):
            if callback.get(name) not in (None, "", []):
                raise InvalidJobError(f"on_complete.{name}: a group's callback waits for its members; leave it out")
        callback["group"] = gid + ON_COMPLETE
        callback["depends_on"] = [f"@{index}" for index in range(len(out))]
        callback["on_parent_failure"] = "run"
        out.append(callback)
    return gid, out


def _given_refs(spec: Mapping[str, Any], index: int) -> list[Any]:
    """The depends_on a chain or group member names itself: ids, or '@N' of an earlier member."""
    given = spec.get("depends_on") or []
    if isinstance(given, str):
        given = [part for part in given.split(",") if part.strip()]
    if not isinstance(given, list | tuple):
        raise InvalidJobError(f"jobs[{index}].depends_on: must be a list of job ids or '@N'")
    return list(given)


def workflow(gid: str, made: list[tuple[Job, bool]], with_callback: bool) -> Workflow:
    jobs = [job for job, _ in made]
    callback = jobs.pop() if with_callback else None
    return Workflow(gid, jobs, callback, [created for _, created in made])


def group_summary(gid: str, counts: Mapping[str, int], on_complete: Job | None) -> dict[str, Any]:
    """GET /api/groups/<id>: the members counted by status (total, and each status, running = held by a
    worker now), and the callback's id and status."""
    running = sum(n for status, n in counts.items() if status in _RUNNING)
    return {
        "group": gid,
        "total": sum(counts.values()),
        "running": running,
        **{status: counts.get(status, 0) for status in COUNTED},
        "ended": sum(counts.get(status, 0) for status in _ENDED),
        "on_complete": None if on_complete is None else {"job_id": on_complete.job_id, "status": on_complete.status},
    }


# A summary's counts: every status a job holds no worker in (waiting, new, and the final ones) by name,
# the ones a worker holds (model.RUNNING) together as "running", the final ones (model.TERMINAL) as "ended".
COUNTED = tuple(status.value for status in JobStatus if status not in RUNNING)
_RUNNING = frozenset(status.value for status in RUNNING)
_ENDED = frozenset(status.value for status in TERMINAL)


def make_chain(submit: Any, specs: Sequence[Mapping[str, Any]], group: str | None = None) -> Workflow:
    """`chain` for a creator whose `submit(specs)` creates jobs all or none (JobManager, JobClient)."""
    gid, made = chain_specs(specs, group)
    return workflow(gid, submit(made), with_callback=False)


def make_group(
    submit: Any, specs: Sequence[Mapping[str, Any]], on_complete: Mapping[str, Any] | None, group: str | None = None
) -> Workflow:
    """`group` for a creator whose `submit(specs)` creates jobs all or none (JobManager, JobClient)."""
    gid, made = group_specs(specs, on_complete, group)
    return workflow(gid, submit(made), with_callback=on_complete is not None)
