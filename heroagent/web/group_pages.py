"""A chain's or group's page (issue 29, item 6): its progress and a small graph of its jobs.

The graph is layers, top to bottom: a job's layer is one more than the deepest of its parents inside the
group (a chain is one job per layer, a group its members then its callback, a diamond 1-2-1). Each job is
a chip with its id and status, linking to its page, saying which jobs it waits for. Layers wrap, so a
group of 100 fits a phone without a horizontal scroll; no script draws it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, render_template

from heroagent.jobs.live.workflows import ON_COMPLETE
from heroagent.jobs.model import Job, JobStatus
from heroagent.web.context import current_manager

bp = Blueprint("groups", __name__)

MAX_GRAPH_JOBS = 1000  # a group's jobs drawn (a group has at most 1,000 members and its callback)


@dataclass(frozen=True)
class Chip:
    job: Job
    waits_for: tuple[int, ...]  # the parents inside the group


def layers(jobs: list[Job]) -> list[list[Chip]]:
    """The jobs by layer: 0 = no parent inside the group; else one more than its deepest parent's."""
    by_id = {job.job_id: job for job in jobs}
    depth: dict[int, int] = {}
    for job in sorted(jobs, key=lambda j: j.job_id):  # a parent always has a lower id than its child
        inside = [p for p in job.depends_on if p in by_id]
        depth[job.job_id] = 1 + max((depth.get(p, 0) for p in inside), default=-1)
    out: list[list[Chip]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for job in sorted(jobs, key=lambda j: j.job_id):
        out[depth[job.job_id]].append(Chip(job, tuple(p for p in job.depends_on if p in by_id)))
    return out


def group_data(group: str) -> dict[str, Any]:
    jm = current_manager()
    summary = jm.get_group(group)
    jobs = jm.list_jobs(group=group, limit=MAX_GRAPH_JOBS) + jm.list_jobs(group=group + ON_COMPLETE, limit=1)
    callback = summary["on_complete"]
    live = summary["ended"] < summary["total"] or (callback is not None and not JobStatus(callback["status"]).terminal)
    return {"group": group, "summary": summary, "layers": layers(jobs), "live": live, "shown": len(jobs)}


@bp.get("/groups/<path:group>")
def group_page(group: str) -> str:
    return render_template("group.html", **group_data(group))


@bp.get("/partials/groups/<path:group>")
def group_partial(group: str) -> str:
    return render_template("_group.html", **group_data(group))
