"""The jobs list's bulk actions (issue 30, item 2): retry, cancel or delete the jobs ticked on the list, or all
that match its filter ("Delete all dead" is the dead jobs' filter).

One route, three steps, no script of ours: the list's form posts here and gets a confirmation naming the count;
the confirmation posts one batch (`JobManager.bulk_jobs`: at most 500 jobs, bounded time); while jobs are left,
the answer is a progress form that htmx posts again as soon as it is shown (`hx-trigger="load"`; without
htmx its Continue button does it). The last batch redirects to the list the user came from, filters kept,
with the totals as a flashed notice (shown above the list, so its refresh does not wipe it).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from heroagent.jobs.errors import InvalidJobError
from heroagent.jobs.server.bulk import MAX_JOB_ID, check_action, check_filters, check_ids, count_matching
from heroagent.schema.filters import FILTER_NAMES
from heroagent.web.context import current_manager
from heroagent.web.jobquery import JobQuery
from heroagent.web.present import is_htmx

bp = Blueprint("bulk", __name__)

FILTER_FIELDS = tuple(n for n in FILTER_NAMES if n not in ("limit", "before"))  # what "all matching" keeps
WORDS = {  # action -> (the button, done, going on)
    "retry": ("Retry", "Queued again", "Retrying"),
    "cancel": ("Cancel", "Canceled", "Canceling"),
    "delete": ("Delete", "Deleted", "Deleting"),
}


def _whole(name: str, raw: str, top: int = MAX_JOB_ID) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > top:
        raise InvalidJobError(f"{name}: {raw[:40]!r} must be a whole number from 0 to {top}")
    return int(raw)


def _back() -> str:
    """The list to land on: the jobs list with the filters the form came from (checked, its page dropped)."""
    raw = request.form.get("back", "")
    query = JobQuery.from_args(MultiDict(parse_qsl(raw[:4000])))
    return url_for("pages.jobs", **query.args(before=None))


def _selection() -> tuple[list[int] | None, dict[str, Any] | None]:
    """(ids, None) for the jobs ticked on the list, or (None, filter) for "all matching"."""
    if request.form.get("all"):
        given = {name: request.form.get(name, "").strip() for name in FILTER_FIELDS}
        return None, check_filters({k: v for k, v in given.items() if v})
    raw = request.form.getlist("ids")
    if not raw:
        raise InvalidJobError("ids: no job selected: tick the jobs on the list, or all matching")
    return check_ids([_whole("ids", r.strip()) for r in raw[:100_000]]), None


def _describe(filters: dict[str, Any] | None) -> str:
    """'matching status error,timeout, topic flaky' / 'selected on the list'."""
    if filters is None:
        return "selected on the list"
    shown = ", ".join(f"{k.replace('_id', '')} {v}" for k, v in filters.items() if k in FILTER_FIELDS)
    return f"matching {shown}" if shown else "(every job there is)"


@bp.post("/jobs/bulk")
def bulk() -> str | tuple[str, int] | BaseResponse:
    action = check_action(request.form.get("action", ""))
    back = _back()
    ids, filters = _selection()
    state: dict[str, Any] = {
        "action": action,
        "words": WORDS[action],
        "back": request.form.get("back", "")[:4000],
        "back_url": back,
        "ids": ids,
        "filters": filters,
        "described": _describe(filters),
    }
    if request.form.get("confirm") != "yes":
        total = len(ids) if ids is not None else count_matching(current_manager(), filters or {})
        return _render(state, total=total, done=0, skipped=0, before=None, running=False)
    done = _whole("done", request.form.get("done", "0"))
    skipped = _whole("skipped", request.form.get("skipped", "0"))
    total = _whole("total", request.form.get("total", "0"))
    before = request.form.get("before", "")
    if filters is not None and before:
        filters = {**filters, "before": _whole("before", before)}
    answer = current_manager().bulk_jobs(action, ids, filters)
    done, skipped = done + answer["done"], skipped + answer["skipped"]
    if answer["left"] or answer["next_before"] is not None:
        state["ids"] = answer["left"] or None
        return _render(state, total=total, done=done, skipped=skipped, before=answer["next_before"], running=True)
    flash(
        f"{WORDS[action][1]} {done} job{'' if done == 1 else 's'}"
        + (f"; {skipped} skipped (their state did not allow it)." if skipped else ".")
    )
    if is_htmx():
        return Response("", 200, headers={"HX-Redirect": back})
    return redirect(back, code=303)


def _render(state: dict[str, Any], **progress: Any) -> str:
    context = {**state, **progress}
    return render_template("_bulk.html" if is_htmx() else "bulk.html", **context)
